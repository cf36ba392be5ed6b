/**
 * What a store read or transition hands out is what MikroORM itself builds when it loads the same
 * run with every relation (`em.find(RunObject, …, { populate: ['*'] })` on a fresh fork): the same
 * subscriber events, the same `wrap(run).toObject()` and `serialize(run, …)`, one instance per
 * identity in the caller's unit of work, and MikroORM's merge rules for a run the caller holds
 * (with the two documented differences of repositories/unit-of-work.ts).
 */
import { helper, serialize, wrap, type EntityManager, type EventArgs, type EventSubscriber } from '@mikro-orm/core';
import { RunObject } from '../../src/entities/run-object.entity';
import { RunFileId, RunTool } from '../../src/entities/collections.entity';
import { RunToolCall } from '../../src/entities/parts.entity';
import type { RunRepository } from '../../src/repositories/run.repository';
import type { ApiRunInput } from '../../src/api/types';
import { apiRunV2, apiRunWithEveryPart, createInput, toolCall, uid } from '../factories';
import { apiRunInStatus, call, USAGE } from '../lifecycle/contract';
import { recordingOrm } from '../support/recording-orm';
import { useTestDatabase } from '../support/test-database';

/** Every onInit / onLoad of the file's ORM, as `event Class id`. */
const events: string[] = [];
const idOf = (entity: object) => String(helper(entity).getPrimaryKey());
class Recorder implements EventSubscriber {
  onInit(args: EventArgs<object>): void {
    events.push(`onInit ${args.entity.constructor.name} ${idOf(args.entity)}`);
  }
  async onLoad(args: EventArgs<object>): Promise<void> {
    await Promise.resolve(); // an async listener: the read must await it
    events.push(`onLoad ${args.entity.constructor.name} ${idOf(args.entity)}`);
  }
}

const db = useTestDatabase({ subscribers: [new Recorder()] });

jest.setTimeout(60_000);

/** The events `action` fires, and what it returns. */
async function recording<T>(action: () => Promise<T>): Promise<{ result: T; fired: string[] }> {
  events.length = 0;
  const result = await action();
  return { result, fired: [...events] };
}

/** The run as MikroORM loads it with every relation, on a fresh fork (no auto flush), and the events of that load. */
async function ormLoad(id: string, em: EntityManager = db.em()): Promise<{ run: RunObject; fired: string[] }> {
  const { result, fired } = await recording(() => em.find(RunObject, { id }, { populate: ['*'], flushMode: 'commit' }));
  expect(result).toHaveLength(1);
  return { run: result[0], fired };
}

/** What a caller sees of a run through MikroORM's serializers: toObject (of the run and of each entity of its graph) and serialize. */
function rendered(run: RunObject) {
  const graph = [run.requiredAction, run.lastError, run.incompleteDetails, run.usage, run.truncationStrategy, run.toolChoice, run.responseFormat].filter((p) => p !== null);
  // as JSON values (key order aside: a run made by the constructor has its keys in another order)
  const json = (value: unknown) => JSON.parse(JSON.stringify(value)) as unknown;
  const items = [...(run.requiredAction?.toolCalls.getItems() ?? []), ...run.tools.getItems(), ...run.fileIds.getItems()];
  return {
    toObject: json(wrap(run).toObject()),
    serialize: json(serialize(run, { populate: ['*'] } as never)),
    serializeSome: json(serialize(run, { populate: ['usage', 'tools'] } as never)),
    parts: graph.map((part) => json(wrap(part).toObject())),
    items: items.map((item) => json(wrap(item).toObject())),
    json: JSON.stringify(run), // the API object, byte for byte
  };
}

const ofKind = (fired: string[], kind: string) => fired.filter((e) => e.startsWith(kind)).sort();
const distinct = (list: string[]) => [...new Set(list)];

/**
 * The store's events and rendering equal an ORM load's: `onLoad` the same entities, each once;
 * `onInit` the same entities, each once (the ORM's populate('*') load fires it twice for each part:
 * once for the unloaded reference, once when it loads it).
 */
function expectLikeOrmLoad(storeRun: RunObject, storeFired: string[], orm: { run: RunObject; fired: string[] }, label: string): void {
  expect({ label, onLoad: ofKind(storeFired, 'onLoad') }).toEqual({ label, onLoad: ofKind(orm.fired, 'onLoad') });
  expect({ label, onInit: ofKind(storeFired, 'onInit') }).toEqual({ label, onInit: distinct(ofKind(orm.fired, 'onInit')) });
  expect(ofKind(storeFired, 'onLoad')).toEqual(distinct(ofKind(storeFired, 'onLoad')));
  expect({ label, ...rendered(storeRun) }).toEqual({ label, ...rendered(orm.run) });
}

/** A stored run in `status` with every part, tools, file ids (and tool calls when requiring action). */
async function stored(status: ApiRunInput['status'], overrides: Partial<ApiRunInput> = {}): Promise<ApiRunInput> {
  const base = apiRunInStatus(status);
  const keys = ['id', 'thread_id', 'status', 'created_at', 'expires_at', 'started_at', 'required_action', 'cancelled_at', 'failed_at', 'last_error', 'completed_at', 'incomplete_details', 'usage'] as const;
  const run = apiRunWithEveryPart({
    ...Object.fromEntries(keys.map((k) => [k, base[k]])),
    file_ids: ['file-1', 'file-2'],
    metadata: { a: 'b' },
    ...overrides,
  });
  await db.runs().importRun(run);
  return run;
}

type Path = { name: string; ids: string[]; run: (runs: RunRepository) => Promise<RunObject[]> };

/** Every read and transition that hands out managed runs, each on a run of its own. */
async function everyPath(): Promise<Path[]> {
  const one = async (p: Promise<RunObject | null>) => [(await p)!];
  const read = await stored('completed');
  const active = await stored('in_progress');
  const assistant = uid('asst');
  const listed = [await stored('completed', { assistant_id: assistant }), await stored('failed', { assistant_id: assistant })];
  const queued = await stored('queued');
  const inProgress = await stored('in_progress');
  const requiring = await stored('requires_action');
  const toComplete = await stored('in_progress');
  const toFail = await stored('queued');
  const toMarkIncomplete = await stored('in_progress');
  const toCancel = await stored('queued');
  const cancelling = await stored('cancelling');
  const claimable = await stored('queued', { assistant_id: uid('asst_claim') });
  const metadata = await stored('completed');
  return [
    { name: 'findById', ids: [read.id], run: (runs) => one(runs.findById(read.id)) },
    { name: 'getById', ids: [read.id], run: (runs) => one(runs.getById(read.id)) },
    { name: 'getForThread', ids: [read.id], run: (runs) => one(runs.getForThread(read.thread_id, read.id)) },
    { name: 'findActiveForThread', ids: [active.id], run: (runs) => one(runs.findActiveForThread(active.thread_id)) },
    { name: 'listByThread', ids: [read.id], run: async (runs) => (await runs.listByThread(read.thread_id)).data },
    { name: 'listByAssistant', ids: listed.map((r) => r.id), run: async (runs) => (await runs.listByAssistant(assistant)).data },
    { name: 'listByStatus', ids: [cancelling.id], run: async (runs) => (await runs.listByStatus(['cancelling'], { limit: 100 })).data.filter((r) => r.id === cancelling.id) },
    { name: 'start', ids: [queued.id], run: (runs) => one(runs.start(queued.id)) },
    { name: 'requireAction', ids: [inProgress.id], run: (runs) => one(runs.requireAction(inProgress.id, [call('call_1'), call('call_2')])) },
    { name: 'submitToolOutputs', ids: [requiring.id], run: (runs) => one(runs.submitToolOutputs(requiring.id, [{ tool_call_id: 'call_a', output: '1' }, { tool_call_id: 'call_b', output: '2' }])) },
    { name: 'complete', ids: [toComplete.id], run: (runs) => one(runs.complete(toComplete.id, USAGE)) },
    { name: 'fail', ids: [toFail.id], run: (runs) => one(runs.fail(toFail.id, { code: 'server_error', message: 'x' })) },
    { name: 'markIncomplete', ids: [toMarkIncomplete.id], run: (runs) => one(runs.markIncomplete(toMarkIncomplete.id, { reason: 'max_prompt_tokens' })) },
    { name: 'cancel', ids: [toCancel.id], run: (runs) => one(runs.cancel(toCancel.id)) },
    { name: 'confirmCancelled', ids: [cancelling.id], run: (runs) => one(runs.confirmCancelled(cancelling.id)) },
    { name: 'claimNext', ids: [claimable.id], run: (runs) => one(runs.claimNext({ assistant_id: claimable.assistant_id, worker: 'w', leaseSeconds: 30 })) },
    { name: 'updateMetadata', ids: [metadata.id], run: (runs) => one(runs.updateMetadata(metadata.id, { touched: 'yes' })) },
  ];
}

describe('subscriber events and serialisation equal an ORM load', () => {
  it('for every read and transition, on a fork that holds nothing', async () => {
    for (const path of await everyPath()) {
      const { result, fired } = await recording(() => path.run(db.runs()));
      expect({ path: path.name, runs: result.length }).toEqual({ path: path.name, runs: path.ids.length });
      for (const run of result) expectLikeOrmLoad(run, fired.filter((e) => belongsTo(e, run)), await ormLoad(run.id), path.name);
    }
  });

  it('for every read and transition of a run the fork already holds: the held instances, events only for new entities, rendering as an ORM load', async () => {
    for (const path of await everyPath()) {
      const em = db.em();
      const repo = em.getRepository(RunObject);
      const held = new Map<string, RunObject>();
      for (const id of path.ids) held.set(id, await repo.getById(id));
      const heldEntities = new Set([...held.values()].flatMap(graphIds));
      const { result, fired } = await recording(() => path.run(repo));
      expect(result.length).toBeGreaterThan(0);
      for (const run of result) {
        expect({ path: path.name, same: run === held.get(run.id) }).toEqual({ path: path.name, same: true });
        const orm = await ormLoad(run.id);
        expect({ path: path.name, ...rendered(run) }).toEqual({ path: path.name, ...rendered(orm.run) });
        // what is new in the graph (a transition's new parts) fired once each, as an ORM load fires it; nothing held fired again
        const fresh = graphIds(run).filter((e) => !heldEntities.has(e)).sort();
        const of = (kind: string) => ofKind(fired, kind).filter((e) => belongsTo(e, run)).map((e) => e.split(' ').slice(1).join(' '));
        expect({ path: path.name, onInit: of('onInit'), onLoad: of('onLoad') }).toEqual({ path: path.name, onInit: fresh, onLoad: fresh });
      }
      em.getUnitOfWork().computeChangeSets();
      expect({ path: path.name, pending: em.getUnitOfWork().getChangeSets().length }).toEqual({ path: path.name, pending: 0 });
    }
  });

  it('create and importRun hand out graphs that render as an ORM load', async () => {
    const runs = db.runs();
    const created = await runs.create(createInput({ tools: [{ type: 'code_interpreter' }], metadata: { k: 'v' } }));
    expect(rendered(created)).toEqual(rendered((await ormLoad(created.id)).run));
    const imported = await runs.importRun(apiRunWithEveryPart());
    expect(rendered(imported)).toEqual(rendered((await ormLoad(imported.id)).run));
  });

  it('a read is still one statement, and onLoad listeners have run when it resolves', async () => {
    const api = await stored('requires_action');
    const { orm, statements } = await recordingOrm(db);
    try {
      const em = orm.em.fork();
      statements.length = 0;
      await em.getRepository(RunObject).getById(api.id);
      expect(statements).toHaveLength(1);
    } finally {
      await orm.close(true);
    }
    const { fired } = await recording(() => db.runs().getById(api.id));
    expect(ofKind(fired, 'onLoad')).toHaveLength(1 + 4 + 2 + 2 + 2); // run, 4 parts (no last_error, incomplete_details, usage), 2 calls, 2 tools, 2 file ids
  });
});

/** The `Class id` of every entity of the run's graph. */
function graphIds(run: RunObject): string[] {
  const parts = [run.requiredAction, run.lastError, run.incompleteDetails, run.usage, run.truncationStrategy, run.toolChoice, run.responseFormat].filter((p) => p !== null);
  return [run, ...parts, ...(run.requiredAction?.toolCalls.getItems() ?? []), ...run.tools.getItems(), ...run.fileIds.getItems()].map(
    (e) => `${e.constructor.name} ${idOf(e)}`,
  );
}

/** Whether the event is of an entity of `run`'s graph (a page fires the events of all its runs). */
function belongsTo(event: string, run: RunObject): boolean {
  return graphIds(run).includes(event.split(' ').slice(1).join(' '));
}

describe('one instance per identity', () => {
  it('a held run and its held parts stay the same instances through reads and transitions; collections hold no duplicates', async () => {
    const api = await stored('in_progress');
    const em = db.em();
    const repo = em.getRepository(RunObject);
    const run = await repo.getById(api.id);
    const usage = run.usage!;
    const tool = run.tools.getItems()[1];
    const file = run.fileIds.getItems()[0];
    const tools = run.tools.getItems().map((t) => t.id);
    await db.runs().updateMetadata(api.id, { from: 'elsewhere' });
    for (const next of [() => repo.findById(api.id), async () => (await repo.listByThread(api.thread_id)).data[0], () => repo.requireAction(api.id, [call('call_x')])]) {
      expect(await next()).toBe(run);
      expect(run.usage).toBe(usage);
      expect(run.tools.getItems()[1]).toBe(tool);
      expect(run.fileIds.getItems()[0]).toBe(file);
      expect(run.tools.getItems().map((t) => t.id)).toEqual(tools);
      expect(new Set(run.tools.getItems()).size).toBe(run.tools.length);
    }
    expect(run.metadata).toEqual({ from: 'elsewhere' });
    expect(run.status).toBe('requires_action');
    const heldCall = run.requiredAction!.toolCalls.getItems()[0];
    expect(await repo.getById(api.id)).toBe(run);
    expect(run.requiredAction!.toolCalls.getItems()[0]).toBe(heldCall);
    em.getUnitOfWork().computeChangeSets();
    expect(em.getUnitOfWork().getChangeSets()).toHaveLength(0);
  });

  it('a tool, file id or tool call the fork holds (without its run) is the instance the read puts in the run', async () => {
    const api = await stored('requires_action');
    const em = db.em();
    const [tool] = await em.find(RunTool, { run: api.id }, { orderBy: { position: 'asc' } });
    const [file] = await em.find(RunFileId, { run: api.id }, { orderBy: { position: 'asc' } });
    const action = (await db.sql<{ required_action_id: string }>('select required_action_id from run_object where id = $1', [api.id]))[0].required_action_id;
    const [toolCallHeld] = await em.find(RunToolCall, { requiredAction: action }, { orderBy: { position: 'asc' } });
    const run = await em.getRepository(RunObject).getById(api.id);
    expect(run.tools.getItems()[0]).toBe(tool);
    expect(run.fileIds.getItems()[0]).toBe(file);
    expect(run.requiredAction!.toolCalls.getItems()[0]).toBe(toolCallHeld);
    expect(em.getUnitOfWork().getById(RunTool.name, tool.id)).toBe(tool);
    expect(rendered(run)).toEqual(rendered((await ormLoad(api.id)).run));
    em.getUnitOfWork().computeChangeSets();
    expect(em.getUnitOfWork().getChangeSets()).toHaveLength(0);
  });
});

describe("MikroORM's merge rules for a run the caller holds", () => {
  /** Two forks holding the run, loaded by the store and by the ORM, with the same unsaved edits. */
  async function twoHolders(id: string, edit: (run: RunObject) => void) {
    const storeEm = db.em();
    const storeRun = await storeEm.getRepository(RunObject).getById(id);
    const ormEm = db.em();
    const { run: ormRun } = await ormLoad(id, ormEm);
    edit(storeRun);
    edit(ormRun);
    return { storeEm, storeRun, ormEm, ormRun };
  }
  const pending = (em: EntityManager) => {
    const uow = em.getUnitOfWork();
    uow.computeChangeSets();
    return uow.getChangeSets().map((c) => ({ entity: c.entity.constructor.name, type: c.type, payload: c.payload }));
  };

  it("keeps the caller's unsaved edits, takes the stored value of the rest — as em.find — and the caller's flush writes its edits", async () => {
    const api = await stored('queued');
    const edit = (run: RunObject) => {
      run.metadata = { edited: 'by the caller' };
      run.instructions = 'mine';
    };
    const { storeEm, storeRun, ormEm, ormRun } = await twoHolders(api.id, edit);
    await db.runs().start(api.id); // another process moves the run
    const read = await storeEm.getRepository(RunObject).findById(api.id);
    await ormLoad(api.id, ormEm);
    expect(read).toBe(storeRun);
    for (const run of [storeRun, ormRun]) {
      expect({ metadata: run.metadata, instructions: run.instructions, status: run.status, started: run.startedAt instanceof Date }).toEqual({
        metadata: { edited: 'by the caller' },
        instructions: 'mine',
        status: 'in_progress',
        started: true,
      });
    }
    expect(pending(storeEm)).toEqual(pending(ormEm));
    expect(pending(storeEm)).toEqual([{ entity: 'RunObject', type: 'update', payload: { metadata: JSON.stringify({ edited: 'by the caller' }), instructions: 'mine' } }]);
    // the store wrote nothing of the caller's (em.find would have flushed them: auto flush)
    const [row] = await db.sql<{ metadata: unknown; status: string }>('select metadata, status from run_object where id = $1', [api.id]);
    expect(row).toEqual({ metadata: { a: 'b' }, status: 'in_progress' });
    await storeEm.flush();
    const [after] = await db.sql<{ metadata: unknown; instructions: string; status: string }>('select metadata, instructions, status from run_object where id = $1', [api.id]);
    expect(after).toEqual({ metadata: { edited: 'by the caller' }, instructions: 'mine', status: 'in_progress' });
  });

  it("a transition of a held run returns it with the stored outcome and the caller's edits kept", async () => {
    const api = await stored('in_progress');
    const em = db.em();
    const repo = em.getRepository(RunObject);
    const run = await repo.getById(api.id);
    run.metadata = { edited: 'yes' };
    expect(await repo.complete(api.id, USAGE)).toBe(run);
    expect({ status: run.status, usage: run.usage?.totalTokens, metadata: run.metadata }).toEqual({ status: 'completed', usage: 30, metadata: { edited: 'yes' } });
    expect(pending(em)).toEqual([{ entity: 'RunObject', type: 'update', payload: { metadata: JSON.stringify({ edited: 'yes' }) } }]);
  });

  it('importRun and importRuns of a run the fork holds refresh that instance (one instance per identity), as a read would: imported values, the caller\'s unsaved edits kept', async () => {
    for (const replace of ['importRun', 'importRuns'] as const) {
      const api = await stored('completed');
      const em = db.em();
      const repo = em.getRepository(RunObject);
      const held = await repo.getById(api.id);
      held.instructions = 'mine, unsaved';
      const replaced = { ...api, metadata: { replaced: replace }, tools: [{ type: 'file_search' as const }], file_ids: ['file-new'] };
      const result = replace === 'importRun' ? await repo.importRun(replaced) : (await repo.importRuns([replaced]), null);
      if (result) expect(result).toBe(held);
      // as the import left it (before any read of the run)
      expect(em.getUnitOfWork().getById(RunObject.name, api.id)).toBe(held);
      expect([held.metadata, held.tools.getItems().map((t) => t.type), held.fileIds.getItems().map((f) => f.fileId), held.instructions]).toEqual([
        { replaced: replace }, ['file_search'], ['file-new'], 'mine, unsaved',
      ]);
      expect(pending(em)).toEqual([{ entity: 'RunObject', type: 'update', payload: { instructions: 'mine, unsaved' } }]);
      expect(await repo.getById(api.id)).toBe(held);
      held.instructions = api.instructions!;
      expect(pending(em)).toEqual([]);
      expect(rendered(held)).toEqual(rendered((await ormLoad(api.id)).run));
    }
  });

  it('difference 1: a stored null replaces a value the caller did not change (em.find keeps the old value)', async () => {
    const api = await stored('requires_action');
    const { storeEm, storeRun, ormEm, ormRun } = await twoHolders(api.id, () => undefined);
    await db.runs().submitToolOutputs(api.id, [{ tool_call_id: 'call_a', output: '1' }, { tool_call_id: 'call_b', output: '2' }]);
    await storeEm.getRepository(RunObject).findById(api.id);
    await ormLoad(api.id, ormEm);
    expect([storeRun.status, ormRun.status]).toEqual(['queued', 'queued']);
    expect(storeRun.requiredAction).toBeNull(); // as stored
    expect(ormRun.requiredAction).not.toBeNull(); // MikroORM's merge: a null does not override a loaded value
    expect(storeRun.toJSON()).toEqual((await ormLoad(api.id)).run.toJSON());
    expect(pending(storeEm)).toEqual([]);
  });

  it("difference 2: a collection the caller did not change takes the stored items (em.find keeps them); one it changed keeps the caller's", async () => {
    const api = await stored('completed');
    const { storeEm, storeRun, ormEm, ormRun } = await twoHolders(api.id, () => undefined);
    const added = (run: RunObject) => run.fileIds.add(Object.assign(new RunFileId(), { run, position: 9, fileId: 'file-mine' }));
    added(storeRun);
    added(ormRun);
    const replaced = { ...api, tools: [{ type: 'file_search' as const }] , file_ids: ['file-new'] };
    await db.runs().importRun(replaced); // another process replaces the run: new tools, new file ids
    await storeEm.getRepository(RunObject).findById(api.id);
    await ormLoad(api.id, ormEm);
    expect(storeRun.tools.getItems().map((t) => t.type)).toEqual(['file_search']); // clean: as stored
    expect(ormRun.tools.getItems().map((t) => t.type)).toEqual(['code_interpreter', 'function']); // em.find: kept
    for (const run of [storeRun, ormRun]) expect(run.fileIds.getItems().map((f) => f.fileId)).toEqual(['file-1', 'file-2', 'file-mine']); // changed: the caller's
  });
});

it('a run built by a read of an unheld run and one merged into a held run are the same graph', async () => {
  const api = apiRunV2({ tools: [{ type: 'code_interpreter' }], metadata: { x: 'y' }, required_action: null });
  await db.runs().importRun(api);
  const fresh = await db.runs().getById(api.id);
  const em = db.em();
  await em.find(RunTool, { run: api.id }); // held: goes through the factory
  const merged = await em.getRepository(RunObject).getById(api.id);
  expect(rendered(merged)).toEqual(rendered(fresh));
  expect(toolCall(1).id).toBe('call_1');
});
