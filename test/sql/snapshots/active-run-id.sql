select "id"
from "run_object"
where "thread_id" = ? and "status" in ('queued', 'in_progress', 'requires_action', 'cancelling')
-- $1: "thread_1"
