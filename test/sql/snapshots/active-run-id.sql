select r."id"
from "run_object" r
where r."thread_id" = ? and r."status" in ('queued', 'in_progress', 'requires_action', 'cancelling')
-- $1: "thread_1"
