select r."status", count(*) as "runs"
from "run_object" r
group by r."status"

