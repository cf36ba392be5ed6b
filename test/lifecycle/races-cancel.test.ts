/**
 * A client cancelling while a worker runs the same run, on real concurrent connections (each call
 * on its own fork, so on its own pooled connection): exactly one winner, a typed error for every
 * loser, and timestamps that belong to the winner only.
 */
import { useTestDatabase } from '../support/test-database';
import {
  USAGE,
  outcomeOf,
  timestampViolations,
  type Outcome,
} from './contract';
import { seedRuns, raceTally } from './seed';

const db = useTestDatabase();

const { race } = raceTally();

describe('cancel racing the worker', () => {
  const ITERATIONS = 200;

  it(`cancel + confirmCancelled racing complete on an in_progress run, ${ITERATIONS} times: one terminal state each`, async () => {
    const inProgress = (n: number) => seedRuns(db, n, { statuses: ['in_progress'] });
    const spec = { iterations: ITERATIONS, prepare: inProgress, mustOccur: ['completed', 'cancelled'] };
    await race('cancel vs complete', spec, async (id, i) => {
      const client = async (): Promise<'cancelled' | Outcome> => {
        if (i % 3 === 0) await new Promise((r) => setImmediate(r)); // vary who gets there first
        const cancelled = await outcomeOf(db.runs().cancel(id));
        if (cancelled.kind !== 'ok') return cancelled;
        const confirmed = await outcomeOf(db.runs().confirmCancelled(id));
        return confirmed.kind === 'ok' ? 'cancelled' : confirmed;
      };
      // the worker finishes after 0-120 ms of "work", so either side can get there first
      const worker = async () => {
        await new Promise((r) => setTimeout(r, Math.random() * 120));
        return outcomeOf(db.runs().complete(id, USAGE));
      };
      const [c, w] = await Promise.all([client(), worker()]);
      const stored = await db.runs().getById(id);
      expect(timestampViolations(stored)).toEqual([]);
      if (stored.status === 'completed') {
        expect(w).toEqual({ kind: 'ok' });
        expect(c).toEqual({ kind: 'invalid', status: 'completed' }); // its cancel or its confirm lost
        expect(stored.cancelledAt).toBeNull();
        expect(stored.toJSON().usage).toEqual(USAGE);
        return 'completed';
      } else {
        expect(stored.status).toBe('cancelled');
        expect(c).toBe('cancelled');
        expect(w).toEqual({ kind: 'invalid', status: 'cancelled' });
        expect(stored.completedAt).toBeNull();
        expect(stored.usage).toBeNull();
        return 'cancelled';
      }
    });
  });

  it(`confirmCancelled racing complete on a cancelling run, ${ITERATIONS} times: exactly one winner`, async () => {
    const cancelling = (n: number) => seedRuns(db, n, { statuses: ['cancelling'] });
    await race('confirmCancelled vs complete', { iterations: ITERATIONS, prepare: cancelling, mustOccur: ['cancelled', 'completed'] }, async (id) => {
      const [c, w] = await Promise.all([outcomeOf(db.runs().confirmCancelled(id)), outcomeOf(db.runs().complete(id, USAGE))]);
      const stored = await db.runs().getById(id);
      expect(timestampViolations(stored)).toEqual([]);
      expect([c, w].filter((o) => o.kind === 'ok').length).toBe(1);
      expect([c, w].find((o) => o.kind !== 'ok')).toEqual({ kind: 'invalid', status: stored.status });
      expect(stored.status).toBe(c.kind === 'ok' ? 'cancelled' : 'completed');
      return stored.status;
    });
  });

  it(`cancel racing start on a queued run is never lost, ${ITERATIONS} times`, async () => {
    const spec = { iterations: ITERATIONS, prepare: (n: number) => seedRuns(db, n), mustOccur: ['cancelled before start', 'started, then cancelling'] };
    await race('cancel vs start', spec, async (id) => {
      const [c, s] = await Promise.all([outcomeOf(db.runs().cancel(id)), outcomeOf(db.runs().start(id))]);
      const stored = await db.runs().getById(id);
      expect(timestampViolations(stored)).toEqual([]);
      expect(c).toEqual({ kind: 'ok' });
      if (stored.status === 'cancelled') {
        expect(s).toEqual({ kind: 'invalid', status: 'cancelled' });
        expect(stored.startedAt).toBeNull();
        return 'cancelled before start';
      } else {
        expect(stored.status).toBe('cancelling'); // start won, the cancel landed on in_progress
        expect(s).toEqual({ kind: 'ok' });
        expect(stored.startedAt).not.toBeNull();
        return 'started, then cancelling';
      }
    });
  });

  it(`two workers starting the same run, ${ITERATIONS} times: one winner`, async () => {
    const spec = { iterations: ITERATIONS, prepare: (n: number) => seedRuns(db, n), mustOccur: ['first caller won', 'second caller won', 'third caller won'] };
    await race('start vs start vs start', spec, async (id) => {
      const outcomes = await Promise.all([0, 1, 2].map(() => outcomeOf(db.runs().start(id))));
      expect(outcomes.filter((o) => o.kind === 'ok').length).toBe(1);
      expect(outcomes.filter((o) => o.kind === 'invalid' && o.status === 'in_progress').length).toBe(2);
      return `${['first', 'second', 'third'][outcomes.findIndex((o) => o.kind === 'ok')]} caller won`;
    });
  });
});

