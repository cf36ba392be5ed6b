/** Bulk test data for the race tests: hundreds of runs in one SQL statement (create() one by one would dominate the test time). */
import { randomBytes } from 'node:crypto';
import type { RunStatus } from '../../src/api/types';
import type { TestDatabase } from '../support/test-database';

export interface SeedOptions {
  /** Statuses, assigned round-robin. requires_action runs get a required action with one tool call (`call_<n>`). */
  statuses?: RunStatus[];
  /** Seconds from now to expires_at (negative: overdue); `null` for none. Terminal runs get null. */
  expiresIn?: number | null;
  assistantId?: string;
  model?: string;
}

/**
 * Inserts `count` runs, each on its own thread, created 1 ms apart in id order (so "oldest first"
 * is the insertion order). Returns their ids in that order.
 */
export async function seedRuns(db: TestDatabase, count: number, options: SeedOptions = {}): Promise<string[]> {
  const prefix = `run_seed${randomBytes(5).toString('hex')}_`;
  const statuses = options.statuses ?? ['queued'];
  await db.sql(
    `with src as (
       select g, ($2::text[])[1 + (g - 1) % cardinality($2::text[])] as status, gen_random_uuid() as action_id
       from generate_series(1, $1::int) g
     ), actions as (
       insert into run_required_action (id) select action_id from src where status = 'requires_action'
     ), calls as (
       insert into run_tool_call (id, required_action_id, position, call_id, function_name, function_arguments)
       select gen_random_uuid(), action_id, 0, 'call_' || g, 'lookup', '{}' from src where status = 'requires_action'
     )
     insert into run_object (id, created_at, thread_id, assistant_id, status, required_action_id, expires_at, started_at, model, metadata)
     select $3 || lpad(g::text, 6, '0'),
            date_trunc('milliseconds', clock_timestamp()) - interval '2 hours' + g * interval '1 millisecond',
            'thread_' || $3 || g, $4, status,
            case when status = 'requires_action' then action_id end,
            case when status in ('queued', 'in_progress', 'requires_action', 'cancelling', 'expired') and $5::int is not null
                 then clock_timestamp() + $5::int * interval '1 second' end,
            case when status <> 'queued' then clock_timestamp() - interval '1 hour' end,
            $6, '{}'::json
     from src`,
    [count, statuses, prefix, options.assistantId ?? 'asst_seed', options.expiresIn === undefined ? 600 : options.expiresIn, options.model ?? 'gpt-4o'],
  );
  return Array.from({ length: count }, (_, i) => `${prefix}${String(i + 1).padStart(6, '0')}`);
}

/** Runs `count` async jobs, `width` at a time. */
export async function inBatches(count: number, width: number, job: (i: number) => Promise<void>): Promise<void> {
  for (let start = 0; start < count; start += width) {
    await Promise.all(Array.from({ length: Math.min(width, count - start) }, (_, k) => job(start + k)));
  }
}

/** A race run by `RaceTally#race`: rounds of `iterations` inputs, each iteration naming the outcome classes it saw. */
export interface RaceSpec<T> {
  /** Iterations per round. */
  iterations: number;
  /** How many iterations run at once (default 10). */
  width?: number;
  /** Further rounds run only while a class of `mustOccur` has not occurred yet (default: at most 3 rounds in all). */
  maxRounds?: number;
  /** The inputs of one round (e.g. `n` seeded runs). */
  prepare: (n: number) => Promise<T[]>;
  /** Classes that must each occur at least once: the race went every way it can. */
  mustOccur: readonly string[];
  /** Classes that may occur (rarely); any class outside these two lists fails the test. */
  mayOccur?: readonly string[];
}

export interface RaceTally {
  tally: Record<string, unknown>;
  /** Adds `n` to the counter `key`. */
  count: (key: string, n?: number) => void;
  /** Keeps `value` under `key`. */
  record: (key: string, value: unknown) => void;
  /**
   * Runs the race `name` as `spec` says (`iteration` returns the outcome classes it saw, counted as
   * `name: class`), then asserts that every class of `mustOccur` occurred and no unlisted one did.
   * Returns the counts of the classes.
   */
  race: <T>(name: string, spec: RaceSpec<T>, iteration: (input: T, i: number) => Promise<string | string[]>) => Promise<Record<string, number>>;
}

/**
 * A race file's record of what happened, printed after the file so a reader sees that each race
 * really went every way: counters, values, and the asserted outcome classes of `race`.
 */
export function raceTally(): RaceTally {
  const tally: Record<string, unknown> = {};
  afterAll(() => console.log(`race outcomes: ${JSON.stringify(tally, null, 1)}`));
  const count = (key: string, n = 1) => {
    tally[key] = ((tally[key] as number | undefined) ?? 0) + n;
  };
  return {
    tally,
    count,
    record: (key, value) => {
      tally[key] = value;
    },
    async race(name, spec, iteration) {
      const classes: Record<string, number> = {};
      const missing = () => spec.mustOccur.filter((c) => !(c in classes));
      const maxRounds = spec.maxRounds ?? 3;
      for (let round = 0; round === 0 || (round < maxRounds && missing().length > 0); round++) {
        const inputs = await spec.prepare(spec.iterations);
        await inBatches(inputs.length, spec.width ?? 10, async (i) => {
          const seen = await iteration(inputs[i], i);
          for (const c of typeof seen === 'string' ? [seen] : seen) {
            classes[c] = (classes[c] ?? 0) + 1;
            count(`${name}: ${c}`);
          }
        });
      }
      const allowed = new Set([...spec.mustOccur, ...(spec.mayOccur ?? [])]);
      expect({ race: name, missing: missing(), impossible: Object.keys(classes).filter((c) => !allowed.has(c)) }).toEqual({ race: name, missing: [], impossible: [] });
      return classes;
    },
  };
}

/** The stored status of each run, in id order. */
export async function statusesOf(db: TestDatabase, ids: string[]): Promise<{ id: string; status: RunStatus }[]> {
  return db.sql<{ id: string; status: RunStatus }>(`select id, status from run_object where id = any($1) order by id`, [ids]);
}
