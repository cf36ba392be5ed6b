/**
 * Races of workers and schedulers on real concurrent connections: claimNext from 20 loops at once,
 * 50 creates on one thread (the thread lock), expireOverdue from 4 ORMs at once (as 4 processes
 * would), and expiry racing workers. Each asserts that every run is taken or moved exactly once
 * and that the losers get typed errors.
 */
import type { MikroORM } from '@mikro-orm/postgresql';
import { RunObject } from '../../src/entities/run-object.entity';
import { ThreadHasActiveRunError } from '../../src/errors';
import { createInput, uid } from '../factories';
import { useTestDatabase } from '../support/test-database';
import { ACTIVE, outcomeOf } from './contract';
import { seedRuns, raceTally, statusesOf } from './seed';
import { startTogether } from '../support/lock-wait';

const db = useTestDatabase();

const { count, record, race } = raceTally();
const byStatus = (ids: string[]) => statusesOf(db, ids);

describe('claimNext', () => {
  const CLAIMERS = 20;
  const RUNS = 500;

  /**
   * `CLAIMERS` loops calling claimNext until it gives null, their first claims released together
   * from behind a table lock (so the claims really run side by side); returns every claimed id.
   */
  async function claimAll(options?: { assistant_id?: string; model?: string }): Promise<string[]> {
    const perClaimer = await startTogether(
      db,
      'run_object',
      Array.from({ length: CLAIMERS }, () => async () => {
        const claimed: string[] = [];
        const runs = db.runs();
        for (;;) {
          const run = await runs.claimNext(options);
          if (!run) return claimed;
          expect(run.status).toBe('in_progress');
          expect(run.startedAt).not.toBeNull();
          claimed.push(run.id);
        }
      }),
    );
    // released at once, each claimer's first claim skips the rows the others hold and takes one of its own
    expect(perClaimer.filter((c) => c.length === 0)).toEqual([]);
    return perClaimer.flat();
  }

  it(`${CLAIMERS} concurrent claim loops over ${RUNS} queued runs claim every run exactly once`, async () => {
    const ids = await seedRuns(db, RUNS);
    const claimed = await claimAll();
    expect(claimed.length).toBe(RUNS);
    expect(new Set(claimed).size).toBe(RUNS);
    expect([...claimed].sort()).toEqual(ids);
    const stored = await db.sql(`select count(*)::int as n from run_object where id = any($1) and status = 'in_progress' and started_at > created_at + interval '1 hour'`, [ids]);
    expect(stored[0].n).toBe(RUNS);
    expect(await db.runs().claimNext()).toBeNull();
    count(`claimNext: runs claimed exactly once (${CLAIMERS} claimers)`);
    count('claimNext: claims', claimed.length);
  });

  it('with filters, claimers take only the matching runs, each once, and leave the others queued', async () => {
    const mine = await seedRuns(db, 150, { assistantId: 'asst_mine', model: 'gpt-4o' });
    const otherModel = await seedRuns(db, 50, { assistantId: 'asst_mine', model: 'gpt-4o-mini' });
    const otherAssistant = await seedRuns(db, 50, { assistantId: 'asst_other', model: 'gpt-4o' });
    const claimed = await claimAll({ assistant_id: 'asst_mine', model: 'gpt-4o' });
    expect([...claimed].sort()).toEqual(mine);
    expect((await byStatus([...otherModel, ...otherAssistant])).every((r) => r.status === 'queued')).toBe(true);
    expect([...(await claimAll({ model: 'gpt-4o-mini' }))].sort()).toEqual(otherModel);
    expect([...(await claimAll({ assistant_id: 'asst_other' }))].sort()).toEqual(otherAssistant);
    count('claimNext: claims', 250);
  });

  it('one claimer takes the oldest first; overdue queued runs are not claimed', async () => {
    const overdue = await seedRuns(db, 3, { expiresIn: -1 });
    const ids = await seedRuns(db, 5, { expiresIn: 600 });
    const runs = db.runs();
    const order: string[] = [];
    for (let run = await runs.claimNext(); run; run = await runs.claimNext()) order.push(run.id);
    expect(order).toEqual(ids);
    expect((await byStatus(overdue)).map((r) => r.status)).toEqual(['queued', 'queued', 'queued']);
    expect(await runs.expireOverdue()).toBe(3);
  });
});

describe('the thread lock', () => {
  const ROUNDS = 10;
  const CREATORS = 50;

  it(`${CREATORS} concurrent creates on one thread make 1 run and ${CREATORS - 1} ThreadHasActiveRunErrors (${ROUNDS} rounds)`, async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const threadId = uid('thread');
      const results = await Promise.allSettled(Array.from({ length: CREATORS }, () => db.runs().create(createInput({ thread_id: threadId }))));
      const winners = results.filter((r): r is PromiseFulfilledResult<RunObject> => r.status === 'fulfilled');
      const losers = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      expect(winners.length).toBe(1);
      expect(losers.length).toBe(CREATORS - 1);
      for (const loser of losers) {
        expect(loser.reason).toBeInstanceOf(ThreadHasActiveRunError);
        expect(loser.reason).toMatchObject({ threadId, activeRunId: winners[0].value.id });
      }
      expect(await db.sql(`select id from run_object where thread_id = $1`, [threadId])).toEqual([{ id: winners[0].value.id }]);
      // once the run is finished the thread is free again, for exactly one new run
      await db.runs().cancel(winners[0].value.id);
      const again = await Promise.allSettled(Array.from({ length: 5 }, () => db.runs().create(createInput({ thread_id: threadId }))));
      expect(again.filter((r) => r.status === 'fulfilled').length).toBe(1);
      count('thread lock: 1 winner of 50 creates');
    }
  });
});

describe('expireOverdue from several processes', () => {
  const PROCESSES = 4;
  const ROUNDS = 5;
  let orms: MikroORM[];

  beforeAll(async () => {
    orms = await Promise.all(Array.from({ length: PROCESSES }, () => db.createOrm({ pool: { min: 0, max: 2 } })));
  });

  it(`${PROCESSES} concurrent expireOverdue calls expire each overdue run once and their counts add up (${ROUNDS} rounds)`, async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const overdue = await seedRuns(db, 300, { statuses: ACTIVE, expiresIn: -1 });
      const notYet = await seedRuns(db, 40, { statuses: ACTIVE, expiresIn: 600 });
      const finished = await seedRuns(db, 40, { statuses: ['completed', 'cancelled', 'failed', 'incomplete'], expiresIn: null });
      // released together from behind a table lock: the four statements really run at the same time
      const counts = await startTogether(db, 'run_object', orms.map((orm) => () => orm.em.fork().getRepository(RunObject).expireOverdue()));
      expect(counts.reduce((a, b) => a + b, 0)).toBe(overdue.length);
      expect((await byStatus(overdue)).every((r) => r.status === 'expired')).toBe(true);
      expect((await byStatus(notYet)).map((r) => r.status)).toEqual(notYet.map((_, i) => ACTIVE[i % 4]));
      expect((await byStatus(finished)).some((r) => r.status === 'expired')).toBe(false);
      const [leftovers] = await db.sql(
        `select (select count(*) from run_object where id = any($1) and (required_action_id is not null or expires_at is null))::int as bad,
                (select count(*) from run_required_action a where not exists (select 1 from run_object r where r.required_action_id = a.id))::int as orphans`,
        [overdue],
      );
      expect(leftovers).toEqual({ bad: 0, orphans: 0 });
      count(`expireOverdue: ${PROCESSES} processes, counts add up to 300`);
      record('expireOverdue: count split', counts);
    }
  });

  it('expiry racing workers that complete the same runs: each run ends expired xor completed, counts add up', async () => {
    const overdueRuns = async () => [await seedRuns(db, 200, { statuses: ['in_progress'], expiresIn: -1 })];
    // a round is one race over 200 runs; both ways must occur (more rounds only while one has not)
    const spec = { iterations: 1, width: 1, prepare: overdueRuns, mustOccur: ['some runs expired', 'some runs completed'] };
    await race('expire vs complete', spec, async (ids) => {
      const workers = ids.map((id) => outcomeOf(db.runs().complete(id)));
      await new Promise((r) => setTimeout(r, 20)); // let some workers finish first
      const expirers = orms.map((orm) => orm.em.fork().getRepository(RunObject).expireOverdue());
      const [counts, outcomes] = await Promise.all([Promise.all(expirers), Promise.all(workers)]);
      const rows = await byStatus(ids);
      const expired = rows.filter((r) => r.status === 'expired').length;
      const completed = rows.filter((r) => r.status === 'completed').length;
      expect(expired + completed).toBe(ids.length);
      expect(counts.reduce((a, b) => a + b, 0)).toBe(expired);
      expect(outcomes.filter((o) => o.kind === 'ok').length).toBe(completed);
      expect(outcomes.filter((o) => o.kind === 'invalid' && o.status === 'expired').length).toBe(expired);
      count('expire vs complete: runs expired', expired);
      count('expire vs complete: runs completed', completed);
      return [...(expired > 0 ? ['some runs expired'] : []), ...(completed > 0 ? ['some runs completed'] : [])];
    });
  });
});

