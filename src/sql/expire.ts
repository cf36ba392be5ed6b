import { ACTIVE_STATUSES } from '../api/types';
import { statusList, type Statement } from './statement';
import { setClauses } from './transition';

/**
 * `expireOverdue`: every active run with `expires_at <= now` (default: the statement's time on the
 * database clock) → `expired`. The overdue rows are locked in `id` order, so concurrent expirers
 * queue behind one another instead of deadlocking; a row another expirer (or any transition)
 * changed meanwhile is re-checked after the wait and skipped when no longer active, so each run is
 * counted by exactly one caller. Result: `[{ expired }]`.
 */
export function expireStatement(now?: Date): Statement {
  const active = statusList(ACTIVE_STATUSES);
  const set = setClauses('expire', 'r.status');
  const sql =
    `with due as materialized (select id from run_object where status in (${active}) and expires_at <= coalesce(?::timestamptz, statement_timestamp()) order by id for update)` +
    `, upd as (update run_object r set ${set.sql.join(', ')} from due where r.id = due.id and r.status in (${active}) returning r.id)` +
    ' select count(*)::int as expired from upd';
  return { sql, params: [now ? now.toISOString() : null] };
}
