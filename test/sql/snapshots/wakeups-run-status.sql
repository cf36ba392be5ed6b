select status
from "run_object"
where id = ?
-- $1: "run_1"
