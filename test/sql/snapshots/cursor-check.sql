select exists (select 1
from "run_object" c
where c."id" = ? and c."thread_id" = ?) as after_ok, exists (select 1
from "run_object" c
where c."id" = ? and c."thread_id" = ?) as before_ok
-- $1: "run_1"
-- $2: "thread_1"
-- $3: "run_9"
-- $4: "thread_1"
