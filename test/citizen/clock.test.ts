/**
 * One clock (issue 15): every timestamp of a run comes from the database's clock, `create`'s
 * `created_at` and `expires_at` included, whatever the service's process clock says. The process
 * clock is faked here (jest's fake `Date`, nothing else faked) 5 s ahead of or behind the real one.
 */
import type { MikroORM } from '@mikro-orm/postgresql';
import { RunObject } from '../../src';
import { createInput, uid } from '../factories';
import { useTestDatabase } from '../support/test-database';

const db = useTestDatabase();

jest.setTimeout(60_000);

/** Everything jest can fake except `Date`: pg, knex and the test's waits keep the real timers. */
const ALL_BUT_DATE = [
  'hrtime', 'nextTick', 'performance', 'queueMicrotask', 'requestAnimationFrame', 'cancelAnimationFrame', 'requestIdleCallback',
  'cancelIdleCallback', 'setImmediate', 'clearImmediate', 'setInterval', 'clearInterval', 'setTimeout', 'clearTimeout',
] as const;

/** The real time in ms (`performance` is not faked). */
const realNow = () => performance.timeOrigin + performance.now();

/** The process clock from now on: the real one shifted by `skewMs` (and running). */
function skewProcessClock(skewMs: number): void {
  jest.useFakeTimers({ doNotFake: [...ALL_BUT_DATE], advanceTimers: true });
  jest.setSystemTime(realNow() + skewMs);
}

afterEach(() => jest.useRealTimers());

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The database clock in ms, truncated (`'floor'`) or rounded up (`'ceil'`) to the millisecond the columns keep. */
async function databaseNow(how: 'floor' | 'ceil'): Promise<number> {
  const [{ ms }] = await db.sql<{ ms: string }>(`select ${how}(extract(epoch from clock_timestamp()) * 1000)::bigint::text as ms`);
  return Number(ms);
}

interface Stamps {
  created: number;
  expires: number | null;
  started: number | null;
  completed: number | null;
}

async function storedStamps(id: string): Promise<Stamps> {
  const [row] = await db.sql<Record<keyof Stamps, string | null>>(
    `select (extract(epoch from created_at) * 1000)::bigint::text as created, (extract(epoch from expires_at) * 1000)::bigint::text as expires,
            (extract(epoch from started_at) * 1000)::bigint::text as started, (extract(epoch from completed_at) * 1000)::bigint::text as completed
       from run_object where id = $1`,
    [id],
  );
  const n = (v: string | null) => (v === null ? null : Number(v));
  return { created: Number(row.created), expires: n(row.expires), started: n(row.started), completed: n(row.completed) };
}

describe.each([
  ['5 s ahead of', 5_000],
  ['5 s behind', -5_000],
])('the process clock %s the database', (_name, skew) => {
  it('create stamps created_at from the database clock and expires_at = created_at + TTL; the run it returns carries the stored times', async () => {
    skewProcessClock(skew);
    expect(Math.abs(Date.now() - realNow() - skew)).toBeLessThan(1_000); // the fake clock is in effect
    const before = await databaseNow('floor');
    const run = await db.runs().create(createInput());
    const after = await databaseNow('ceil');
    const stored = await storedStamps(run.id);
    expect(stored.created).toBeGreaterThanOrEqual(before);
    expect(stored.created).toBeLessThanOrEqual(after);
    expect(stored.expires).toBe(stored.created + 600_000);
    expect(run.createdAt.getTime()).toBe(stored.created);
    expect(run.expiresAt?.getTime()).toBe(stored.expires);
    expect(run.toJSON()).toMatchObject({ created_at: Math.floor(stored.created / 1000), expires_at: Math.floor(stored.expires! / 1000) });
  });

  it('started_at and completed_at never come before created_at', async () => {
    skewProcessClock(skew);
    const runs = db.runs();
    const run = await runs.create(createInput());
    await runs.start(run.id);
    await runs.complete(run.id);
    const stored = await storedStamps(run.id);
    expect(stored.started).toBeGreaterThanOrEqual(stored.created);
    expect(stored.completed).toBeGreaterThanOrEqual(stored.started!);
  });
});

it('runs list in the order they were created while the process clock jumps ±5 s between creates', async () => {
  const assistant = uid('asst');
  const created: string[] = [];
  for (const skew of [5_000, -5_000, 5_000, -5_000]) {
    skewProcessClock(skew);
    created.push((await db.runs().create(createInput({ assistant_id: assistant }))).id);
    jest.useRealTimers();
    await sleep(3); // one millisecond (the columns' precision) at least between two creates
  }
  const listed = await db.runs().listByAssistant(assistant, { order: 'asc' });
  expect(listed.data.map((r) => r.id)).toEqual(created);
  const stamps = await Promise.all(created.map(async (id) => (await storedStamps(id)).created));
  expect(stamps).toEqual([...stamps].sort((a, b) => a - b));
  expect(new Set(stamps).size).toBe(stamps.length);
});

describe('expiry follows the database clock (a TTL of 3 s)', () => {
  let orm: MikroORM;
  beforeAll(async () => {
    orm = await db.createOrm({}, { runTtlSeconds: 3 });
  });
  const runs = () => orm.em.fork().getRepository(RunObject);
  const statusOf = async (id: string) => (await db.sql<{ status: string }>(`select status from run_object where id = $1`, [id]))[0].status;

  it('a run created with the process clock 5 s behind is not overdue at once (TTL 3 s)', async () => {
    skewProcessClock(-5_000);
    const run = await runs().create(createInput());
    expect(await runs().expireOverdue()).toBe(0);
    expect(await statusOf(run.id)).toBe('queued');
  });

  it('a run created with the process clock 5 s ahead expires exactly TTL after its created_at', async () => {
    skewProcessClock(5_000);
    const run = await runs().create(createInput());
    jest.useRealTimers();
    const { created, expires } = await storedStamps(run.id);
    expect(expires).toBe(created + 3_000);
    await runs().expireOverdue(new Date(expires! - 1));
    expect(await statusOf(run.id)).toBe('queued');
    await runs().expireOverdue(new Date(expires!));
    expect(await statusOf(run.id)).toBe('expired');
  });
});
