/** countByStatus and usageTotals: one statement each, exact numbers, filters that hold. */
import { RUN_STATUSES, type ApiRun, type RunStatus } from '../../src/api/types';
import { RunObject } from '../../src/entities/run-object.entity';
import { InvalidListQueryError } from '../../src/errors';
import { apiRunV2, uid } from '../factories';
import { useTestDatabase } from '../support/test-database';
import { recordingOrm } from '../support/recording-orm';
import { storeRuns, type SeedRun } from './support';

const db = useTestDatabase();

const T1 = uid('thread');
const T2 = uid('thread');
const A1 = uid('asst');
const A2 = uid('asst');
const S = 1_716_000_000;
const BIG = 2_000_000_000; // sums of a few of these overflow int4, and come back from pg as bigint strings

const seeds: SeedRun[] = [];
function add(status: RunStatus, thread: string, assistant: string, second: number, ms: number, tokens: number | null): ApiRun {
  const api = apiRunV2({
    status,
    thread_id: thread,
    assistant_id: assistant,
    created_at: second,
    usage: tokens === null ? null : { prompt_tokens: tokens, completion_tokens: 1, total_tokens: tokens + 1 },
  });
  seeds.push({ api, ms });
  return api;
}

beforeAll(async () => {
  add('completed', T1, A1, S, 0, 10); //          T1 A1  S+0.000
  add('completed', T1, A1, S, 999, 20); //        T1 A1  S+0.999
  add('failed', T1, A2, S + 1, 0, null); //       T1 A2  S+1.000
  add('queued', T1, A2, S + 2, 500, null); //     T1 A2  S+2.500
  add('completed', T2, A1, S + 3, 0, BIG); //     T2 A1  S+3.000
  add('completed', T2, A1, S + 3, 1, BIG); //     T2 A1  S+3.001
  add('incomplete', T2, A2, S + 4, 0, 5); //      T2 A2  S+4.000
  add('requires_action', uid('thread'), A2, S + 5, 0, 7);
  await storeRuns(db.em(), seeds);
});

const zeros = Object.fromEntries(RUN_STATUSES.map((s) => [s, 0]));

describe('countByStatus', () => {
  it('all nine statuses, zeros included', async () => {
    const counts = await db.runs().countByStatus();
    expect(Object.keys(counts).sort()).toEqual([...RUN_STATUSES].sort());
    expect(counts).toEqual({ ...zeros, completed: 4, failed: 1, queued: 1, incomplete: 1, requires_action: 1 });
  });

  it('by thread, by assistant, by both', async () => {
    expect(await db.runs().countByStatus({ thread_id: T1 })).toEqual({ ...zeros, completed: 2, failed: 1, queued: 1 });
    expect(await db.runs().countByStatus({ assistant_id: A2 })).toEqual({ ...zeros, failed: 1, queued: 1, incomplete: 1, requires_action: 1 });
    expect(await db.runs().countByStatus({ thread_id: T2, assistant_id: A1 })).toEqual({ ...zeros, completed: 2 });
    expect(await db.runs().countByStatus({ thread_id: uid('thread') })).toEqual(zeros);
  });

  it('in a created-at window, with the same bounds as usageTotals (created_after inclusive, created_before exclusive)', async () => {
    for (const window of [
      { created_after: S, created_before: S + 1 },
      { created_after: S + 1, created_before: S + 3 },
      { created_after: S + 3, assistant_id: A1 },
      { created_before: S },
      { created_after: S + 0.5, created_before: S + 1, thread_id: T1 },
    ]) {
      const counts = await db.runs().countByStatus(window);
      const total = Object.values(counts).reduce((a, b) => a + b, 0);
      expect(total).toBe((await db.runs().usageTotals(window)).runs);
    }
    expect(await db.runs().countByStatus({ created_before: S })).toEqual(zeros);
    const all = await db.runs().countByStatus({ created_after: S, created_before: S + 1_000 });
    expect(all).toEqual(await db.runs().countByStatus());
  });

  it('numbers, not strings', async () => {
    for (const n of Object.values(await db.runs().countByStatus())) expect(typeof n).toBe('number');
  });
});

describe('usageTotals', () => {
  it('every run counts, with or without usage; sums past int4 are exact numbers', async () => {
    expect(await db.runs().usageTotals()).toEqual({
      runs: 8,
      prompt_tokens: 10 + 20 + 2 * BIG + 5 + 7,
      completion_tokens: 6,
      total_tokens: 10 + 20 + 2 * BIG + 5 + 7 + 6,
    });
  });

  it('by thread and by assistant', async () => {
    expect(await db.runs().usageTotals({ thread_id: T1 })).toEqual({ runs: 4, prompt_tokens: 30, completion_tokens: 2, total_tokens: 32 });
    expect(await db.runs().usageTotals({ assistant_id: A2, thread_id: T2 })).toEqual({ runs: 1, prompt_tokens: 5, completion_tokens: 1, total_tokens: 6 });
    expect(await db.runs().usageTotals({ assistant_id: uid('asst') })).toEqual({ runs: 0, prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 });
  });

  it('created_after is inclusive, created_before exclusive, on the stored (sub-second) time', async () => {
    // [S, S+1): both runs of second S (S+0.000 and S+0.999)
    expect((await db.runs().usageTotals({ created_after: S, created_before: S + 1 })).runs).toBe(2);
    // [S+1, S+3): S+1.000 and S+2.500
    expect((await db.runs().usageTotals({ created_after: S + 1, created_before: S + 3 })).runs).toBe(2);
    // [S+3, ∞) with A1: the two big ones
    expect(await db.runs().usageTotals({ created_after: S + 3, assistant_id: A1 })).toEqual({ runs: 2, prompt_tokens: 2 * BIG, completion_tokens: 2, total_tokens: 2 * BIG + 2 });
    // fractional seconds compare as given: S+0.5 leaves out S+0.000 only
    expect((await db.runs().usageTotals({ created_after: S + 0.5, created_before: S + 1 })).runs).toBe(1);
    expect((await db.runs().usageTotals({ created_before: S })).runs).toBe(0);
  });

  it('a malformed filter is a typed error naming the field', async () => {
    for (const [filter, field] of [
      [{ created_after: '2024-01-01' }, 'created_after'],
      [{ created_before: Number.POSITIVE_INFINITY }, 'created_before'],
      [{ thread_id: '' }, 'thread_id'],
      [{ threadId: T1 }, 'threadId'],
    ] as const) {
      const error = await db.runs().usageTotals(filter as never).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(InvalidListQueryError);
      expect((error as InvalidListQueryError).parameter).toBe(field);
    }
    const error = await db.runs().countByStatus({ assistantId: A1 } as never).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidListQueryError);
    const badWindow = await db.runs().countByStatus({ created_after: 'yesterday' } as never).catch((e: unknown) => e);
    expect(badWindow).toBeInstanceOf(InvalidListQueryError);
    expect((badWindow as InvalidListQueryError).parameter).toBe('created_after');
  });
});

it('each aggregate is one statement', async () => {
  const { orm, statements } = await recordingOrm(db);
  const repo = orm.em.fork().getRepository(RunObject);
  statements.length = 0;
  await repo.countByStatus({ thread_id: T1, assistant_id: A1 });
  expect(statements).toHaveLength(1);
  expect(statements[0]).toMatch(/group by r\."status"$/);
  statements.length = 0;
  await repo.usageTotals({ thread_id: T1, assistant_id: A1, created_after: S, created_before: S + 10 });
  expect(statements).toHaveLength(1);
  expect(statements[0]).toMatch(/left join "run_usage" u/);
});
