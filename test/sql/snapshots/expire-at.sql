with cutoff as materialized (select coalesce(?::timestamptz, statement_timestamp()) as at),
due as materialized (select id
from run_object
where status in ('queued', 'in_progress', 'requires_action', 'cancelling') and expires_at <= (select at
from cutoff)
order by expires_at
limit 500 for update skip locked),
actor as materialized (select set_config('assistants_run_store.actor', 'expiry@' || statement_timestamp()::text, true) as declared),
upd as (update run_object r set status = 'expired', required_action_id = null
from due, actor
where r.id = due.id and r.status in ('queued', 'in_progress', 'requires_action', 'cancelling')
returning r.id)
select (select count(*)::int
from upd) as expired, (select at::text
from cutoff) as cutoff
-- $1: "2026-01-01T00:00:00.000Z"
