/**
 * `expireOverdue` in bounded batches with `skip locked` (issue 15): one statement per
 * `EXPIRE_BATCH_SIZE` runs until a batch comes back short, one cutoff for all of them, the total
 * returned; a run another transaction holds is skipped, never waited for, so callers that lock
 * several runs in any order cannot deadlock with it, and concurrent expirers' counts add up.
 */
import type { MikroORM } from '@mikro-orm/postgresql';
import { RunObject } from '../../src';
import { EXPIRE_BATCH_SIZE } from '../../src/sql/expire';
import { inBatches, seedRuns, statusesOf } from '../lifecycle/seed';
import { holdTransaction, within, withoutWaiting } from '../support/lock-wait';
import { recordingOrm } from '../support/recording-orm';
import { useTestDatabase } from '../support/test-database';

const db = useTestDatabase();

jest.setTimeout(120_000);

const ACTIVE = ['queued', 'in_progress', 'requires_action', 'cancelling'] as const;
const lockRow = 'select id from run_object where id = $1 for update';

/** Expires whatever an earlier test left overdue, so each test counts its own runs only. */
beforeEach(async () => {
  await db.runs().expireOverdue();
});

describe('batches', () => {
  let recorder: { orm: MikroORM; statements: string[] };
  beforeAll(async () => {
    recorder = await recordingOrm(db);
  });
  const expireStatements = () => recorder.statements.filter((s) => s.startsWith('with cutoff as materialized'));

  it.each([
    [2 * EXPIRE_BATCH_SIZE + 201, 3],
    [2 * EXPIRE_BATCH_SIZE, 3], // the last batch is empty: only a short batch ends the loop
    [EXPIRE_BATCH_SIZE - 1, 1],
  ])('%i overdue runs: expired in %i statements of at most 500 runs, all with the first one’s cutoff, the total returned', async (count, statements) => {
    const ids = await seedRuns(db, count, { statuses: [...ACTIVE], expiresIn: -60 });
    recorder.statements.length = 0;
    expect(await recorder.orm.em.fork().getRepository(RunObject).expireOverdue()).toBe(count);
    const sent = expireStatements();
    expect(sent).toHaveLength(statements);
    for (const sql of sent) expect(sql).toContain(`limit ${EXPIRE_BATCH_SIZE} for update skip locked`);
    // the first batch takes the database's time; every later one is given that same cutoff
    expect(sent[0]).toContain('coalesce(NULL::timestamptz');
    const cutoffs = sent.slice(1).map((sql) => /coalesce\('([^']+)'::timestamptz/.exec(sql)?.[1]);
    for (const cutoff of cutoffs) expect(cutoff).toEqual(cutoffs[0]);
    expect((await statusesOf(db, ids)).filter((r) => r.status !== 'expired')).toEqual([]);
  });
});

describe('a run another transaction holds', () => {
  it('is skipped, not waited for; a caller locking the runs in the opposite order goes on; the next call expires it', async () => {
    const [low, middle, high] = await seedRuns(db, 3, { statuses: ['in_progress'], expiresIn: -60 });
    const holder = await holdTransaction(db);
    try {
      // the caller locks the runs in reverse id order: `high` now, `low` after the expirer ran
      await holder.query(lockRow, [high]);
      expect(await withoutWaiting(db, holder.pid, db.runs().expireOverdue())).toBe(2);
      await within(holder.query(lockRow, [low]), 3_000, 'the caller locking its second run');
      await holder.commit();
    } finally {
      await holder.rollback();
    }
    expect(await statusesOf(db, [low, middle, high])).toEqual([
      { id: low, status: 'expired' },
      { id: middle, status: 'expired' },
      { id: high, status: 'in_progress' },
    ]);
    expect(await db.runs().expireOverdue()).toBe(1);
    expect((await statusesOf(db, [high]))[0].status).toBe('expired');
  });
});

describe('concurrent expirers and callers locking several runs in reverse order', () => {
  it('no deadlock anywhere; every overdue run is expired exactly once: the counts add up', async () => {
    // 400 runs falling due over 4 s (80 a second), while callers hold some of them and expirers poll
    const groups = await Promise.all([0, 1, 2, 3, 4].map((seconds) => seedRuns(db, 80, { statuses: [...ACTIVE], expiresIn: seconds })));
    const ids = groups.flat().sort();
    const total = ids.length;
    const deadlocksNow = async () =>
      (await db.sql<{ deadlocks: string }>(`select deadlocks::text from pg_stat_database where datname = current_database()`))[0].deadlocks;
    const deadlocksBefore = await deadlocksNow();
    const callerErrors: unknown[] = [];
    let callerTransactions = 0;
    let expired = 0;
    const counts: number[] = [];
    const callersUntil = Date.now() + 5_000;
    const deadline = Date.now() + 60_000; // bounded: the expirers stop here whatever happened
    // a caller: transactions that lock 20 random runs (updateMetadata) from the highest id down, with pauses
    const caller = async (k: number) => {
      for (let round = 0; round < 200 && Date.now() < callersUntil; round++) {
        const picked = [...new Set(Array.from({ length: 20 }, () => ids[Math.floor(Math.random() * total)]))].sort().reverse();
        try {
          await db.em().transactional(async (tx) => {
            const runs = tx.getRepository(RunObject);
            for (const id of picked) {
              await runs.updateMetadata(id, { caller: String(k) });
              await new Promise((resolve) => setTimeout(resolve, 1));
            }
          });
          callerTransactions++;
        } catch (error) {
          callerErrors.push(error);
        }
      }
    };
    const expirer = async () => {
      while (expired < total && Date.now() < deadline) {
        const n = await db.runs().expireOverdue();
        counts.push(n);
        expired += n;
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    };
    await Promise.all([inBatches(4, 4, caller), expirer(), expirer(), expirer()]);
    expect(callerErrors).toEqual([]);
    expect(callerTransactions).toBeGreaterThanOrEqual(4);
    expect(counts.reduce((a, b) => a + b, 0)).toBe(total);
    expect(counts.filter((n) => n > 0).length).toBeGreaterThan(5); // the runs really fell due while the callers held runs
    expect((await statusesOf(db, ids)).filter((r) => r.status !== 'expired')).toEqual([]);
    // PostgreSQL counts every deadlock it broke (the statistics reach the view within a second)
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(await deadlocksNow()).toBe(deadlocksBefore);
    console.log(`expire vs reverse-order callers: ${callerTransactions} caller transactions, ${counts.length} expireOverdue calls, non-zero counts ${JSON.stringify(counts.filter((n) => n > 0))}`);
  });
});
