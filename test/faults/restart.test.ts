/**
 * The server restarted under load (issue 14, Proof): 4 workers share one ORM, as a service's
 * request handlers would, and run every kind of write while the private cluster is restarted with
 * `pg_ctl -m fast` (sessions ended with 57P01, clean shutdown) and then `-m immediate` (a crash:
 * recovery at start), each with the server away for a while. The same ORM must come back by
 * itself: every worker completes writes again after each restart.
 */
import type { StopMode } from '../support/pg-cluster';
import { ViolationLog, capturingConsole, emptyViolations, sleep, useFaultStore } from './support';
import { WRITE_KINDS, Workload } from './workload';

const WORKERS = 4;
/** The restarts, in order. */
const RESTARTS: readonly StopMode[] = ['fast', 'immediate'];
/** How long the server stays down in each restart, ms. */
const DOWNTIME_MS = 400;
/** Acknowledged calls each worker makes before the first restart, and after each one (the proof that the pool came back). */
const CALLS_BETWEEN_RESTARTS = 40;
/** Each worker must be writing again within this after the server is back, ms. */
const RECOVERY_BOUND_MS = 10_000;
/** The whole scenario ends by then, whatever happens, ms. */
const SCENARIO_BUDGET_MS = 45_000;
/** One call that has not settled after this is a hang. */
const CALL_BOUND_MS = 15_000;
/** How long one failing step is retried (longer than a restart takes). */
const STEP_BUDGET_MS = 15_000;
const MAX_SCRIPTS = 2_000;

const store = useFaultStore();

describe('server restarts under 4 concurrent workers', () => {
  it(`restart -m ${RESTARTS.join(', then -m ')} under ${WORKERS} workers: typed errors, nothing lost, nothing half-written, the pool recovers by itself`, async () => {
    const s = store();
    const log = new ViolationLog();
    const started = Date.now();
    const deadline = started + SCENARIO_BUDGET_MS;
    let done = false;
    const workload = new Workload({
      store: s,
      log,
      workers: WORKERS,
      reasons: ['connection_lost', 'server_unavailable', 'connect_failed'],
      stop: () => done,
      deadline,
      callBoundMs: CALL_BOUND_MS,
      stepBudgetMs: STEP_BUDGET_MS,
      maxScripts: MAX_SCRIPTS,
    });
    const acked = () => [...workload.progress.ackedByWorker];
    /** Waits until every worker has `n` more acknowledged calls than in `from`; the time it took, or null past the bound. */
    const everyWorkerWrote = async (from: number[], n: number, boundMs: number): Promise<number | null> => {
      const t0 = Date.now();
      while (!acked().every((a, w) => a >= from[w] + n)) {
        if (Date.now() - t0 > boundMs || Date.now() > deadline || workload.progress.gaveUp > 0) return null;
        await sleep(10);
      }
      return Date.now() - t0;
    };

    const recoveries: Record<string, number | null> = {};
    /** Per restart: workers with a call in flight as the server went down, and whether the server really started anew. */
    const restarts: Record<string, { inFlight: number; newServer: boolean }> = {};
    const serverStart = async () => (await s.cluster.query<{ t: string }>('select pg_postmaster_start_time()::text as t'))[0].t;
    await capturingConsole(log, async () => {
      const workers = workload.run();
      try {
        expect(await everyWorkerWrote(acked(), CALLS_BETWEEN_RESTARTS, RECOVERY_BOUND_MS)).not.toBeNull();
        for (const mode of RESTARTS) {
          const startedAt = await serverStart();
          const inFlight = workload.progress.inFlight.filter((k) => k !== null).length;
          await s.cluster.restart({ mode, downtimeMs: DOWNTIME_MS });
          restarts[mode] = { inFlight, newServer: (await serverStart()) !== startedAt };
          recoveries[mode] = await everyWorkerWrote(acked(), CALLS_BETWEEN_RESTARTS, RECOVERY_BOUND_MS);
        }
      } finally {
        done = true;
        await workers;
      }
    });
    await workload.verify();

    // The restarts really happened under load, and the scenario stayed in its bounds.
    for (const mode of RESTARTS) expect({ mode, busy: restarts[mode].inFlight > 0, newServer: restarts[mode].newServer }).toEqual({ mode, busy: true, newServer: true });
    for (const kind of WRITE_KINDS) expect({ kind, acked: workload.progress.acked[kind] > 0 }).toEqual({ kind, acked: true });
    expect(Date.now() - started).toBeLessThan(SCENARIO_BUDGET_MS + STEP_BUDGET_MS);
    // The contract.
    expect(log.report).toEqual(emptyViolations());
    // The same ORM came back by itself after each restart: every worker acknowledged writes again, in time.
    expect(Object.fromEntries(RESTARTS.map((m) => [m, recoveries[m] !== null]))).toEqual(Object.fromEntries(RESTARTS.map((m) => [m, true])));
    expect(workload.progress.gaveUp).toBe(0);
  });
});
