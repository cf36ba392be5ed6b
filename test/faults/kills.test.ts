/**
 * Backends terminated at random moments while workers run every kind of write (issue 14, Proof),
 * by `pg_terminate_backend` from an admin connection, two ways at once:
 *   - free-running: after a random pause, a random session of the app's database (mostly a busy
 *     one: running a statement or inside a transaction);
 *   - aimed: as a worker sends a call, sometimes (mostly while that kind of write has been hit fewer
 *     than `MIN_HITS_PER_KIND` times), a random moment later, a busy session of that worker — if
 *     the call is still in flight.
 * Each worker has its own ORM (as worker processes would), told apart by `application_name`, and
 * makes one call at a time, so a kill that ends a busy session of a worker hit the call that worker
 * had in flight when the kill was sent. The phase ends once `KILLS` sessions were ended and every kind of write was
 * hit. Then the same ORMs must serve every kind of write again, with no failure.
 */
import type { MikroORM } from '@mikro-orm/postgresql';
import { APP_DB, APP_NAME, ViolationLog, capturingConsole, emptyViolations, sleep, useFaultStore } from './support';
import { WRITE_KINDS, Workload, type CallKind } from './workload';

/** Sessions terminated per run, at least (issue 14: at least 100). */
const KILLS = 150;
/** Kills that hit a call of each kind of write, at least. */
const MIN_HITS_PER_KIND = 2;
/** Concurrent workers, each with its own ORM. */
const WORKERS = 4;
/** Random pause before each free-running kill, ms. */
const KILL_PAUSE_MS = { min: 2, max: 40 };
/** Share of free-running kills that choose among busy sessions only. */
const PREFER_BUSY = 0.8;
/** Chance that a call is followed by an aimed kill: while its kind has fewer than `MIN_HITS_PER_KIND` hits, and after. */
const AIM_CHANCE = { underHit: 0.8, covered: 0.02 };
/** An aimed kill is sent this long after the call, at random, ms (0: on the next turn of the event loop). */
const AIM_DELAYS_MS = [0, 0, 1, 2];
/** The kill phase ends by then, whatever happens, ms. */
const KILL_PHASE_BUDGET_MS = 35_000;
/** One call that has not settled after this is a hang, ms. */
const CALL_BOUND_MS = 10_000;
/** How long one failing step is retried, ms. */
const STEP_BUDGET_MS = 10_000;
/** Scripts per worker at most in the kill phase. */
const MAX_SCRIPTS = 3_000;
/** Scripts per worker after the kills (each kind of script once). */
const RECOVERY_SCRIPTS = 8;
const RECOVERY_BUDGET_MS = 20_000;

const store = useFaultStore();

describe('backends killed during every kind of write', () => {
  it(`≥ ${KILLS} random pg_terminate_backend kills under ${WORKERS} workers: typed errors, nothing lost, nothing half-written, the pools recover`, async () => {
    const s = store();
    const names = Array.from({ length: WORKERS }, (_, w) => `${APP_NAME}-${w}`);
    const orms: MikroORM[] = [];
    for (const name of names) orms.push(await s.createOrm({ pool: { min: 0, max: 4 }, driverOptions: { connection: { application_name: name } } }));
    const log = new ViolationLog();
    const options = { store: s, log, workers: WORKERS, callBoundMs: CALL_BOUND_MS, stepBudgetMs: STEP_BUDGET_MS, ormOf: (w: number) => orms[w] };
    const started = Date.now();
    const deadline = started + KILL_PHASE_BUDGET_MS;
    const kills = { total: 0, busy: 0 };
    const hits = Object.fromEntries(WRITE_KINDS.map((k) => [k, 0])) as Record<CallKind, number>;
    let killing = true;
    const aimedKills: Promise<void>[] = [];

    const faulty: Workload = new Workload({
      ...options,
      reasons: ['connection_lost', 'server_unavailable'],
      stop: () => !killing,
      deadline,
      maxScripts: MAX_SCRIPTS,
      onCall: (w, kind) => {
        const chance = (hits[kind] ?? 0) < MIN_HITS_PER_KIND ? AIM_CHANCE.underHit : AIM_CHANCE.covered;
        if (!killing || Math.random() >= chance) return;
        const seq = faulty.progress.callSeq[w];
        const delay = AIM_DELAYS_MS[Math.floor(Math.random() * AIM_DELAYS_MS.length)];
        aimedKills.push((delay === 0 ? new Promise<void>((resolve) => setImmediate(resolve)) : sleep(delay)).then(() => (faulty.progress.callSeq[w] === seq && killing ? kill([w], true) : undefined)));
      },
    });
    /** Ends one random session of `workers` (busy ones only if `busy`), and counts the calls it hit. */
    async function kill(workers: number[], busy: boolean): Promise<void> {
      const inFlight = [...faulty.progress.inFlight];
      const ended = await s.cluster.terminateBackends({ database: APP_DB, applicationName: workers.map((w) => names[w]), busy, pick: 1 });
      for (const session of ended) {
        kills.total++;
        if (session.state === 'idle') continue;
        kills.busy++;
        const kind = inFlight[names.indexOf(session.applicationName)];
        if (kind !== null) hits[kind] = (hits[kind] ?? 0) + 1;
      }
    }
    const covered = () => kills.total >= KILLS && WRITE_KINDS.every((k) => hits[k] >= MIN_HITS_PER_KIND);

    const recovery = new Workload({ ...options, reasons: [], stop: () => false, deadline: Number.POSITIVE_INFINITY, maxScripts: RECOVERY_SCRIPTS });
    let recoveryMs = 0;
    await capturingConsole(log, async () => {
      let workersDone = false;
      const workers = faulty.run().finally(() => {
        workersDone = true;
      });
      const everyone = names.map((_, w) => w);
      // Free-running kills up to KILLS; aimed ones go on until every kind of write was hit.
      while (!covered() && !workersDone && Date.now() < deadline) {
        await sleep(KILL_PAUSE_MS.min + Math.random() * (KILL_PAUSE_MS.max - KILL_PAUSE_MS.min));
        if (kills.total < KILLS) await kill(everyone, Math.random() < PREFER_BUSY);
      }
      killing = false;
      await Promise.all(aimedKills);
      await workers;
      const recoveryStarted = Date.now();
      await recovery.run();
      recoveryMs = Date.now() - recoveryStarted;
    });
    await faulty.verify();
    await recovery.verify();

    // The machinery really hit every kind of write, within its bounds.
    expect(kills.total).toBeGreaterThanOrEqual(KILLS);
    expect(kills.busy).toBeGreaterThanOrEqual(KILLS / 2);
    expect(Object.fromEntries(WRITE_KINDS.map((k) => [k, hits[k] >= MIN_HITS_PER_KIND && faulty.progress.acked[k] > 0]))).toEqual(
      Object.fromEntries(WRITE_KINDS.map((k) => [k, true])),
    );
    expect(Date.now() - started).toBeLessThan(KILL_PHASE_BUDGET_MS + STEP_BUDGET_MS + RECOVERY_BUDGET_MS);
    // The contract.
    expect(log.report).toEqual(emptyViolations());
    expect(faulty.progress.gaveUp).toBe(0);
    // After the kills, the same ORMs serve every kind of write, none failing.
    expect(recovery.progress.failed).toEqual(Object.fromEntries(Object.keys(recovery.progress.failed).map((k) => [k, 0])));
    expect(recovery.progress.scripts).toBe(WORKERS * RECOVERY_SCRIPTS);
    expect(recoveryMs).toBeLessThan(RECOVERY_BUDGET_MS);
  });

  it('the checks themselves catch a lost write, a partial graph and an orphan row (the oracle can fail)', async () => {
    const s = store();
    const log = new ViolationLog();
    const workload = new Workload({ store: s, log, workers: 1, callBoundMs: CALL_BOUND_MS, stepBudgetMs: STEP_BUDGET_MS, reasons: [], stop: () => false, deadline: Number.POSITIVE_INFINITY, maxScripts: RECOVERY_SCRIPTS });
    await workload.run();
    const ids = workload.runIds;
    const [{ run_id: withTools }] = await s.sql<{ run_id: string }>('select run_id from run_tool where run_id = any($1::text[]) limit 1', [ids]);
    const gone = ids.find((id) => id !== withTools)!;
    await s.sql('delete from run_tool where run_id = $1', [withTools]);
    await s.sql('delete from run_object where id = $1', [gone]);
    await s.sql('insert into run_usage (id, prompt_tokens, completion_tokens, total_tokens) values (gen_random_uuid(), 1, 1, 2)');
    await workload.verify();
    const { lostWrites, orphans, ...rest } = log.report;
    expect(Object.values(lostWrites).reduce((a, b) => a + b, 0)).toBe(2);
    expect(Object.keys(lostWrites).some((k) => k.endsWith('acknowledged run missing'))).toBe(true);
    expect(Object.keys(lostWrites).some((k) => k.endsWith('stored run differs from the acknowledged write'))).toBe(true);
    expect(orphans).toEqual({ 'run_usage rows not referenced by exactly one run': 1 });
    const { lostWrites: _l, orphans: _o, ...none } = emptyViolations();
    expect(rest).toEqual(none);
  });
});
