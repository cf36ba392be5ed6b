/**
 * Exhaustive keyset paging on real PostgreSQL: ~1,050 runs over four threads and three
 * assistants, most of them sharing a `created_at` second (a third also sharing the millisecond).
 * Every walk — forward with `after`, backward with `before`, in both orders — must visit each
 * run of the list exactly once, in the order of an in-memory sort, with fully loaded runs.
 */
import type { ApiRun, ApiRunInput, ApiRunList, RunListQuery, RunStatus } from '../../src/api/types';
import { TERMINAL_STATUSES } from '../../src/api/types';
import type { RunObject } from '../../src/entities/run-object.entity';
import type { RunRepository } from '../../src/repositories/run.repository';
import { apiRunV2, uid } from '../factories';
import { useTestDatabase } from '../support/test-database';
import { storeRuns, type SeedRun } from './support';

const db = useTestDatabase();

const BASE = 1_716_000_000;
const THREADS = [0, 1, 2, 3].map(() => uid('thread'));
const ASSISTANTS = [0, 1, 2].map(() => uid('asst'));
const ACTIVE: RunStatus[] = ['queued', 'in_progress', 'requires_action', 'cancelling'];

/** A deterministic pseudo-random sequence, so a failure can be replayed. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1_664_525) + 1_013_904_223) >>> 0;
    return s / 2 ** 32;
  };
}

/** An API run of `status` with the parts that status carries, and a varying set of collections. */
function runOf(status: RunStatus, i: number, overrides: Partial<ApiRun>): ApiRun | ApiRunInput {
  const run: ApiRun = apiRunV2({ status, ...overrides });
  if (i % 3 === 0) run.tools = [{ type: 'code_interpreter' }, { type: 'function', function: { name: `fn_${i}`, parameters: { type: 'object' } } }];
  if (i % 5 === 0) run.file_ids = [`file-${i}-a`, `file-${i}-b`];
  if (status === 'requires_action') {
    run.required_action = {
      type: 'submit_tool_outputs',
      submit_tool_outputs: { tool_calls: [{ id: `call_${i}`, type: 'function', function: { name: `fn_${i}`, arguments: '{}' } }] },
    };
  }
  if (status === 'failed') run.last_error = { code: 'server_error', message: `boom ${i}` };
  if (status === 'incomplete') run.incomplete_details = { reason: 'max_prompt_tokens' };
  if (status === 'completed' || status === 'failed') run.usage = { prompt_tokens: i, completion_tokens: 2 * i, total_tokens: 3 * i };
  return run;
}

interface Stored {
  api: ApiRun | ApiRunInput;
  ms: number; // created_at in ms, as stored
}

const stored: Stored[] = [];
let idRank = new Map<string, number>();

beforeAll(async () => {
  const random = prng(42);
  const seeds: SeedRun[] = [];
  const add = (status: RunStatus, threadId: string, assistantId: string) => {
    const i = seeds.length;
    const second = BASE + Math.floor(random() * 60); // ~17 runs per second
    const ms = i % 3 === 0 ? 0 : i % 3 === 1 ? Math.floor(random() * 1000) : 500; // whole seconds, random ms, one shared ms
    const api = runOf(status, i, { created_at: second, thread_id: threadId, assistant_id: assistantId });
    seeds.push({ api, ms });
    stored.push({ api, ms: second * 1000 + ms });
  };
  // Terminal runs over four threads (the thread lock allows any number of those)…
  for (let i = 0; i < 1000; i++) add(TERMINAL_STATUSES[Math.floor(random() * 5)], THREADS[i % 4], ASSISTANTS[i % 3]);
  // …one active run per thread, and more active runs each on a thread of its own.
  THREADS.forEach((t, i) => add(ACTIVE[i], t, ASSISTANTS[i % 3]));
  for (let i = 0; i < 48; i++) add(ACTIVE[i % 4], uid('thread'), ASSISTANTS[i % 3]);
  await storeRuns(db.em(), seeds);
  // Ties on created_at are broken by id, in the database's collation of ids.
  idRank = new Map((await db.sql<{ id: string }>('select id from run_object order by id')).map((r, i) => [r.id, i]));
});

/** The list's members in the API order, by an in-memory sort of what was stored. */
function expected(member: (run: Stored['api']) => boolean, order: 'asc' | 'desc'): string[] {
  const sign = order === 'asc' ? 1 : -1;
  return stored
    .filter((s) => member(s.api))
    .sort((a, b) => sign * (a.ms - b.ms || idRank.get(a.api.id)! - idRank.get(b.api.id)!))
    .map((s) => s.api.id);
}

type Lister = (repo: RunRepository, query: RunListQuery) => Promise<ApiRunList<RunObject>>;

const byId = new Map<string, Stored['api']>();
const apiOf = (id: string) => {
  if (byId.size === 0) for (const s of stored) byId.set(s.api.id, s.api);
  return byId.get(id)!;
};

/** Checks one page: its shape, its size, and every run fully loaded (the API object as imported). */
function checkPage(page: ApiRunList<RunObject>, limit: number): string[] {
  const json = JSON.parse(JSON.stringify(page));
  expect(Object.keys(json)).toEqual(['object', 'data', 'first_id', 'last_id', 'has_more']);
  expect(json.object).toBe('list');
  expect(page.data.length).toBeLessThanOrEqual(limit);
  if (page.has_more) expect(page.data.length).toBe(limit);
  const ids = page.data.map((r) => r.id);
  expect(json.first_id).toBe(ids[0] ?? null);
  expect(json.last_id).toBe(ids[ids.length - 1] ?? null);
  for (const run of json.data) expect(run).toEqual(apiOf(run.id));
  return ids;
}

async function walkForward(list: Lister, order: 'asc' | 'desc', limit: number, status?: RunListQuery['status']): Promise<string[]> {
  const seen: string[] = [];
  let after: string | undefined;
  for (;;) {
    const page = await list(db.runs(), { order, limit, after, ...(status ? { status } : {}) });
    seen.push(...checkPage(page, limit));
    if (!page.has_more) return seen;
    after = page.last_id!;
  }
}

/** From the list's last run backwards: each page is the runs just before the previous page's first. */
async function walkBackward(list: Lister, order: 'asc' | 'desc', limit: number, status?: RunListQuery['status']): Promise<string[]> {
  const opposite = order === 'asc' ? 'desc' : 'asc';
  const last = (await list(db.runs(), { order: opposite, limit: 1, ...(status ? { status } : {}) })).first_id!;
  const seen: string[] = [last];
  let before = last;
  for (;;) {
    const page = await list(db.runs(), { order, limit, before, ...(status ? { status } : {}) });
    seen.unshift(...checkPage(page, limit));
    if (!page.has_more) return seen;
    before = page.first_id!;
  }
}

const cases: { name: string; list: Lister; member: (r: Stored['api']) => boolean; limit: number; status?: RunListQuery['status'] }[] = [
  { name: 'a thread', list: (r, q) => r.listByThread(THREADS[0], q), member: (a) => a.thread_id === THREADS[0], limit: 17 },
  {
    name: 'a thread, filtered by two statuses',
    list: (r, q) => r.listByThread(THREADS[1], q),
    member: (a) => a.thread_id === THREADS[1] && ['failed', 'expired'].includes(a.status),
    limit: 9,
    status: ['failed', 'expired'],
  },
  { name: 'an assistant', list: (r, q) => r.listByAssistant(ASSISTANTS[1], q), member: (a) => a.assistant_id === ASSISTANTS[1], limit: 100 },
  {
    name: 'an assistant, filtered by one status',
    list: (r, q) => r.listByAssistant(ASSISTANTS[0], q),
    member: (a) => a.assistant_id === ASSISTANTS[0] && a.status === 'completed',
    limit: 11,
    status: 'completed',
  },
  {
    name: 'an assistant, filtered by three statuses',
    list: (r, q) => r.listByAssistant(ASSISTANTS[2], q),
    member: (a) => a.assistant_id === ASSISTANTS[2] && ['cancelled', 'queued', 'incomplete'].includes(a.status),
    limit: 13,
    status: ['cancelled', 'queued', 'incomplete'],
  },
  { name: 'one status', list: (r, q) => r.listByStatus('cancelled', q), member: (a) => a.status === 'cancelled', limit: 20 },
  {
    name: 'several statuses',
    list: (r, q) => r.listByStatus(['requires_action', 'failed', 'in_progress'], q),
    member: (a) => ['requires_action', 'failed', 'in_progress'].includes(a.status),
    limit: 19,
  },
];

describe.each(cases)('paging through $name', ({ list, member, limit, status }) => {
  it.each(['desc', 'asc'] as const)('%s: forward with after and backward with before, each run exactly once, in order', async (order) => {
    const want = expected(member, order);
    expect(want.length).toBeGreaterThan(2 * limit); // several pages, whatever the seed
    expect(await walkForward(list, order, limit, status)).toEqual(want);
    expect(await walkBackward(list, order, limit, status)).toEqual(want);
  });
});

describe('pages of runs that share a created_at', () => {
  it('the data set really has many runs per second and per millisecond', () => {
    const perMs = new Map<number, number>();
    for (const s of stored) perMs.set(s.ms, (perMs.get(s.ms) ?? 0) + 1);
    expect(Math.max(...perMs.values())).toBeGreaterThan(5);
  });

  it('after and before together: the page lies between them', async () => {
    const want = expected((a) => a.thread_id === THREADS[2], 'desc');
    const [after, before] = [want[10], want[40]];
    const page = await db.runs().listByThread(THREADS[2], { after, before, limit: 100 });
    expect(page.data.map((r) => r.id)).toEqual(want.slice(11, 40));
    expect(page.has_more).toBe(false);
    const first = await db.runs().listByThread(THREADS[2], { after, before, limit: 5 });
    expect(first.data.map((r) => r.id)).toEqual(want.slice(11, 16));
    expect(first.has_more).toBe(true);
    const asc = await db.runs().listByThread(THREADS[2], { order: 'asc', after: before, before: after, limit: 100 });
    expect(asc.data.map((r) => r.id)).toEqual(want.slice(11, 40).reverse());
  });

  it('a page just before the first run, or just after the last, is empty', async () => {
    const want = expected((a) => a.thread_id === THREADS[3], 'desc');
    expect(await db.runs().listByThread(THREADS[3], { before: want[0] })).toEqual({ object: 'list', data: [], first_id: null, last_id: null, has_more: false });
    expect(await db.runs().listByThread(THREADS[3], { after: want[want.length - 1] })).toEqual({ object: 'list', data: [], first_id: null, last_id: null, has_more: false });
    expect((await db.runs().listByThread(THREADS[3], { after: want[3], before: want[4] })).data).toEqual([]);
  });

  it('the defaults: 20 runs, newest first', async () => {
    const page = await db.runs().listByThread(THREADS[0]);
    expect(page.data.map((r) => r.id)).toEqual(expected((a) => a.thread_id === THREADS[0], 'desc').slice(0, 20));
    expect(page.has_more).toBe(true);
  });
});

describe('filters never leak', () => {
  it("a thread's list holds only that thread's runs, of the asked statuses", async () => {
    const page = await db.runs().listByThread(THREADS[2], { limit: 100, status: 'requires_action' });
    expect(page.data.map((r) => [r.threadId, r.status])).toEqual([[THREADS[2], 'requires_action']]);
    const all = await walkForward((r, q) => r.listByThread(THREADS[0], q), 'desc', 100);
    expect(new Set(all.map((id) => apiOf(id).thread_id))).toEqual(new Set([THREADS[0]]));
  });

  it('a list of statuses and an extra status filter: the runs in both', async () => {
    const page = await db.runs().listByStatus(['failed', 'queued'], { status: ['queued', 'expired'], limit: 100 });
    expect(page.data.map((r) => r.id)).toEqual(expected((a) => a.status === 'queued', 'desc'));
    expect(await db.runs().listByStatus('failed', { status: 'queued' })).toEqual({ object: 'list', data: [], first_id: null, last_id: null, has_more: false });
  });

  it('an unknown thread, assistant or an empty status has an empty page', async () => {
    expect((await db.runs().listByThread(uid('thread'))).data).toEqual([]);
    expect((await db.runs().listByAssistant(uid('asst'))).data).toEqual([]);
  });
});
