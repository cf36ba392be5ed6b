select h."id", h."from_status" as "from", h."to_status" as "to", h."changed_at" as "at", h."actor", h."worker", h."attempt", (select json_agg(json_build_object('id', o."call_id", 'type', 'function', 'function', json_build_object('name', o."function_name", 'arguments', o."function_arguments", 'output', o."output"))
order by o."position")
from "run_tool_output" o
where o."run_id" = h."run_id" and o."required_action_id" = h."required_action_id" and not exists (select 1
from "run_status_change" l
where l."run_id" = h."run_id" and l."required_action_id" = h."required_action_id" and l."id" > h."id")) as "toolOutputs"
from "run_object" r
left join "run_status_change" h on h."run_id" = r."id"
where r."id" = ?
order by h."id"
-- $1: "run_1"
