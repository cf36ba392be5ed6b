/**
 * The SQL of the aggregates: one statement each.
 *
 * Both take the same filter: a thread, an assistant, a created-at window.
 * - `countByStatus`: `GROUP BY status` over the filtered runs; with a thread or an assistant it
 *   reads that scope's index (`run_object_thread_created_idx`, or an assistant index).
 * - `usageTotals`: every matching run, `LEFT JOIN`ed to its usage by primary key.
 * The created-at window is a range on the scope's index, or a bitmap scan of
 * `run_object_created_brin` when unscoped.
 */
import type { AggregateFilter } from '../api/list-query';
import type { Statement } from './statement';
import { TABLE } from './tables';

/** The filter's conditions on the run `r`: scope, then the created-at window (compared in SQL: `to_timestamp` takes the unix seconds as given). */
export function filterConds(filter: AggregateFilter, params: unknown[]): string[] {
  const conds: string[] = [];
  const add = (cond: string, value: unknown) => {
    conds.push(cond);
    params.push(value);
  };
  if (filter.threadId !== null) add('r."thread_id" = ?', filter.threadId);
  if (filter.assistantId !== null) add('r."assistant_id" = ?', filter.assistantId);
  if (filter.createdAfter !== null) add('r."created_at" >= to_timestamp(?)', filter.createdAfter);
  if (filter.createdBefore !== null) add('r."created_at" < to_timestamp(?)', filter.createdBefore);
  return conds;
}

const where = (conds: string[]) => (conds.length ? ` where ${conds.join(' and ')}` : '');

/** Rows `{ status, runs }`, one per status present (the caller fills in the zeros). */
export function countByStatusStatement(filter: AggregateFilter): Statement {
  const params: unknown[] = [];
  const conds = filterConds(filter, params);
  return { sql: `select r."status", count(*) as "runs" from ${TABLE.run_object} r${where(conds)} group by r."status"`, params };
}

/** One row `{ runs, prompt_tokens, completion_tokens, total_tokens }` (bigints, as strings from pg). */
export function usageTotalsStatement(filter: AggregateFilter): Statement {
  const params: unknown[] = [];
  const conds = filterConds(filter, params);
  return {
    sql:
      'select count(*) as "runs", ' +
      'coalesce(sum(u."prompt_tokens"), 0) as "prompt_tokens", ' +
      'coalesce(sum(u."completion_tokens"), 0) as "completion_tokens", ' +
      'coalesce(sum(u."total_tokens"), 0) as "total_tokens" ' +
      `from ${TABLE.run_object} r left join ${TABLE.run_usage} u on u."id" = r."usage_id"${where(conds)}`,
    params,
  };
}
