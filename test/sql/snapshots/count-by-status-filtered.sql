select r."status", count(*) as "runs"
from "run_object" r
where r."thread_id" = ? and r."assistant_id" = ? and r."created_at" >= to_timestamp(?) and r."created_at" < to_timestamp(?)
group by r."status"
-- $1: "thread_1"
-- $2: "asst_1"
-- $3: 1716000000
-- $4: 1716000600
