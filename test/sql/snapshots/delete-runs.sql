delete
from "run_object"
where "id" = any(?::text[])
-- $1: ["run_1","run_2"]
