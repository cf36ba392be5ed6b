with doomed as materialized (select r."id"
from "run_object" r
where r."status" in ('completed', 'failed') and r."created_at" < ?::timestamptz
order by r."created_at", r."id"
limit ? for update skip locked),
gone as (delete
from "run_object" r using doomed
where r."id" = doomed."id" and r."status" in ('completed', 'failed')
returning r."id")
select count(*)::int as "purged"
from gone
-- $1: "2024-01-01 00:00:00+00"
-- $2: 1000
