/**
 * Retention, as `RunRepository#purgeRuns` exposes it: terminal runs older than a cutoff deleted
 * with all their parts, in bounded batches (sql/purge.ts) until none is left, each batch its own
 * statement (so no lock is held longer than one batch).
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import { RUN_STATUSES, TERMINAL_STATUSES, type RunStatus } from '../api/types';
import { checkDate, checkOptions as checkOptionsObject } from '../api/arguments';
import { RunValidationError } from '../errors';
import { cutoffStatement, purgeBatchStatement, purgeCountStatement, type PurgeSpec } from '../sql/purge';
import { atomically, read, write } from './executor';

export interface PurgeOptions {
  /** Purge runs created more than this many seconds ago (database clock). One of this and `before`. */
  olderThanSeconds?: number;
  /** Purge runs created before this time. */
  before?: Date;
  /** Only these terminal statuses (default: every terminal status). */
  statuses?: RunStatus[];
  /** Runs per batch (1–10,000, default 1,000). */
  batchSize?: number;
  /** Count what would be purged; delete nothing. */
  dryRun?: boolean;
  /** Called after each batch with the total so far (a progress bar). */
  onBatch?: (purgedSoFar: number) => void;
}

const KEYS = ['olderThanSeconds', 'before', 'statuses', 'batchSize', 'dryRun', 'onBatch'] as const;
export const DEFAULT_PURGE_BATCH = 1000;
const MAX_PURGE_BATCH = 10_000;
const MAX_AGE_SECONDS = 400 * 365 * 86_400;

function checkOptions(options: unknown): Required<Pick<PurgeOptions, 'batchSize' | 'dryRun'>> & PurgeOptions & { statuses: RunStatus[] } {
  const o = checkOptionsObject(options, 'options', KEYS) as PurgeOptions;
  const hasAge = o.olderThanSeconds !== undefined;
  const hasBefore = o.before !== undefined;
  if (hasAge === hasBefore) throw RunValidationError.of('options', 'needs exactly one of olderThanSeconds and before');
  if (hasAge && (typeof o.olderThanSeconds !== 'number' || !Number.isFinite(o.olderThanSeconds) || o.olderThanSeconds < 0 || o.olderThanSeconds > MAX_AGE_SECONDS)) {
    throw RunValidationError.of('options.olderThanSeconds', `must be a number of seconds from 0 to ${MAX_AGE_SECONDS}`);
  }
  const before = hasBefore ? checkDate(o.before, 'options.before') : undefined;
  let statuses: RunStatus[] = [...TERMINAL_STATUSES];
  if (o.statuses !== undefined) {
    if (!Array.isArray(o.statuses) || o.statuses.length === 0) throw RunValidationError.of('options.statuses', 'must be a non-empty array of terminal statuses');
    for (const [i, s] of o.statuses.entries()) {
      if (typeof s !== 'string' || !(RUN_STATUSES as readonly string[]).includes(s)) throw RunValidationError.of(`options.statuses[${i}]`, 'is not a run status');
      if (!(TERMINAL_STATUSES as readonly string[]).includes(s)) throw RunValidationError.of(`options.statuses[${i}]`, `'${s}' is active: only terminal runs are purged`);
    }
    statuses = [...new Set(o.statuses)];
  }
  const batchSize = o.batchSize ?? DEFAULT_PURGE_BATCH;
  if (typeof batchSize !== 'number' || !Number.isInteger(batchSize) || batchSize < 1 || batchSize > MAX_PURGE_BATCH) {
    throw RunValidationError.of('options.batchSize', `must be a whole number from 1 to ${MAX_PURGE_BATCH}`);
  }
  if (o.dryRun !== undefined && typeof o.dryRun !== 'boolean') throw RunValidationError.of('options.dryRun', 'must be a boolean');
  if (o.onBatch !== undefined && typeof o.onBatch !== 'function') throw RunValidationError.of('options.onBatch', 'must be a function');
  return { ...o, before, statuses, batchSize, dryRun: o.dryRun ?? false };
}

/** Deletes (or, with `dryRun`, counts) the terminal runs the options select; returns how many. */
export async function purgeRuns(em: EntityManager, options: PurgeOptions): Promise<number> {
  const o = checkOptions(options);
  const before = o.before !== undefined ? o.before.toISOString() : (await read<{ before: string }>(em, cutoffStatement(o.olderThanSeconds!)))[0].before;
  const spec: PurgeSpec = { statuses: o.statuses, before };
  if (o.dryRun) return (await read<{ runs: number }>(em, purgeCountStatement(spec)))[0].runs;
  // inside the caller's transaction, one savepoint for all the batches (see `atomically`)
  return atomically(em, async () => {
    let total = 0;
    for (;;) {
      const [{ purged }] = await write<{ purged: number }>(em, purgeBatchStatement(spec, o.batchSize));
      total += purged;
      o.onBatch?.(total);
      if (purged < o.batchSize) return total;
    }
  });
}
