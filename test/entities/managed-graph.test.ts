/**
 * Reads build a run's entity graph directly from its row when the unit of work does not hold it
 * (sql/select-graph.ts), and through MikroORM's entity factory when it does. Either way the caller
 * gets the same managed graph: same values, same snapshots, and a flush that writes exactly what
 * the caller changed afterwards.
 */
import { helper, type EntityManager } from '@mikro-orm/core';
import { RunObject } from '../../src/entities/run-object.entity';
import { RunTool } from '../../src/entities/collections.entity';
import { RunToolCall, RunUsage } from '../../src/entities/parts.entity';
import { RUN_POPULATE } from '../../src/entities/run-object.entity';
import { apiRunV2, apiRunWithEveryPart, asStored, toolCall, uid } from '../factories';
import { recordingOrm } from '../support/recording-orm';
import { countAllRows } from '../support/row-counts';
import { useTestDatabase } from '../support/test-database';

const db = useTestDatabase();

/** A run with every part, three tools, metadata and sampling values. */
const fullRun = () =>
  apiRunWithEveryPart({
    started_at: 1_716_000_001,
    required_action: { type: 'submit_tool_outputs', submit_tool_outputs: { tool_calls: [toolCall(1, '{"i":1}'), toolCall(2, '{"i":2}')] } },
    tools: [{ type: 'code_interpreter' }, { type: 'function', function: { name: 'f', parameters: { type: 'object' } } }, { type: 'file_search', file_search: { max_num_results: 3 } }],
    metadata: { a: 'b' },
    temperature: 0.7,
    top_p: 0.1,
  });

/** Every entity of the graph, in a fixed order, with its class name. */
function graphOf(run: RunObject): object[] {
  const parts = [run.requiredAction, run.lastError, run.incompleteDetails, run.usage, run.truncationStrategy, run.toolChoice, run.responseFormat];
  return [
    run,
    ...parts.filter((p) => p !== null),
    ...(run.requiredAction?.toolCalls.getItems() ?? []),
    ...run.tools.getItems(),
    ...run.fileIds.getItems(),
  ];
}

/** What the unit of work knows of each entity: class, snapshot, managed, in the identity map. */
function stateOf(em: EntityManager, run: RunObject) {
  const uow = em.getUnitOfWork();
  return graphOf(run).map((entity) => {
    const wrapped = helper(entity);
    return {
      class: entity.constructor.name,
      snapshot: wrapped.__originalEntityData,
      managed: wrapped.__managed,
      initialized: wrapped.isInitialized(),
      held: uow.getById(entity.constructor.name, wrapped.getPrimaryKey() as string) === entity,
    };
  });
}

it('a directly built graph is what the ORM builds: values, snapshots, managed state', async () => {
  const api = fullRun();
  await db.runs().importRun(api);

  const direct = db.em();
  const built = await direct.getRepository(RunObject).getById(api.id);
  const populated = db.em();
  const viaOrm = await populated.findOneOrFail(RunObject, { id: api.id }, { populate: RUN_POPULATE });

  expect(built.toJSON()).toEqual(viaOrm.toJSON());
  expect(built.toJSON()).toEqual(asStored(api));
  expect(stateOf(direct, built)).toEqual(stateOf(populated, viaOrm));
  expect(graphOf(built)).toHaveLength(1 + 7 + 2 + 3 + 3);
  for (const em of [direct, populated]) {
    const uow = em.getUnitOfWork();
    uow.computeChangeSets();
    expect(uow.getChangeSets()).toHaveLength(0);
  }
  // the same run read again in that unit of work is the same object
  expect(await direct.findOne(RunObject, api.id)).toBe(built);
  expect(await direct.getRepository(RunObject).getById(api.id)).toBe(built);
});

it('a directly built graph flushes only what the caller changes, collections and parts included', async () => {
  const api = fullRun();
  await db.runs().importRun(api);
  const { orm, statements: queries } = await recordingOrm(db);
  try {
    const em = orm.em.fork();
    const run = await em.getRepository(RunObject).getById(api.id);
    queries.length = 0;
    await em.flush();
    expect(queries.filter((q) => /^(insert|update|delete)/i.test(q))).toEqual([]);

    run.metadata = { a: 'c' };
    run.tools.getItems()[2].fileSearch = { max_num_results: 4 };
    const tool = new RunTool();
    Object.assign(tool, { run, position: 3, type: 'retrieval' });
    run.tools.add(tool);
    run.fileIds.remove(run.fileIds.getItems()[0]);
    const oldUsage = run.usage!.id;
    run.usage = Object.assign(new RunUsage(), { promptTokens: 7, completionTokens: 8, totalTokens: 15 });
    run.requiredAction!.toolCalls.getItems()[1].functionArguments = '{"changed":true}';
    const before = await countAllRows(db);
    queries.length = 0;
    await em.flush();
    const writes = queries.filter((q) => /^(insert|update|delete)/i.test(q));
    expect(writes.filter((q) => /^update "run_object"/i.test(q))).toHaveLength(1);
    expect(writes.filter((q) => /^insert into "run_tool"/i.test(q))).toHaveLength(1);
    expect(writes.filter((q) => /^delete from "run_file_id"/i.test(q))).toHaveLength(1);
    expect(writes.some((q) => /^update "run_tool_call"/i.test(q))).toBe(true);

    const after = await countAllRows(db);
    expect(after.run_tool).toBe(before.run_tool + 1);
    expect(after.run_file_id).toBe(before.run_file_id - 1);
    expect(after.run_usage).toBe(before.run_usage);
    expect(await db.sql('select 1 from run_usage where id = $1', [oldUsage])).toHaveLength(0);

    const back = (await db.runs().getById(api.id)).toJSON();
    expect(back.metadata).toEqual({ a: 'c' });
    expect(back.tools).toEqual([...api.tools.slice(0, 2), { type: 'file_search', file_search: { max_num_results: 4 } }, { type: 'retrieval' }]);
    expect(back.file_ids).toEqual(['file-2', 'file-3']);
    expect(back.usage).toEqual({ prompt_tokens: 7, completion_tokens: 8, total_tokens: 15 });
    expect(back.required_action!.submit_tool_outputs.tool_calls[1].function.arguments).toBe('{"changed":true}');
  } finally {
    await orm.close(true);
  }
});

it('a run the unit of work holds is refreshed in place, a run it does not is built anew, in one page', async () => {
  const thread = uid('thread');
  const older = apiRunV2({ thread_id: thread, status: 'completed', completed_at: 1_716_000_100, expires_at: null, created_at: 1_716_000_000 });
  const newer = apiRunV2({ thread_id: thread, created_at: 1_716_000_050 });
  await db.runs().importRun(older);
  await db.runs().importRun(newer);
  const em = db.em();
  const repo = em.getRepository(RunObject);
  const held = await repo.getById(older.id);
  const heldCall = held.requiredAction; // none: completed
  expect(heldCall).toBeNull();
  await db.sql(`update run_object set metadata = '{"changed":"yes"}' where id = $1`, [older.id]);

  const page = await repo.listByThread(thread);
  expect(page.data.map((r) => r.id)).toEqual([newer.id, older.id]);
  expect(page.data[1]).toBe(held);
  expect(held.metadata).toEqual({ changed: 'yes' });
  expect(page.data[0].toJSON()).toEqual(newer);
  expect(em.getUnitOfWork().getById(RunObject.name, newer.id)).toBe(page.data[0]);
  // tool calls of a run built directly point back at their action
  await db.runs().start(newer.id);
  const withCalls = await db.runs().requireAction(newer.id, [toolCall(1)]);
  const call = withCalls.requiredAction!.toolCalls.getItems()[0];
  expect(call).toBeInstanceOf(RunToolCall);
  expect(call.requiredAction).toBe(withCalls.requiredAction);
});
