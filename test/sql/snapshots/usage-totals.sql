select count(*) as "runs", coalesce(sum(u."prompt_tokens"), 0) as "prompt_tokens", coalesce(sum(u."completion_tokens"), 0) as "completion_tokens", coalesce(sum(u."total_tokens"), 0) as "total_tokens"
from "run_object" r
left join "run_usage" u on u."id" = r."usage_id"
where r."assistant_id" = ?
-- $1: "asst_1"
