/**
 * Recovery of lapsed leases: `recoverLapsed` (and the `recover` command) takes back the runs whose
 * worker's lease lapsed — in_progress → queued (the next claim is the next attempt) or → failed at
 * the attempt limit, cancelling → cancelled — once each, from several processes at once, and with
 * real worker processes: one killed (SIGKILL) while holding runs, one paused (SIGSTOP) past its
 * lease whose late completes are refused, heartbeats racing recovery.
 */
import { LeaseLostError, RunObject, RunValidationError } from '../../src';
import { createInput, uid } from '../factories';
import { ensureBuilt, runCli } from '../cli/support/cli';
import { raceTally } from '../lifecycle/seed';
import { recoverStatement } from '../../src/sql/recover';
import { inSchema } from '../../src/sql/tables';
import { useTestDatabase } from '../support/test-database';
import { startWorker } from './support/worker';

const db = useTestDatabase();
const { count, record } = raceTally();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** `n` queued runs of a new assistant (each on its own thread); returns the assistant and the ids in creation order. */
async function queued(n: number): Promise<{ assistant: string; ids: string[] }> {
  const assistant = uid('asst');
  const ids: string[] = [];
  for (let i = 0; i < n; i++) ids.push((await db.runs().create(createInput({ assistant_id: assistant }))).id);
  return { assistant, ids };
}

/**
 * Claims every queued run of `assistant` for `worker`; returns id → attempt. The lease is long so that
 * no run a test leaves behind lapses during a later test (recovery is global); tests lapse leases explicitly.
 */
async function claimAll(assistant: string, worker: string, leaseSeconds = 3600): Promise<Map<string, number>> {
  const held = new Map<string, number>();
  for (;;) {
    const run = await db.runs().claimNext({ assistant_id: assistant, worker, leaseSeconds });
    if (!run) return held;
    held.set(run.id, run.attempt);
  }
}

const lapse = (ids: string[]) => db.sql(`update run_object set lease_expires_at = clock_timestamp() - interval '1 second' where id = any($1)`, [ids]);
const rows = (ids: string[]) =>
  db.sql<{ id: string; status: string; attempt: number; lease_owner: string | null; lease_expires_at: Date | null; code: string | null; message: string | null }>(
    `select r.id, r.status, r.attempt, r.lease_owner, r.lease_expires_at, e.code, e.message from run_object r left join run_last_error e on e.id = r.last_error_id where r.id = any($1) order by r.id`,
    [ids],
  );

describe('recoverLapsed', () => {
  it('requeues lapsed in_progress runs, fails them at the limit, cancels lapsed cancelling runs, and touches nothing else', async () => {
    const { assistant, ids } = await queued(6);
    await claimAll(assistant, 'w1');
    const [requeue, atLimit, cancelling, fresh, unleased, waiting] = ids;
    // attempt 3 for the one at the limit (claimed three times)
    for (let i = 0; i < 2; i++) {
      await db.sql(`update run_object set status = 'queued', lease_owner = null, lease_expires_at = null where id = $1`, [atLimit]);
      await db.runs().claimNext({ assistant_id: assistant, worker: 'w1', leaseSeconds: 30 });
    }
    await db.runs().cancel(cancelling);
    await db.runs().requireAction(waiting, [{ id: 'call_1', type: 'function', function: { name: 'f', arguments: '{}' } }]);
    await lapse([requeue, atLimit, cancelling, waiting]);
    // claimed without a lease (as claimNext() without a worker leaves it)
    await db.sql(`update run_object set lease_owner = null, lease_expires_at = null where id = $1`, [unleased]);
    const before = await rows(ids);

    expect(await db.runs().recoverLapsed({ maxAttempts: 3 })).toEqual({ requeued: 1, failed: 1, cancelled: 1 });
    const after = new Map((await rows(ids)).map((r) => [r.id, r]));
    expect(after.get(requeue)).toMatchObject({ status: 'queued', attempt: 1, lease_owner: null, lease_expires_at: null, code: null });
    expect(after.get(atLimit)).toMatchObject({ status: 'failed', attempt: 3, lease_owner: 'w1', lease_expires_at: null, code: 'server_error', message: "The run's worker stopped responding after 3 attempts." });
    expect(after.get(cancelling)).toMatchObject({ status: 'cancelled', lease_expires_at: null });
    for (const untouched of [fresh, unleased, waiting]) expect(after.get(untouched)).toEqual(before.find((r) => r.id === untouched));
    // the API object of the failed run shows the error and failed_at, and no expires_at
    const failed = (await db.runs().getById(atLimit)).toJSON();
    expect(failed).toMatchObject({ status: 'failed', last_error: { code: 'server_error' }, expires_at: null });
    expect(failed.failed_at).toEqual(expect.any(Number));
    // the requeued run's next claim is attempt 2, by its new owner; nothing left to recover
    expect(await db.runs().claimNext({ assistant_id: assistant, worker: 'w2', leaseSeconds: 3600 })).toMatchObject({ id: requeue, attempt: 2, leaseOwner: 'w2' });
    expect(await db.runs().recoverLapsed({ maxAttempts: 3 })).toEqual({ requeued: 0, failed: 0, cancelled: 0 });
  });

  it('the attempt limit, end to end with real lapses: claimed maxAttempts times, then failed with the stated error', async () => {
    const { assistant, ids } = await queued(1);
    for (let attempt = 1; attempt <= 2; attempt++) {
      expect(await db.runs().claimNext({ assistant_id: assistant, worker: `w${attempt}`, leaseSeconds: 0.2 })).toMatchObject({ attempt });
      await sleep(300);
      expect(await db.runs().recoverLapsed({ maxAttempts: 2 })).toEqual(attempt < 2 ? { requeued: 1, failed: 0, cancelled: 0 } : { requeued: 0, failed: 1, cancelled: 0 });
    }
    const [row] = await rows(ids);
    expect(row).toMatchObject({ status: 'failed', attempt: 2, code: 'server_error', message: "The run's worker stopped responding after 2 attempts." });
    expect(await db.runs().claimNext({ assistant_id: assistant, worker: 'w3', leaseSeconds: 1 })).toBeNull();
  });

  it('batches: 120 lapsed runs in batches of 25, one statement each, all moved', async () => {
    const { assistant, ids } = await queued(120);
    await claimAll(assistant, 'w1');
    await lapse(ids);
    expect(await db.runs().recoverLapsed({ maxAttempts: 5, batchSize: 25 })).toEqual({ requeued: 120, failed: 0, cancelled: 0 });
    expect(new Set((await rows(ids)).map((r) => r.status))).toEqual(new Set(['queued']));
  });

  it('four processes recovering at once move and count each of 400 lapsed runs exactly once', async () => {
    const { assistant, ids } = await queued(400);
    await claimAll(assistant, 'w1');
    await db.runs().cancel(ids[0]);
    await lapse(ids);
    const orms = await Promise.all(Array.from({ length: 4 }, () => db.createOrm()));
    const started = Date.now();
    const counts = await Promise.all(orms.map((orm) => orm.em.fork().getRepository(RunObject).recoverLapsed({ maxAttempts: 5, batchSize: 20 })));
    record('recoverLapsed: 4 recoverers over 400 lapsed runs (ms)', Date.now() - started);
    const sum = counts.reduce((a, c) => ({ requeued: a.requeued + c.requeued, failed: a.failed + c.failed, cancelled: a.cancelled + c.cancelled }));
    expect(sum).toEqual({ requeued: 399, failed: 0, cancelled: 1 });
    record('recoverLapsed: per-recoverer totals', counts.map((c) => c.requeued + c.cancelled));
    const stored = await rows(ids);
    expect(stored.filter((r) => r.status === 'queued').length).toBe(399);
    count('recoverLapsed: runs recovered exactly once (4 recoverers)', 400);
  });

  it('finds lapsed leases through the partial index (no scan of the table)', async () => {
    const { assistant, ids } = await queued(300);
    await claimAll(assistant, 'w1');
    await lapse(ids.slice(0, 3));
    await db.sql('analyze run_object');
    const statement = recoverStatement(3, 500);
    let n = 0;
    const plan = await db.sql<{ 'QUERY PLAN': string }>(`explain ${inSchema(statement.sql, null).replace(/\?/g, () => `$${++n}`)}`, [...statement.params]);
    const text = plan.map((r) => r['QUERY PLAN']).join('\n');
    expect(text).toMatch(/Index Scan using run_object_lease_expires_idx on run_object\s/);
    expect(text).not.toMatch(/Seq Scan on run_object/);
    expect(await db.runs().recoverLapsed({ maxAttempts: 3 })).toEqual({ requeued: 3, failed: 0, cancelled: 0 });
  });

  it('validates its options', async () => {
    for (const bad of [{ maxAttempts: 0 }, { maxAttempts: 1.5 }, {}, { maxAttempts: 3, batchSize: 0 }, { maxAttempts: 3, extra: 1 }]) {
      await expect(db.runs().recoverLapsed(bad as never)).rejects.toBeInstanceOf(RunValidationError);
    }
  });
});

describe('heartbeat racing recovery', () => {
  it('each of 200 lapsed runs is either extended by its holder or recovered, never both, never neither', async () => {
    const outcomes: Record<string, number> = {};
    for (let round = 0; round < 5; round++) {
      const { assistant, ids } = await queued(40);
      const held = await claimAll(assistant, 'w1');
      await lapse(ids);
      const recoverers = Promise.all([db.runs().recoverLapsed({ maxAttempts: 5, batchSize: 7 }), db.runs().recoverLapsed({ maxAttempts: 5, batchSize: 7 })]);
      const beats = await Promise.all(
        ids.map((id) =>
          db
            .runs()
            .heartbeat(id, { worker: 'w1', attempt: held.get(id)!, leaseSeconds: 60 })
            .then(() => 'extended' as const, (e: unknown) => (e instanceof LeaseLostError ? ('lost' as const) : Promise.reject(e))),
        ),
      );
      const recovered = (await recoverers).reduce((n, c) => n + c.requeued, 0);
      const stored = new Map((await rows(ids)).map((r) => [r.id, r]));
      ids.forEach((id, i) => {
        const row = stored.get(id)!;
        const outcome = beats[i] === 'extended' ? (row.status === 'in_progress' && row.lease_expires_at! > new Date(Date.now() + 30_000) ? 'extended' : 'extended-but-recovered') : row.status === 'queued' ? 'recovered' : 'lost-but-held';
        outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
        count(`heartbeat vs recover: ${outcome}`);
      });
      expect(recovered).toBe(beats.filter((b) => b === 'lost').length);
    }
    expect(Object.keys(outcomes).sort()).toEqual(['extended', 'recovered']);
  });
});

describe('real worker processes', () => {
  beforeAll(() => ensureBuilt(), 180_000);

  it('a worker killed with SIGKILL while holding 20 runs: each is recovered once after its lease lapses and finished by another worker exactly once', async () => {
    const { assistant, ids } = await queued(20);
    const doomed = await startWorker(db.url, 'doomed');
    const { claimed } = await doomed.send<{ claimed: { id: string; attempt: number }[] }>(`claim ${assistant} 20 1`);
    expect(claimed.map((c) => c.id).sort()).toEqual([...ids].sort());
    doomed.child.kill('SIGKILL');
    expect(await doomed.exited).toBe('SIGKILL');
    const killedAt = Date.now();
    // before the lease lapses nothing is recovered, and no other worker can take the runs
    expect(await db.runs().recoverLapsed({ maxAttempts: 3 })).toEqual({ requeued: 0, failed: 0, cancelled: 0 });
    expect(await db.runs().claimNext({ assistant_id: assistant, worker: 'rescuer', leaseSeconds: 30 })).toBeNull();
    let recovered = 0;
    while (recovered < 20 && Date.now() - killedAt < 10_000) {
      recovered += (await db.runs().recoverLapsed({ maxAttempts: 3 })).requeued;
      if (recovered < 20) await sleep(100);
    }
    record('SIGKILL: seconds from kill to all 20 recovered (lease 1 s)', (Date.now() - killedAt) / 1000);
    expect(recovered).toBe(20);
    const rescuer = await startWorker(db.url, 'rescuer');
    try {
      const second = await rescuer.send<{ claimed: { id: string; attempt: number }[] }>(`claim ${assistant} 25 30`);
      expect(second.claimed.map((c) => c.id).sort()).toEqual([...ids].sort());
      expect(new Set(second.claimed.map((c) => c.attempt))).toEqual(new Set([2]));
      const results = [];
      for (const c of second.claimed) results.push(await rescuer.send<{ outcome: string }>(`complete ${c.id} ${c.attempt}`));
      expect(results.map((r) => r.outcome)).toEqual(Array(20).fill('completed'));
      // completed once: a second complete with the same token is refused (the holder's run is no longer in progress),
      // the dead worker's token is refused as lost, and the store shows one completion each
      expect((await rescuer.send<{ outcome: string }>(`complete ${second.claimed[0].id} 2`)).outcome).toBe('InvalidRunTransitionError');
      await expect(db.runs().complete(claimed[0].id, undefined, { worker: 'doomed', attempt: claimed[0].attempt })).rejects.toBeInstanceOf(LeaseLostError);
      const stored = await rows(ids);
      expect(stored.map((r) => [r.status, r.attempt, r.lease_owner])).toEqual(Array(20).fill(['completed', 2, 'rescuer']));
      expect(await db.runs().recoverLapsed({ maxAttempts: 3 })).toEqual({ requeued: 0, failed: 0, cancelled: 0 });
      count('SIGKILL: runs recovered once and finished once by another worker', 20);
    } finally {
      rescuer.child.kill('SIGKILL');
    }
  }, 60_000);

  it('a paused worker (SIGSTOP past its lease, taken over) has every late complete refused: 20 rounds × 10 runs', async () => {
    const slow = await startWorker(db.url, 'slow');
    const started = Date.now();
    let refused = 0;
    try {
      for (let round = 0; round < 20; round++) {
        const { assistant, ids } = await queued(10);
        const { claimed } = await slow.send<{ claimed: { id: string; attempt: number }[] }>(`claim ${assistant} 10 0.25`);
        expect(claimed.length).toBe(10);
        slow.child.kill('SIGSTOP');
        await sleep(300);
        expect((await db.runs().recoverLapsed({ maxAttempts: 3 })).requeued).toBeGreaterThanOrEqual(10);
        const takeover = await claimAll(assistant, 'fast');
        expect([...takeover.keys()].sort()).toEqual([...ids].sort());
        await Promise.all([...takeover].map(([id, attempt]) => db.runs().complete(id, undefined, { worker: 'fast', attempt })));
        slow.child.kill('SIGCONT');
        for (const c of claimed) {
          const { outcome } = await slow.send<{ outcome: string }>(`complete ${c.id} ${c.attempt}`);
          expect(outcome).toBe('LeaseLostError');
          refused++;
        }
        expect((await rows(ids)).map((r) => [r.status, r.attempt, r.lease_owner])).toEqual(Array(10).fill(['completed', 2, 'fast']));
      }
    } finally {
      slow.child.kill('SIGKILL');
    }
    record('paused worker: late completes refused', refused);
    record('paused worker: seconds for 20 rounds', (Date.now() - started) / 1000);
    expect(refused).toBe(200);
  }, 60_000);
});

describe('the recover command', () => {
  beforeAll(() => ensureBuilt(), 180_000);

  it('recovers once and prints the counts (text and --json); refuses a bad --max-attempts', async () => {
    const { assistant, ids } = await queued(3);
    await claimAll(assistant, 'w1');
    await db.runs().cancel(ids[2]);
    await lapse(ids);
    const r = await runCli(['recover', '--max-attempts', '1'], { databaseUrl: db.url });
    expect(r).toMatchObject({ code: 0, stdout: 'requeued 0, failed 2, cancelled 1\n', stderr: '' });
    const again = await runCli(['recover', '--json'], { databaseUrl: db.url });
    expect(again).toMatchObject({ code: 0, stdout: '{"requeued":0,"failed":0,"cancelled":0}\n' });
    const bad = await runCli(['recover', '--max-attempts', '0'], { databaseUrl: db.url });
    expect([bad.code, bad.stderr]).toEqual([2, "assistants-run-store recover: error: --max-attempts must be a positive whole number, got '0'\n"]);
  });
});
