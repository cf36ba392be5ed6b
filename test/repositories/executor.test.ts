/**
 * The executor's rules for a statement that failed (src/repositories/executor.ts and db-errors.ts),
 * each forced on the real server: the statement under test is made to wait on a lock a second
 * connection holds, seen waiting in pg_stat_activity, and then its backend is terminated
 * (`pg_terminate_backend`, on this file's own database only) or made the victim of a deadlock.
 * - a write whose connection was lost is never repeated (its outcome is unknown), a read is;
 * - the administrator's termination (57P01) is a lost connection;
 * - inside the caller's transaction nothing is retried (the transaction is aborted: a second try
 *   could only fail, and hide the first failure) and nothing is retryable — not even a prepared
 *   statement gone stale, which outside a transaction is prepared again under a new name.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import { RunObject, RunStoreUnavailableError } from '../../src';
import { holdTransaction, untilBlocked, within } from '../support/lock-wait';
import { useTestDatabase } from '../support/test-database';
import { seedRuns, statusesOf } from '../lifecycle/seed';

const db = useTestDatabase();

jest.setTimeout(20_000);

/** How long a failed call may take to reach the caller (the retries' backoff is far shorter). */
const SETTLE_MS = 3_000;

const lockRow = 'select id from run_object where id = $1 for update';

/** Ends the backend `pid` of this file's database, as an administrator would, and waits until it is gone. */
async function terminate(pid: number): Promise<void> {
  const [row] = await db.sql<{ ended: boolean }>(
    'select pg_terminate_backend(pid, 5000) as ended from pg_stat_activity where pid = $1 and datname = current_database()',
    [pid],
  );
  expect(row?.ended).toBe(true);
}

/** The rejection of `operation` (bounded), failing if it succeeds. */
async function rejectionOf(operation: Promise<unknown>, what: string): Promise<unknown> {
  return within(
    operation.then(
      () => {
        throw new Error(`${what} succeeded`);
      },
      (error: unknown) => error,
    ),
    SETTLE_MS,
    what,
  );
}

async function inProgressRun(): Promise<string> {
  const [id] = await seedRuns(db, 1, { statuses: ['in_progress'] });
  return id;
}


describe('a statement whose backend is terminated', () => {
  it('a write (outside any transaction): connection_lost, retryable, outcome unknown, and NOT repeated', async () => {
    const id = await inProgressRun();
    const holder = await holdTransaction(db);
    try {
      await holder.query(lockRow, [id]);
      const completing = db.runs().complete(id);
      const [pid] = await untilBlocked(db, holder.pid, completing);
      await terminate(pid);
      // (a second try would wait for the row again, and the call would not settle)
      const error = await rejectionOf(completing, 'complete');
      expect(error).toBeInstanceOf(RunStoreUnavailableError);
      expect(error).toMatchObject({ reason: 'connection_lost', code: '57P01', retryable: true, outcomeUnknown: true });
    } finally {
      await holder.rollback();
    }
    expect(await statusesOf(db, [id])).toEqual([{ id, status: 'in_progress' }]);
  });

  it('a read is repeated on a new connection and returns the run', async () => {
    const id = await inProgressRun();
    const holder = await holdTransaction(db);
    let reading: Promise<RunObject | null> | undefined;
    try {
      await holder.query('lock table run_object in access exclusive mode');
      reading = db.runs().findById(id);
      const [first] = await untilBlocked(db, holder.pid, reading);
      await terminate(first);
      // the second attempt waits for the same lock, on another backend
      const [second] = await untilBlocked(db, holder.pid, reading);
      expect(second).not.toBe(first);
      await holder.commit();
    } finally {
      await holder.rollback();
    }
    expect((await within(reading, SETTLE_MS, 'findById'))?.status).toBe('in_progress');
  });
});

describe("inside the caller's transaction", () => {
  /** `work` in a transaction of the caller's (on a fork of the file's ORM), and the error it failed with. */
  function inCallerTransaction(work: (em: EntityManager) => Promise<unknown>): { ended: Promise<void>; caught: () => unknown } {
    let caught: unknown;
    const done = db.orm.em.fork().transactional((em) =>
      work(em).catch((error: unknown) => {
        caught = error;
        throw error;
      }),
    );
    return { ended: done.then(() => undefined, () => undefined), caught: () => caught };
  }

  it('a terminated backend: connection_lost, neither retryable nor of unknown outcome (nothing committed)', async () => {
    const id = await inProgressRun();
    const holder = await holdTransaction(db);
    try {
      await holder.query(lockRow, [id]);
      const tx = inCallerTransaction((em) => em.getRepository(RunObject).complete(id));
      const [pid] = await untilBlocked(db, holder.pid, tx.ended);
      await terminate(pid);
      await within(tx.ended, SETTLE_MS, "the caller's transaction");
      expect(tx.caught()).toBeInstanceOf(RunStoreUnavailableError);
      // (the driver may report it as the server's 57P01 or as the connection's end, as the two race)
      expect(tx.caught()).toMatchObject({ reason: 'connection_lost', retryable: false, outcomeUnknown: false });
    } finally {
      await holder.rollback();
    }
    expect(await statusesOf(db, [id])).toEqual([{ id, status: 'in_progress' }]);
  });

  it('a deadlock: the store gives the conflict at once, without trying the statement again', async () => {
    const [a, b] = await seedRuns(db, 2, { statuses: ['in_progress'] });
    const holder = await holdTransaction(db);
    const signal = () => {
      let give!: () => void;
      return { given: new Promise<void>((resolve) => (give = resolve)), give: () => give() };
    };
    const holdsA = signal();
    const proceed = signal();
    try {
      await holder.query(`set local deadlock_timeout = '10s'`);
      await holder.query(lockRow, [b]);
      const tx = inCallerTransaction(async (em) => {
        await em.getConnection().execute(`set local deadlock_timeout = '50ms'`, [], 'run', em.getTransactionContext());
        const repo = em.getRepository(RunObject);
        await repo.updateMetadata(a, { held: 'yes' }); // the caller now holds a's row
        holdsA.give();
        await proceed.given;
        return repo.complete(b); // waits for the holder, which waits for the caller: the cycle
      });
      await within(holdsA.given, SETTLE_MS, "the caller's first statement");
      const holderGetsA = holder.query(lockRow, [a]);
      await untilBlocked(db, 'anyone', [tx.ended, holderGetsA]);
      // the caller closes the cycle, so its own check (after 50 ms; the holder's after 10 s) finds it
      proceed.give();
      await within(tx.ended, SETTLE_MS, "the caller's transaction");
      expect(tx.caught()).toBeInstanceOf(RunStoreUnavailableError);
      // a second try in the aborted transaction would have failed with 25P02 (transaction_aborted)
      expect(tx.caught()).toMatchObject({ reason: 'conflict', code: '40P01' });
      await within(holderGetsA, SETTLE_MS, 'the holder locking the first run once the caller rolled back');
    } finally {
      proceed.give();
      await holder.rollback();
    }
    expect(await statusesOf(db, [a, b])).toEqual([
      { id: a, status: 'in_progress' },
      { id: b, status: 'in_progress' },
    ]);
  });

  it('a prepared statement gone stale (a column changed type): the call fails, is not tried again in the aborted transaction, and the next one works', async () => {
    const id = await inProgressRun();
    const [{ type }] = await db.sql<{ type: string }>(`select data_type as type from information_schema.columns where table_name = 'run_object' and column_name = 'metadata'`);
    const other = type === 'json' ? 'jsonb' : 'json';
    const orm = await db.createOrm({ pool: { min: 0, max: 1 } }); // one connection: the one that prepared the read
    try {
      await orm.em.fork().getRepository(RunObject).getById(id);
      await db.sql(`alter table run_object alter column metadata type ${other} using metadata::${other}`);
      let caught: unknown;
      await orm.em
        .fork()
        .transactional((em) =>
          em.getRepository(RunObject).getById(id).catch((error: unknown) => {
            caught = error;
            throw error;
          }),
        )
        .catch(() => undefined);
      expect(caught).toBeInstanceOf(RunStoreUnavailableError);
      // PostgreSQL's refusal itself (a second try would have been refused as 25P02, transaction aborted)
      expect(caught).toMatchObject({ code: '0A000' });
      await expect(orm.em.fork().transactional((em) => em.getRepository(RunObject).getById(id))).resolves.toMatchObject({ id, status: 'in_progress' });
    } finally {
      await orm.close(true);
      await db.sql(`alter table run_object alter column metadata type ${type} using metadata::${type}`);
    }
  });
});
