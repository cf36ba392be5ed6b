/**
 * Retention: terminal runs created before a cutoff, deleted in bounded batches. Each batch locks at
 * most `batchSize` rows, and only rows no one else holds (`skip locked`: a purge never waits for a
 * transition or for another purge), so several purges can run at once and each run is deleted by
 * exactly one of them. A run's parts go with it (the migrations' trigger).
 */
import type { RunStatus } from '../api/types';
import { Params, statusList, type Statement } from './statement';
import { TABLE } from './tables';

export interface PurgeSpec {
  /** Terminal statuses only (the caller checks): an active run is never purged. */
  statuses: readonly RunStatus[];
  /** Runs created strictly before this time (ISO text, as the database gave it). */
  before: string;
}

const doomed = (spec: PurgeSpec, p: Params) =>
  `r."status" in (${statusList(spec.statuses)}) and r."created_at" < ${p.add(spec.before)}::timestamptz`;

/** One batch: deletes up to `batchSize` matching runs; one row `{ purged }`. */
export function purgeBatchStatement(spec: PurgeSpec, batchSize: number): Statement {
  const p = new Params();
  const where = doomed(spec, p);
  const sql =
    `with doomed as materialized (select r."id" from ${TABLE.run_object} r where ${where} order by r."created_at", r."id" limit ${p.add(batchSize)} for update skip locked)` +
    `, gone as (delete from ${TABLE.run_object} r using doomed where r."id" = doomed."id" and r."status" in (${statusList(spec.statuses)}) returning r."id")` +
    ' select count(*)::int as "purged" from gone';
  return { sql, params: p.values };
}

/** How many runs a purge would delete now (`--dry-run`); one row `{ runs }`. */
export function purgeCountStatement(spec: PurgeSpec): Statement {
  const p = new Params();
  return { sql: `select count(*)::int as "runs" from ${TABLE.run_object} r where ${doomed(spec, p)}`, params: p.values };
}

/** The cutoff `seconds` before now on the database's clock, as text (one row `{ before }`). */
export function cutoffStatement(seconds: number): Statement {
  return { sql: `select (clock_timestamp() - make_interval(secs => ?::float8))::text as "before"`, params: [seconds] };
}
