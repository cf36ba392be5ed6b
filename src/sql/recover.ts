import { TRANSITIONS } from '../lifecycle/transitions';
import { actorCte } from './history';
import { HELD_STATUSES } from './lease';
import { Params, type Statement } from './statement';
import { setClausesOf } from './transition';

/**
 * `recoverLapsed`, one batch: up to `batchSize` runs held by a worker (`in_progress`, `cancelling`)
 * whose lease lapsed (`lease_expires_at <= statement_timestamp()`, on the partial index
 * `run_object_lease_expires_idx`, oldest lapse first), locked with `skip locked` — so several
 * recoverers, and a heartbeat or a finishing worker holding a row, never wait for one another and
 * never move a run twice — and moved by ONE update, each to its target:
 *
 *   in_progress, attempt < maxAttempts  → queued (the `recover` row; owner and expiry cleared: the next claim is attempt + 1)
 *   in_progress, attempt >= maxAttempts → failed (the `fail` row), with a `server_error` last_error inserted by the same statement
 *   cancelling                          → cancelled (the `confirmCancelled` row: its worker is gone)
 *
 * The lock is taken before the target is chosen, so it is judged on the newest row version (a
 * heartbeat that committed first moved the expiry: the row no longer qualifies). The history
 * records the moves as actor `recovery` (`actorCte`). Result:
 * `[{ requeued, failed, cancelled }]`.
 */
export function recoverStatement(maxAttempts: number, batchSize: number): Statement {
  const p = new Params();
  const queued = TRANSITIONS.recover.moves.in_progress!;
  const failed = TRANSITIONS.fail.moves.in_progress!;
  const cancelled = TRANSITIONS.confirmCancelled.moves.cancelling!;
  const set = setClausesOf([[queued, queued], [failed, failed], [cancelled, cancelled]], 'due.target');
  const lapsed = (a: string) => `${a}status in (${HELD_STATUSES}) and ${a}lease_expires_at is not null and ${a}lease_expires_at <= statement_timestamp()`;
  const sql =
    `with due as materialized (select id, case when status = 'cancelling' then '${cancelled}' when attempt >= ${p.add(maxAttempts)}::int then '${failed}' else '${queued}' end as target, ` +
    `gen_random_uuid() as error_id from run_object where ${lapsed('')} order by lease_expires_at limit ${p.add(batchSize)}::int for update skip locked)` +
    `, ${actorCte('recovery')}` +
    `, upd as (update run_object r set ${set.sql.join(', ')}, lease_owner = case due.target when '${queued}' then null else r.lease_owner end, lease_expires_at = null, ` +
    `last_error_id = case due.target when '${failed}' then due.error_id else r.last_error_id end ` +
    `from due, actor where r.id = due.id and ${lapsed('r.')} returning r.status, r.attempt, due.error_id)` +
    `, ins_error as (insert into run_last_error (id, code, message) select error_id, 'server_error', ` +
    `'The run''s worker stopped responding after ' || attempt || case when attempt = 1 then ' attempt.' else ' attempts.' end from upd where status = '${failed}')` +
    ` select count(*) filter (where status = '${queued}')::int as requeued, count(*) filter (where status = '${failed}')::int as failed, ` +
    `count(*) filter (where status = '${cancelled}')::int as cancelled from upd`;
  return { sql, params: p.values };
}
