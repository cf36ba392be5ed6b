/**
 * Retention, as `RunRepository#purgeRuns` exposes it: terminal runs older than a cutoff deleted
 * with all their parts, in bounded batches (sql/purge.ts) until none is left, each batch its own
 * statement (so no lock is held longer than one batch).
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import { TERMINAL_STATUSES, type RunStatus } from '../api/types';
import { parseOrThrow, purgeOptionsSchema } from '../api/schema';
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

/**
 * The options, checked: known keys only; exactly one of `olderThanSeconds` and `before`; `before`
 * a real Date and `onBatch` a function (checked here: no JSON values), the rest by
 * `purgeOptionsSchema`.
 */
function checkOptions(options: unknown): Required<Pick<PurgeOptions, 'batchSize' | 'dryRun'>> & PurgeOptions & { statuses: RunStatus[] } {
  const { before: givenBefore, onBatch, ...json } = checkOptionsObject(options, 'options', KEYS) as PurgeOptions;
  if ((json.olderThanSeconds === undefined) === (givenBefore === undefined)) throw RunValidationError.of('options', 'needs exactly one of olderThanSeconds and before');
  const before = givenBefore !== undefined ? checkDate(givenBefore, 'options.before') : undefined;
  if (onBatch !== undefined && typeof onBatch !== 'function') throw RunValidationError.of('options.onBatch', 'must be a function');
  const o = parseOrThrow(purgeOptionsSchema, json, 'options');
  return {
    ...o,
    before,
    onBatch,
    statuses: o.statuses ? [...new Set(o.statuses)] : [...TERMINAL_STATUSES],
    batchSize: o.batchSize ?? DEFAULT_PURGE_BATCH,
    dryRun: o.dryRun ?? false,
  };
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
