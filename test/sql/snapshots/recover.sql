with due as materialized (select id, case when status = 'cancelling' then 'cancelled' when attempt >= ?::int then 'failed' else 'queued' end as target, gen_random_uuid() as error_id
from run_object
where status in ('in_progress', 'cancelling') and lease_expires_at is not null and lease_expires_at <= statement_timestamp()
order by lease_expires_at
limit ?::int for update skip locked),
actor as materialized (select set_config('assistants_run_store.actor', 'recovery@' || statement_timestamp()::text, true) as declared),
upd as (update run_object r set status = case due.target when 'queued' then 'queued' when 'failed' then 'failed' when 'cancelled' then 'cancelled' else r.status end, cancelled_at = case due.target when 'queued' then r.cancelled_at when 'failed' then r.cancelled_at when 'cancelled' then clock_timestamp() else r.cancelled_at end, failed_at = case due.target when 'queued' then r.failed_at when 'failed' then clock_timestamp() when 'cancelled' then r.failed_at else r.failed_at end, expires_at = case due.target when 'queued' then r.expires_at when 'failed' then null when 'cancelled' then null else r.expires_at end, required_action_id = null, lease_owner = case due.target when 'queued' then null else r.lease_owner end, lease_expires_at = null, last_error_id = case due.target when 'failed' then due.error_id else r.last_error_id end
from due, actor
where r.id = due.id and r.status in ('in_progress', 'cancelling') and r.lease_expires_at is not null and r.lease_expires_at <= statement_timestamp()
returning r.status, r.attempt, due.error_id),
ins_error as (insert into run_last_error (id, code, message)
select error_id, 'server_error', 'The run''s worker stopped responding after ' || attempt || case when attempt = 1 then ' attempt.' else ' attempts.' end
from upd
where status = 'failed')
select count(*) filter (where status = 'queued')::int as requeued, count(*) filter (where status = 'failed')::int as failed, count(*) filter (where status = 'cancelled')::int as cancelled
from upd
-- $1: 3
-- $2: 500
