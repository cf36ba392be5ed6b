/**
 * List queries: validation (typed errors), cursors outside the list, fresh data on a reused unit
 * of work, and the round trips a page costs (counted with a query logger).
 */
import type { ApiRun, RunListQuery } from '../../src/api/types';
import { RunObject } from '../../src/entities/run-object.entity';
import { InvalidListQueryError } from '../../src/errors';
import { apiRunV2, uid } from '../factories';
import { useTestDatabase } from '../support/test-database';
import { recordingOrm } from '../support/recording-orm';
import { storeRuns } from './support';

const db = useTestDatabase();

const THREAD = uid('thread');
const OTHER_THREAD = uid('thread');
const ASSISTANT = uid('asst');
const RT_ASSISTANT = uid('asst'); // 120 runs, each with every collection loaded
const BASE = 1_716_000_000;

const threadRuns: ApiRun[] = [];
const rtRuns = new Map<string, ApiRun>();
let otherThreadRun: ApiRun;

/** A requires_action run with tools, file_ids and two tool calls: every select-in a page can need. */
function fullRun(i: number): ApiRun {
  return apiRunV2({
    assistant_id: RT_ASSISTANT,
    status: 'requires_action',
    created_at: BASE + Math.floor(i / 10),
    tools: [{ type: 'function', function: { name: 'f' } }, { type: 'code_interpreter' }],
    file_ids: ['file-1', 'file-2'],
    required_action: {
      type: 'submit_tool_outputs',
      submit_tool_outputs: {
        tool_calls: [
          { id: `call_${i}_a`, type: 'function', function: { name: 'f', arguments: '{}' } },
          { id: `call_${i}_b`, type: 'function', function: { name: 'f', arguments: '{"x":1}' } },
        ],
      },
    },
    usage: { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 },
  });
}

beforeAll(async () => {
  for (let i = 0; i < 30; i++) {
    threadRuns.push(apiRunV2({ thread_id: THREAD, assistant_id: ASSISTANT, status: i === 29 ? 'queued' : 'completed', created_at: BASE + i }));
  }
  otherThreadRun = apiRunV2({ thread_id: OTHER_THREAD, assistant_id: ASSISTANT, status: 'failed', created_at: BASE, last_error: { code: 'server_error', message: 'x' } });
  for (let i = 0; i < 120; i++) {
    const run = fullRun(i);
    rtRuns.set(run.id, run);
  }
  await storeRuns(db.em(), [...threadRuns, otherThreadRun, ...rtRuns.values()].map((api) => ({ api })));
});

async function listError(promise: Promise<unknown>): Promise<InvalidListQueryError> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(InvalidListQueryError);
  return error as InvalidListQueryError;
}

describe('a malformed list query is an InvalidListQueryError naming the parameter', () => {
  it.each([
    [{ limit: 0 }, 'limit'],
    [{ limit: 101 }, 'limit'],
    [{ limit: 1.5 }, 'limit'],
    [{ limit: '20' }, 'limit'],
    [{ limit: Number.NaN }, 'limit'],
    [{ order: 'up' }, 'order'],
    [{ order: 'DESC' }, 'order'],
    [{ status: 'done' }, 'status'],
    [{ status: [] }, 'status'],
    [{ status: ['queued', 'nope'] }, 'status'],
    [{ after: '' }, 'after'],
    [{ before: 42 }, 'before'],
    [{ befor: 'run_x' }, 'befor'],
  ])('%j', async (query, parameter) => {
    const error = await listError(db.runs().listByThread(THREAD, query as unknown as RunListQuery));
    expect(error.parameter).toBe(parameter);
  });

  it('limits 1 and 100 are accepted', async () => {
    expect((await db.runs().listByThread(THREAD, { limit: 1 })).data).toHaveLength(1);
    expect((await db.runs().listByThread(THREAD, { limit: 100 })).data).toHaveLength(30);
  });

  it('an empty or missing thread id, assistant id or status list', async () => {
    expect((await listError(db.runs().listByThread(''))).parameter).toBe('thread_id');
    expect((await listError(db.runs().listByAssistant(undefined as unknown as string))).parameter).toBe('assistant_id');
    expect((await listError(db.runs().listByStatus([]))).parameter).toBe('status');
    expect((await listError(db.runs().listByStatus('running' as never))).parameter).toBe('status');
  });
});

describe('a cursor must name a run of the list', () => {
  it('an id that names no run', async () => {
    const error = await listError(db.runs().listByThread(THREAD, { after: 'run_nope' }));
    expect(error.parameter).toBe('after');
    expect((await listError(db.runs().listByThread(THREAD, { before: 'run_nope' }))).parameter).toBe('before');
  });

  it("another thread's run", async () => {
    expect((await listError(db.runs().listByThread(THREAD, { after: otherThreadRun.id }))).parameter).toBe('after');
    // The same run is a fine cursor of a list it belongs to.
    expect((await db.runs().listByAssistant(ASSISTANT, { after: otherThreadRun.id })).data).toBeDefined();
  });

  it('a run outside the status filter', async () => {
    const queued = threadRuns[29].id;
    expect((await listError(db.runs().listByThread(THREAD, { status: 'completed', before: queued }))).parameter).toBe('before');
    expect((await listError(db.runs().listByStatus(['failed', 'completed'], { after: queued }))).parameter).toBe('after');
    expect((await listError(db.runs().listByStatus('failed', { status: 'queued', after: queued }))).parameter).toBe('after');
  });

  it('one valid and one invalid cursor', async () => {
    const error = await listError(db.runs().listByThread(THREAD, { after: threadRuns[20].id, before: otherThreadRun.id }));
    expect(error.parameter).toBe('before');
  });

  it('a valid cursor at the end of the list is an empty page, not an error', async () => {
    expect(await db.runs().listByThread(THREAD, { after: threadRuns[0].id })).toEqual({ object: 'list', data: [], first_id: null, last_id: null, has_more: false });
  });

  it('ids are data, never SQL', async () => {
    const odd = "thread_'); drop table run_object; --\\";
    await storeRuns(db.em(), [{ api: apiRunV2({ thread_id: odd, status: 'completed' }) }]);
    expect((await db.runs().listByThread(odd)).data.map((r) => r.threadId)).toEqual([odd]);
    expect((await listError(db.runs().listByThread(odd, { after: "run_' or 1=1 --" }))).parameter).toBe('after');
  });
});

describe('a page is read fresh', () => {
  it('on a unit of work that already holds the run, changes made elsewhere show', async () => {
    const run = apiRunV2({ thread_id: uid('thread'), status: 'cancelling', expires_at: BASE + 600 });
    await storeRuns(db.em(), [{ api: run }]);
    const repo = db.runs();
    expect((await repo.getById(run.id)).expiresAt).not.toBeNull();
    await db.sql(`update run_object set status = 'cancelled', expires_at = null, cancelled_at = now(), metadata = '{"k":"v"}' where id = $1`, [run.id]);
    const [listed] = (await repo.listByThread(run.thread_id)).data;
    expect(listed).toMatchObject({ status: 'cancelled', expiresAt: null, metadata: { k: 'v' } });
    expect(listed.cancelledAt).toBeInstanceOf(Date);
  });
});

describe('round trips per page', () => {
  /** The statements that one call runs on a fresh unit of work of a recording ORM. */
  async function statementsOf(call: (repo: ReturnType<typeof db.runs>) => Promise<unknown>, reuse = false) {
    const { orm, statements } = await recordingOrm(db);
    const em = orm.em.fork();
    const repo = em.getRepository(RunObject);
    if (reuse) await repo.listByAssistant(RT_ASSISTANT, { limit: 100 }); // the unit of work now holds the runs
    statements.length = 0;
    await call(repo);
    return [...statements];
  }

  it('a page of 1, 20 or 100 fully loaded runs: one statement (each run with its parts as JSON)', async () => {
    const counts: Record<number, number> = {};
    for (const limit of [1, 20, 100]) {
      const statements = await statementsOf(async (repo) => {
        const page = await repo.listByAssistant(RT_ASSISTANT, { limit });
        expect(page.data).toHaveLength(limit);
        // every part is loaded: the API object of each run is the one stored
        expect(JSON.parse(JSON.stringify(page.data))).toEqual(page.data.map((r) => rtRuns.get(r.id)));
      });
      counts[limit] = statements.length;
      expect(statements[0]).toMatch(/^select .* from "run_object" r where r\."id" = any\(array\(select /);
    }
    expect(counts).toEqual({ 1: 1, 20: 1, 100: 1 });
  });

  it('the same with a cursor, backwards, or over several statuses', async () => {
    const first = await db.runs().listByAssistant(RT_ASSISTANT, { limit: 10 });
    expect(await statementsOf((repo) => repo.listByAssistant(RT_ASSISTANT, { after: first.last_id!, limit: 50 }))).toHaveLength(1);
    expect(await statementsOf((repo) => repo.listByAssistant(RT_ASSISTANT, { before: first.last_id!, order: 'asc', limit: 50 }))).toHaveLength(1);
    expect(await statementsOf((repo) => repo.listByStatus(['requires_action', 'queued'], { limit: 100 }))).toHaveLength(1);
  });

  it('an empty page after a cursor needs one check', async () => {
    expect(await statementsOf((repo) => repo.listByThread(THREAD, { limit: 20 }))).toHaveLength(1);
    expect(await statementsOf((repo) => repo.listByThread(THREAD, { after: threadRuns[0].id }))).toHaveLength(2);
    expect(await statementsOf((repo) => repo.listByThread(uid('thread')))).toHaveLength(1);
  });

  it('on a unit of work that already holds entities, the page is refreshed: more statements, still not growing with the page', async () => {
    const counts = [];
    for (const limit of [1, 20, 100]) counts.push((await statementsOf((repo) => repo.listByAssistant(RT_ASSISTANT, { limit }), true)).length);
    expect(new Set(counts).size).toBe(1);
    expect(counts[0]).toBeLessThanOrEqual(4 + 7); // + one per kind of joined to-one present
  });
});
