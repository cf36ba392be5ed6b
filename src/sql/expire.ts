import { ACTIVE_STATUSES } from '../api/types';
import { actorCte } from './history';
import { statusList, type Statement } from './statement';
import { setClauses } from './transition';

/** The most runs one `expireOverdue` statement moves; `expireOverdue` sends batches until one comes back short. */
export const EXPIRE_BATCH_SIZE = 500;

/**
 * One batch of `expireOverdue`: up to `EXPIRE_BATCH_SIZE` active runs with `expires_at <= cutoff`
 * (default: the statement's time on the database clock) → `expired`, the most overdue first. The
 * rows are locked with `skip locked`: a run another transaction holds is left out instead of waited
 * for, so an expirer never waits on a row lock and cannot be part of a deadlock, and concurrent
 * expirers take disjoint runs. A locked row is the newest version (read committed re-checks it
 * against the filter), and the update re-checks `status`, so each run is counted by exactly one
 * caller. The history records the moves as actor `expiry` (`actorCte`). Result: `[{ expired, cutoff }]`, `cutoff` as the database's text, for the next batch.
 */
export function expireStatement(cutoff?: Date | string): Statement {
  const active = statusList(ACTIVE_STATUSES);
  const set = setClauses('expire', 'r.status');
  const sql =
    'with cutoff as materialized (select coalesce(?::timestamptz, statement_timestamp()) as at)' +
    `, due as materialized (select id from run_object where status in (${active}) and expires_at <= (select at from cutoff)` +
    ` order by expires_at limit ${EXPIRE_BATCH_SIZE} for update skip locked)` +
    `, ${actorCte('expiry')}` +
    `, upd as (update run_object r set ${set.sql.join(', ')} from due, actor where r.id = due.id and r.status in (${active}) returning r.id)` +
    ' select (select count(*)::int from upd) as expired, (select at::text from cutoff) as cutoff';
  return { sql, params: [cutoff instanceof Date ? cutoff.toISOString() : (cutoff ?? null)] };
}
