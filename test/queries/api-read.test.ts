/**
 * The API-form reads (`runs.api.*`) against the managed reads, on real PostgreSQL: for every run
 * shape (generated runs of both versions, hand-made edge cases, runs moved by transitions) the API
 * object PostgreSQL builds is byte for byte the JSON of the managed run; paging through every page
 * in both orders gives the same pages (visiting each run once); bad queries fail with the same
 * error; each call is one statement; nothing enters the unit of work.
 */
import fc from 'fast-check';
import type { ApiRun, ApiRunInput, ApiRunList, RunExportFilter, RunListQuery, RunStatus } from '../../src/api/types';
import { TERMINAL_STATUSES } from '../../src/api/types';
import { RunObject } from '../../src/entities/run-object.entity';
import { InvalidListQueryError, RunNotFoundError, RunStoreError } from '../../src/errors';
import type { RunRepository } from '../../src/repositories/run.repository';
import { apiRunV1 as arbitraryV1, apiRunV2 as arbitraryV2 } from '../entities/arbitraries';
import { apiRunV1, apiRunV2, apiRunWithEveryPart, asStored, createInput, toolCall, uid } from '../factories';
import { recordingOrm } from '../support/recording-orm';
import { useTestDatabase } from '../support/test-database';
import { storeRuns, type SeedRun } from './support';

const db = useTestDatabase();

const GENERATED = Number(process.env.ARS_PROPERTY_RUNS ?? 300);
const SEED = process.env.ARS_PROPERTY_SEED ? Number(process.env.ARS_PROPERTY_SEED) : 17;

/** The managed run's API JSON and the API read's JSON, for one id (each on a fresh unit of work). */
async function bothForms(id: string): Promise<{ managed: string; api: string }> {
  const managed = await db.runs().findById(id);
  const api = await db.runs().api.findById(id);
  return { managed: JSON.stringify(managed), api: JSON.stringify(api) };
}

async function expectSameRun(id: string): Promise<void> {
  const { managed, api } = await bothForms(id);
  expect(managed).not.toBe('null');
  expect(api).toBe(managed);
}

describe('one run: the API read is byte for byte the managed run’s JSON', () => {
  it(`${GENERATED} generated runs of both versions (seed ${SEED})`, async () => {
    const assistant = uid('asst');
    // Each on a thread of its own (the thread lock is not what this is about), one assistant, unique ids.
    const runs: ApiRunInput[] = fc
      .sample(fc.oneof(arbitraryV2, arbitraryV1), { numRuns: GENERATED, seed: SEED })
      .map((run, i) => ({ ...run, id: `${run.id}#${i}`, thread_id: uid('thread'), assistant_id: assistant }));
    for (let i = 0; i < runs.length; i += 100) expect(await db.runs().importRuns(runs.slice(i, i + 100))).toEqual(runs.slice(i, i + 100).map(() => null));
    expect(runs.some((r) => r.file_ids !== undefined) && runs.some((r) => r.file_ids === undefined)).toBe(true);
    for (const run of runs) await expectSameRun(run.id);
    // and in pages of mixed shapes
    let after: string | undefined;
    let seen = 0;
    for (;;) {
      const query: RunListQuery = { limit: 100, ...(after ? { after } : {}) };
      const api = await db.runs().api.listByAssistant(assistant, query);
      expect(JSON.stringify(api)).toBe(JSON.stringify(await db.runs().listByAssistant(assistant, query)));
      seen += api.data.length;
      if (!api.has_more) break;
      after = api.last_id!;
    }
    expect(seen).toBe(runs.length);
  });

  const edgeCases: [string, ApiRunInput][] = [
    ['every part (v1)', apiRunWithEveryPart()],
    ['every part, without file_ids (v2)', asStored((({ file_ids: _, ...rest }) => rest)(apiRunWithEveryPart()))],
    ['v1, only the keys it had', apiRunV1()],
    ['v1 with an empty file_ids', apiRunV1({ file_ids: [] })],
    ['v2, defaults', apiRunV2()],
    ['incomplete_details without a reason ({})', apiRunV2({ status: 'incomplete', incomplete_details: {} })],
    ['truncation_strategy without last_messages', apiRunV2({ truncation_strategy: { type: 'auto' } })],
    ['truncation_strategy with last_messages null and a number', apiRunV2({ truncation_strategy: { type: 'last_messages', last_messages: 3 } })],
    ['tool_choice naming a tool without a function', apiRunV2({ tool_choice: { type: 'file_search' } })],
    ['tool_choice modes', apiRunV2({ tool_choice: 'required' })],
    ['response_format text', apiRunV2({ response_format: { type: 'text' } })],
    ['response_format json_object', apiRunV2({ response_format: { type: 'json_object' } })],
    [
      'response_format json_schema with keys out of order',
      apiRunV2({ response_format: { type: 'json_schema', json_schema: { name: 'n', strict: null, schema: { z: 1, a: [true, null, { y: 'x', b: 1.5 }] } } } }),
    ],
    [
      'every tool kind',
      apiRunV2({
        tools: [
          { type: 'code_interpreter' },
          { type: 'file_search' },
          { type: 'file_search', file_search: { max_num_results: 3, ranking_options: { ranker: 'auto', score_threshold: 0.25 } } },
          { type: 'function', function: { name: 'f', description: 'd', parameters: { type: 'object', properties: { b: {}, a: {} } }, strict: true } },
        ],
      }),
    ],
    ['the retrieval tool (v1)', apiRunV1({ tools: [{ type: 'retrieval' }] })],
    ['null metadata, null instructions, null sampling', apiRunV2({ metadata: null, instructions: null, temperature: null, top_p: null })],
    ['metadata keys __proto__ and constructor', apiRunV2({ metadata: JSON.parse('{"__proto__":"p","constructor":"c","":"empty"}') })],
    ['numbers at the edges', apiRunV2({ temperature: 1e-7, top_p: 0.1 + 0.2, max_prompt_tokens: 2_147_483_647, max_completion_tokens: 256 })],
    ['negative zero and a huge temperature', apiRunV2({ temperature: -0, top_p: 1e300 })],
    [
      'strings JSON must escape',
      apiRunV2({ instructions: 'quote " backslash \\ newline \n tab \t \u0001 \u2028 \u2029 😀 é', metadata: { 'k"\\': 'line\nbreak' } }),
    ],
    ['times at 0 and in year 9999', apiRunV2({ created_at: 0, expires_at: 253_402_300_799, status: 'expired' })],
    ['a pending required action', apiRunV2({ status: 'requires_action', required_action: { type: 'submit_tool_outputs', submit_tool_outputs: { tool_calls: [toolCall(1, '{"a":[1]}'), toolCall(2)] } } })],
    ['a required action without tool calls', apiRunV2({ status: 'requires_action', required_action: { type: 'submit_tool_outputs', submit_tool_outputs: { tool_calls: [] } } })],
    ['failed with last_error and usage', apiRunV2({ status: 'failed', last_error: { code: 'rate_limit_exceeded', message: '' }, usage: { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 } })],
  ];

  it.each(edgeCases)('%s', async (_name, run) => {
    await db.runs().importRun(run);
    await expectSameRun(run.id);
  });

  it('runs made by create and moved by every kind of transition, with the milliseconds create keeps', async () => {
    const runs = db.runs();
    const a = await runs.create(createInput({ file_ids: ['file-x'], tools: [{ type: 'code_interpreter' }] }));
    await expectSameRun(a.id);
    await runs.start(a.id);
    await runs.requireAction(a.id, [toolCall(1), toolCall(2, '{"b":2}')]);
    await expectSameRun(a.id);
    await runs.submitToolOutputs(a.id, [{ tool_call_id: 'call_1', output: 'x' }, { tool_call_id: 'call_2', output: 'y' }]);
    await runs.start(a.id);
    await runs.markIncomplete(a.id, {}, { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 });
    await expectSameRun(a.id);
    const b = await runs.create(createInput());
    await runs.start(b.id);
    await runs.fail(b.id, { code: 'server_error', message: 'boom' });
    await runs.updateMetadata(b.id, { after: 'fail' });
    await expectSameRun(b.id);
    const c = await runs.create(createInput({ metadata: null }));
    await runs.cancel(c.id);
    await expectSameRun(c.id);
  });
});

describe('the other reads', () => {
  it('getById: the API object, or RunNotFoundError as the managed read throws it', async () => {
    const run = apiRunWithEveryPart();
    await db.runs().importRun(run);
    expect(JSON.stringify(await db.runs().api.getById(run.id))).toBe(JSON.stringify(await db.runs().getById(run.id)));
    const missing = 'run_missing';
    const errors = await Promise.all([db.runs().getById(missing), db.runs().api.getById(missing)].map((p) => p.then(() => null, (e: unknown) => e)));
    expect(errors[0]).toBeInstanceOf(RunNotFoundError);
    expect(errors[1]).toBeInstanceOf(RunNotFoundError);
    expect((errors[1] as Error).message).toBe((errors[0] as Error).message);
    expect(await db.runs().api.findById(missing)).toBeNull();
  });

  it('findActiveForThread: the thread’s active run in both forms, null when it has none', async () => {
    const threadId = uid('thread');
    await db.runs().importRun(apiRunV2({ thread_id: threadId, status: 'completed' }));
    expect(await db.runs().api.findActiveForThread(threadId)).toBeNull();
    expect(await db.runs().findActiveForThread(threadId)).toBeNull();
    const active = apiRunWithEveryPart({ thread_id: threadId });
    await db.runs().importRun(active);
    const api = await db.runs().api.findActiveForThread(threadId);
    expect(api?.id).toBe(active.id);
    expect(JSON.stringify(api)).toBe(JSON.stringify(await db.runs().findActiveForThread(threadId)));
    for (const status of ['queued', 'in_progress', 'cancelling'] as const) {
      await db.sql('update run_object set status = $1 where id = $2', [status, active.id]);
      expect((await db.runs().api.findActiveForThread(threadId))?.status).toBe(status);
      expect((await db.runs().findActiveForThread(threadId))?.status).toBe(status);
    }
    expect(await db.runs().api.findActiveForThread(uid('thread'))).toBeNull();
  });

  it('nothing enters the unit of work', async () => {
    const run = apiRunWithEveryPart();
    await db.runs().importRun(run);
    const em = db.em();
    const repo = em.getRepository(RunObject);
    await repo.api.getById(run.id);
    await repo.api.listByThread(run.thread_id);
    await repo.api.findActiveForThread(run.thread_id);
    for await (const _ of repo.api.export({ thread_id: run.thread_id })) void _;
    expect(em.getUnitOfWork().getIdentityMap().values()).toEqual([]);
    await repo.getById(run.id);
    expect(em.getUnitOfWork().getIdentityMap().values().length).toBeGreaterThan(0); // the check above could fail
  });
});

describe('paging: one list contract, two result forms', () => {
  const BASE = 1_716_000_000;
  const THREAD = uid('thread');
  const ASSISTANT = uid('asst');
  const STATUSES: RunStatus[] = [...TERMINAL_STATUSES];
  const members: ApiRun[] = [];

  beforeAll(async () => {
    // 150 terminal runs in 12 seconds: many share a second, a third share the millisecond too.
    const seeds: SeedRun[] = [];
    for (let i = 0; i < 150; i++) {
      const api = apiRunV2({
        thread_id: i % 3 === 0 ? THREAD : uid('thread'),
        assistant_id: ASSISTANT,
        status: STATUSES[i % STATUSES.length],
        created_at: BASE + (i % 12),
        ...(i % 4 === 0 ? { tools: [{ type: 'code_interpreter' as const }] } : {}),
        ...(i % 5 === 0 ? { last_error: { code: 'server_error' as const, message: `m${i}` } } : {}),
      });
      if (i % 7 === 0) api.file_ids = [`file-${i}`];
      seeds.push({ api, ms: i % 3 === 0 ? 500 : (i * 37) % 1000 });
      members.push(api);
    }
    await storeRuns(db.em(), seeds);
  });

  // `count`: the list's runs (the status list also holds other tests' runs: counted in the database)
  const inStatuses = async (statuses: RunStatus[]) => (await db.sql<{ n: number }>('select count(*)::int as n from run_object where status = any($1)', [statuses]))[0].n;
  const lists: { name: string; list: (repo: RunRepository, api: boolean, query: RunListQuery) => Promise<ApiRunList<unknown>>; count: () => Promise<number>; limit: number }[] = [
    { name: 'a thread', list: (r, api, q) => (api ? r.api : r).listByThread(THREAD, q), count: async () => 50, limit: 7 },
    { name: 'an assistant', list: (r, api, q) => (api ? r.api : r).listByAssistant(ASSISTANT, q), count: async () => 150, limit: 20 },
    { name: 'an assistant, two statuses', list: (r, api, q) => (api ? r.api : r).listByAssistant(ASSISTANT, { ...q, status: ['failed', 'expired'] }), count: async () => 60, limit: 9 },
    { name: 'three statuses', list: (r, api, q) => (api ? r.api : r).listByStatus(['cancelled', 'completed', 'incomplete'], q), count: () => inStatuses(['cancelled', 'completed', 'incomplete']), limit: 11 },
  ];

  /** One page in both forms: the same JSON; returns the API page. */
  async function pageInBoth(list: (typeof lists)[number]['list'], query: RunListQuery): Promise<ApiRunList<unknown>> {
    const api = await list(db.runs(), true, query);
    const managed = await list(db.runs(), false, query);
    expect(JSON.stringify(api)).toBe(JSON.stringify(managed));
    return api;
  }

  describe.each(lists)('$name', ({ list, count, limit }) => {
    it.each(['desc', 'asc'] as const)('%s: forward with after and backward with before, the same pages, each run once', async (order) => {
      const forward: string[] = [];
      let page = await pageInBoth(list, { order, limit });
      for (;;) {
        forward.push(...(page.data as ApiRun[]).map((r) => r.id));
        if (!page.has_more) break;
        page = await pageInBoth(list, { order, limit, after: page.last_id! });
      }
      const n = await count();
      expect(n).toBeGreaterThan(3 * limit); // several pages
      expect(forward).toHaveLength(n);
      expect(new Set(forward).size).toBe(n);
      // backwards from the last run: before each page's first
      const backward: string[] = [forward[forward.length - 1]];
      let before = forward[forward.length - 1];
      for (;;) {
        page = await pageInBoth(list, { order, limit, before });
        backward.unshift(...(page.data as ApiRun[]).map((r) => r.id));
        if (!page.has_more) break;
        before = page.first_id!;
      }
      expect(backward).toEqual(forward);
    });
  });

  it('the page between two cursors, and empty pages', async () => {
    const all = (await db.runs().api.listByThread(THREAD, { limit: 100 })).data.map((r) => r.id);
    await pageInBoth(lists[0].list, { after: all[3], before: all[20], limit: 100 });
    const empty = { object: 'list', data: [], first_id: null, last_id: null, has_more: false };
    expect(await db.runs().api.listByThread(THREAD, { after: all[all.length - 1] })).toEqual(empty);
    expect(await db.runs().api.listByThread(THREAD, { before: all[0] })).toEqual(empty);
    expect(await db.runs().api.listByThread(uid('thread'))).toEqual(empty);
    expect(await db.runs().api.listByStatus('failed', { status: 'queued' })).toEqual(empty);
    expect(JSON.stringify(await db.runs().api.listByAssistant(uid('asst')))).toBe(JSON.stringify(await db.runs().listByAssistant(uid('asst'))));
  });
});

describe('errors: the same class and message from both forms', () => {
  const THREAD = uid('thread');
  let inThread = '';
  let elsewhere = '';

  beforeAll(async () => {
    const a = apiRunV2({ thread_id: THREAD, status: 'completed' });
    const b = apiRunV2({ status: 'completed' });
    await storeRuns(db.em(), [{ api: a }, { api: b }]);
    inThread = a.id;
    elsewhere = b.id;
  });

  async function errorOf(promise: Promise<unknown>): Promise<RunStoreError> {
    const error = await promise.then(() => null, (e: unknown) => e);
    expect(error).toBeInstanceOf(RunStoreError);
    return error as RunStoreError;
  }

  const calls: [string, (reads: RunRepository | RunRepository['api']) => Promise<unknown>][] = [
    ['limit 0', (r) => r.listByThread(THREAD, { limit: 0 })],
    ['limit 101', (r) => r.listByThread(THREAD, { limit: 101 })],
    ['limit 1.5', (r) => r.listByAssistant('asst', { limit: 1.5 })],
    ["limit '20'", (r) => r.listByStatus('queued', { limit: '20' as never })],
    ['order up', (r) => r.listByThread(THREAD, { order: 'up' as never })],
    ['unknown key', (r) => r.listByThread(THREAD, { befor: 'x' } as never)],
    ['bad status filter', (r) => r.listByThread(THREAD, { status: ['queued', 'nope' as never] })],
    ['empty thread id', (r) => r.listByThread('')],
    ['missing assistant id', (r) => r.listByAssistant(undefined as never)],
    ['empty status list', (r) => r.listByStatus([])],
    ['a cursor naming no run', (r) => r.listByThread(THREAD, { after: 'run_nope' })],
    ["a cursor naming another thread's run", (r) => r.listByThread(THREAD, { before: elsewhere })],
    ['a cursor outside the status filter', (r) => r.listByThread(THREAD, { status: 'failed', after: inThread })],
    ['a cursor of a list with no status', (r) => r.listByStatus('failed', { status: 'queued', after: inThread })],
    ['one good and one bad cursor', (r) => r.listByThread(THREAD, { after: inThread, before: elsewhere })],
  ];

  it.each(calls)('%s', async (_name, call) => {
    const managed = await errorOf(call(db.runs()));
    const api = await errorOf(call(db.runs().api));
    expect(managed).toBeInstanceOf(InvalidListQueryError);
    expect([api.constructor, api.message, (api as InvalidListQueryError).parameter]).toEqual([
      managed.constructor,
      managed.message,
      (managed as InvalidListQueryError).parameter,
    ]);
  });
});

describe('one statement per call', () => {
  const THREAD = uid('thread');
  const ASSISTANT = uid('asst');
  const ids: string[] = [];

  beforeAll(async () => {
    const runs = Array.from({ length: 30 }, (_, i) => apiRunWithEveryPart({ thread_id: i === 0 ? THREAD : uid('thread'), assistant_id: ASSISTANT, created_at: 1_716_000_000 + i }));
    runs[0].status = 'in_progress';
    for (const run of runs.slice(1)) run.status = 'failed';
    await db.runs().importRuns(runs);
    ids.push(...runs.map((r) => r.id));
  });

  async function statementsOf(call: (repo: RunRepository) => Promise<unknown>): Promise<string[]> {
    const { orm, statements } = await recordingOrm(db);
    try {
      const repo = orm.em.fork().getRepository(RunObject);
      statements.length = 0; // the ORM's own check of the database at start
      await call(repo);
      return [...statements];
    } finally {
      await orm.close(true);
    }
  }

  it.each([
    ['findById', (r: RunRepository) => r.api.findById(ids[0])],
    ['findById of no run', (r: RunRepository) => r.api.findById('run_none')],
    ['getById', (r: RunRepository) => r.api.getById(ids[1])],
    ['findActiveForThread', (r: RunRepository) => r.api.findActiveForThread(THREAD)],
    ['listByThread', (r: RunRepository) => r.api.listByThread(THREAD)],
    ['listByAssistant, 20 of 30 runs', (r: RunRepository) => r.api.listByAssistant(ASSISTANT)],
    ['listByAssistant after a cursor, backwards', (r: RunRepository) => r.api.listByAssistant(ASSISTANT, { before: ids[10], order: 'asc', limit: 100 })],
    ['listByStatus, several statuses', (r: RunRepository) => r.api.listByStatus(['failed', 'in_progress'], { limit: 100 })],
    ['the managed findActiveForThread too', (r: RunRepository) => r.findActiveForThread(THREAD)],
  ])('%s', async (_name, call) => {
    const statements = await statementsOf(call);
    expect(statements).toHaveLength(1);
    expect(statements[0]).toMatch(/^select /);
  });

  it('an empty page after a cursor: one more, to check the cursor (as the managed list)', async () => {
    expect(await statementsOf((r) => r.api.listByAssistant(ASSISTANT, { after: ids[0] }))).toHaveLength(2);
    expect(await statementsOf((r) => r.listByAssistant(ASSISTANT, { after: ids[0] }))).toHaveLength(2);
  });

  it('an export: one statement per page', async () => {
    const statements = await statementsOf(async (r) => {
      let n = 0;
      for await (const _ of r.api.export({ assistant_id: ASSISTANT }, 7)) n++;
      expect(n).toBe(30);
    });
    expect(statements).toHaveLength(5); // 7 + 7 + 7 + 7 + 2
  });
});

describe('export', () => {
  const ASSISTANT = uid('asst');
  const THREAD = uid('thread');
  const runs: ApiRunInput[] = [];

  beforeAll(async () => {
    for (let i = 0; i < 40; i++) {
      const run = i % 2 ? apiRunV1({ assistant_id: ASSISTANT, created_at: 1_716_000_000 + (i % 5) }) : apiRunWithEveryPart({ assistant_id: ASSISTANT, thread_id: i === 0 ? THREAD : uid('thread'), created_at: 1_716_000_000 + (i % 5) });
      if (i % 2 === 0 && i !== 0) run.status = 'expired';
      runs.push(run);
    }
    // several runs per millisecond: the keyset cursor must not skip or repeat any
    await storeRuns(db.em(), runs.map((api) => ({ api, ms: 250 })));
  });

  async function exported(filter: RunExportFilter, pageSize?: number): Promise<ApiRun[]> {
    const out: ApiRun[] = [];
    for await (const run of db.runs().api.export(filter, pageSize)) out.push(run);
    return out;
  }

  it('every matching run once, oldest first (then by id), each the managed run’s JSON', async () => {
    for (const pageSize of [1, 3, 40, 500]) {
      const out = await exported({ assistant_id: ASSISTANT }, pageSize);
      const managed = (await db.runs().listByAssistant(ASSISTANT, { order: 'asc', limit: 100 })).data;
      expect(JSON.stringify(out)).toBe(JSON.stringify(managed));
    }
  });

  it('filters: thread, status, created-at window', async () => {
    expect((await exported({ thread_id: THREAD })).map((r) => r.id)).toEqual([runs[0].id]);
    const expired = await exported({ assistant_id: ASSISTANT, status: 'expired' });
    expect(expired.map((r) => r.id).sort()).toEqual(runs.filter((r) => r.status === 'expired').map((r) => r.id).sort());
    expect(await exported({ assistant_id: ASSISTANT, status: ['expired', 'completed', 'requires_action'] })).toHaveLength(40);
    const window = await exported({ assistant_id: ASSISTANT, created_after: 1_716_000_001, created_before: 1_716_000_003 });
    expect(window.map((r) => r.id).sort()).toEqual(runs.filter((r) => r.created_at >= 1_716_000_001 && r.created_at < 1_716_000_003).map((r) => r.id).sort());
  });

  it('a bad filter is an InvalidListQueryError before any statement', async () => {
    for (const filter of [{ status: 'done' }, { thread: 'x' }, { created_after: 'yesterday' }, { assistant_id: '' }]) {
      const error = await exported(filter as never).then(() => null, (e: unknown) => e);
      expect(error).toBeInstanceOf(InvalidListQueryError);
    }
    expect(await exported({ status: [] as never }).then(() => null, (e: unknown) => e)).toBeInstanceOf(InvalidListQueryError);
    expect(await exported({}, 0).then(() => null, (e: unknown) => e)).toBeInstanceOf(InvalidListQueryError);
  });
});
