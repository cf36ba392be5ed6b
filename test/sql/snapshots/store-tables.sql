select 1
from "run_object"
limit 0

