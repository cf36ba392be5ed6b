/**
 * Forced interleavings: hold a row lock (or a whole transaction) from a second connection, start
 * the operation under test, wait until PostgreSQL shows it waiting on that lock
 * (`pg_stat_activity.wait_event_type = 'Lock'`, blocked by the holder's backend), then commit or
 * roll back the holder and assert the outcome. Every wait is bounded (`LOCK_WAIT_TIMEOUT_MS`).
 */
import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import { Client } from 'pg';
import type { TestDatabase } from './test-database';

/** How long an operation may take to show up as waiting (or to finish) before the test fails. */
export const LOCK_WAIT_TIMEOUT_MS = 5_000;
const POLL_MS = 5;

/** A transaction that the test holds open, and the backend it runs on. */
export interface HeldTransaction {
  /** The holder's backend pid (what `pg_blocking_pids` names). */
  readonly pid: number;
  /** A statement inside the held transaction (plain `pg`, `$n` placeholders). */
  query<T extends Record<string, unknown> = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  /** Ends the transaction; later calls do nothing. */
  commit(): Promise<void>;
  rollback(): Promise<void>;
}

/** A transaction begun on a new plain `pg` connection to `db.url` (closed when it ends). */
export async function holdTransaction(db: Pick<TestDatabase, 'url'>): Promise<HeldTransaction> {
  const client = new Client({ connectionString: db.url });
  await client.connect();
  const [{ pid }] = (await client.query<{ pid: number }>('select pg_backend_pid() as pid')).rows;
  await client.query('begin');
  let open = true;
  const end = async (how: 'commit' | 'rollback') => {
    if (!open) return;
    open = false;
    try {
      await client.query(how);
    } finally {
      await client.end();
    }
  };
  return {
    pid,
    query: async (sql, params = []) => (await client.query(sql, params)).rows,
    commit: () => end('commit'),
    rollback: () => end('rollback'),
  };
}

class Rollback extends Error {}

/**
 * `work` run inside `em.transactional` of `orm` (the package's own code, e.g. a repository's
 * transition on that transaction's entity manager), then the transaction is kept open until
 * `commit()` or `rollback()`. Fails if `work` does.
 */
export async function holdOrmTransaction<T>(
  orm: MikroORM,
  work: (em: EntityManager) => Promise<T>,
): Promise<Omit<HeldTransaction, 'query'> & { result: T }> {
  let release!: (how: 'commit' | 'rollback') => void;
  const released = new Promise<'commit' | 'rollback'>((resolve) => (release = resolve));
  let ready!: (value: { pid: number; result: T }) => void;
  const inside = new Promise<{ pid: number; result: T }>((resolve) => (ready = resolve));
  const done = orm.em.fork().transactional(async (em) => {
    const [{ pid }] = await em.getConnection().execute<{ pid: number }[]>('select pg_backend_pid() as pid', [], 'all', em.getTransactionContext());
    ready({ pid, result: await work(em) });
    if ((await released) === 'rollback') throw new Rollback();
  });
  const ended = done.then(
    () => undefined,
    (error: unknown) => {
      if (!(error instanceof Rollback)) throw error;
    },
  );
  const { pid, result } = await Promise.race([inside, ended.then(() => Promise.reject(new Error('the held transaction ended early')))]);
  const end = (how: 'commit' | 'rollback') => {
    release(how);
    return ended;
  };
  return { pid, result, commit: () => end('commit'), rollback: () => end('rollback') };
}

interface Blocked {
  pid: number;
  wait_event: string;
}

/** Whose locks a wait must be on: a holder's backend pid, or `'anyone'` (any lock wait in the database). */
export type Blocker = number | 'anyone';

/** Backends of the database that wait on a heavyweight lock (one that `blocker` holds). */
async function blockedBy(monitor: Client, blocker: Blocker): Promise<Blocked[]> {
  const { rows } = await monitor.query<Blocked>(
    `select pid, wait_event from pg_stat_activity
      where datname = current_database() and wait_event_type = 'Lock' and ($1::int is null or $1::int = any(pg_blocking_pids(pid)))`,
    [blocker === 'anyone' ? null : blocker],
  );
  return rows;
}

async function withMonitor<T>(db: TestDatabase, body: (monitor: Client) => Promise<T>): Promise<T> {
  // its own connection, outside any transaction: pg_stat_activity is a snapshot per transaction
  const monitor = new Client({ connectionString: db.url });
  await monitor.connect();
  try {
    return await body(monitor);
  } finally {
    await monitor.end();
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

type Settled = { done: false } | { done: true; outcome: string };

/** Tracks whether one of `operations` has settled, without turning a rejection into an unhandled one. */
function track(operations: readonly Promise<unknown>[]): { state: () => Settled } {
  let settled: Settled = { done: false };
  for (const op of operations) {
    op.then(
      () => {
        if (!settled.done) settled = { done: true, outcome: 'succeeded' };
      },
      (error: unknown) => {
        if (!settled.done) settled = { done: true, outcome: `failed (${String(error)})` };
      },
    );
  }
  return { state: () => settled };
}

/**
 * Waits until at least `count` backends wait on a lock that `blocker` holds, while `operations`
 * are still running; returns those backends' pids. Fails if an operation settles first (it did
 * not wait, so the interleaving was not forced) or after `timeoutMs`.
 */
export async function untilBlocked(
  db: TestDatabase,
  blocker: Blocker,
  operations: Promise<unknown> | readonly Promise<unknown>[],
  { count = 1, timeoutMs = LOCK_WAIT_TIMEOUT_MS }: { count?: number; timeoutMs?: number } = {},
): Promise<number[]> {
  const watched = track(Array.isArray(operations) ? operations : [operations as Promise<unknown>]);
  return withMonitor(db, async (monitor) => {
    const deadline = Date.now() + timeoutMs;
    let seen: Blocked[] = [];
    for (;;) {
      seen = await blockedBy(monitor, blocker);
      if (seen.length >= count) return seen.map((b) => b.pid);
      const state = watched.state();
      if (state.done) throw new Error(`an operation ${state.outcome} without waiting on the held lock (${seen.length} of ${count} backends waited)`);
      if (Date.now() > deadline) throw new Error(`after ${timeoutMs} ms only ${seen.length} of ${count} backends wait on the held lock`);
      await sleep(POLL_MS);
    }
  });
}

/**
 * Awaits `operation`, checking all along that it never waits on a lock `holderPid` holds; fails as
 * soon as something does, or after `timeoutMs`. (The caller releases the holder afterwards, in a
 * `finally`, so that a failed check does not leave the operation hanging.)
 */
export async function withoutWaiting<T>(db: TestDatabase, holderPid: number, operation: Promise<T>, timeoutMs = LOCK_WAIT_TIMEOUT_MS): Promise<T> {
  const watched = track([operation]);
  await withMonitor(db, async (monitor) => {
    const deadline = Date.now() + timeoutMs;
    while (!watched.state().done) {
      const seen = await blockedBy(monitor, holderPid);
      if (seen.length > 0) throw new Error(`the operation waits on the held lock (${seen.map((b) => `${b.pid}: ${b.wait_event}`).join(', ')})`);
      if (Date.now() > deadline) throw new Error(`the operation did not finish within ${timeoutMs} ms`);
      await sleep(POLL_MS);
    }
  });
  return operation;
}

/** `promise`, or a failure after `ms` (so that a forced wait that never ends fails the test instead of hanging it). */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * The forced interleaving: starts `operation` while `holder` holds its lock, waits until the
 * operation waits on it, runs `whileWaiting`, ends the holder (`end`, default commit) and returns
 * the operation's result (bounded). The holder is rolled back if anything on the way fails.
 */
export async function behind<T>(
  db: TestDatabase,
  holder: Pick<HeldTransaction, 'pid' | 'commit' | 'rollback'>,
  operation: () => Promise<T>,
  { end = 'commit', whileWaiting }: { end?: 'commit' | 'rollback'; whileWaiting?: () => Promise<void> } = {},
): Promise<T> {
  let running: Promise<T>;
  try {
    running = operation();
    await untilBlocked(db, holder.pid, running);
    await whileWaiting?.();
    await (end === 'commit' ? holder.commit() : holder.rollback());
  } finally {
    await holder.rollback();
  }
  return within(running, LOCK_WAIT_TIMEOUT_MS, 'the operation, once the holder ended,');
}

/**
 * Runs `callers` really side by side: a transaction locks `table` in EXCLUSIVE mode (which every
 * statement that writes or locks its rows waits for), the callers start, and only once every one
 * of them waits on that lock (one backend each) is it released, so that their first statements
 * run at the same moment. Returns what the callers return.
 */
export async function startTogether<T>(db: TestDatabase, table: string, callers: readonly (() => Promise<T>)[]): Promise<T[]> {
  const gate = await holdTransaction(db);
  let running: Promise<T>[] = [];
  try {
    await gate.query(`lock table ${table} in exclusive mode`);
    running = callers.map((caller) => caller());
    await untilBlocked(db, gate.pid, running, { count: callers.length });
    await gate.commit();
  } finally {
    await gate.rollback();
  }
  return within(Promise.all(running), 60_000, 'the callers started together');
}
