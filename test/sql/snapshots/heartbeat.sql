with cur as materialized (select id, status, coalesce(lease_owner = ? and attempt = ?, false) as held
from run_object
where id = ? for update),
upd as (update run_object r set lease_expires_at = clock_timestamp() + make_interval(secs => ?::double precision)
from cur
where r.id = cur.id and cur.held and cur.status in ('in_progress', 'cancelling')
returning r.lease_expires_at)
select cur.status as "fromStatus", cur.held, upd.lease_expires_at as "leaseExpiresAt"
from cur
left join upd on true
-- $1: "w1"
-- $2: 2
-- $3: "run_1"
-- $4: 30
