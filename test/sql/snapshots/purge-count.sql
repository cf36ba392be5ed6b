select count(*)::int as "runs"
from "run_object" r
where r."status" in ('completed') and r."created_at" < ?::timestamptz
-- $1: "2024-01-01 00:00:00+00"
