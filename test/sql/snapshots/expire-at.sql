with due as materialized (select id
from run_object
where status in ('queued', 'in_progress', 'requires_action', 'cancelling') and expires_at <= coalesce(?::timestamptz, statement_timestamp())
order by id for update),
upd as (update run_object r set status = 'expired', required_action_id = null
from due
where r.id = due.id and r.status in ('queued', 'in_progress', 'requires_action', 'cancelling')
returning r.id)
select count(*)::int as expired
from upd
-- $1: "2026-01-01T00:00:00.000Z"
