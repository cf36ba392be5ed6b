select json_build_object('id', r."id", 'object', 'thread.run', 'created_at', floor(extract(epoch
from r."created_at"))::bigint, 'thread_id', r."thread_id", 'assistant_id', r."assistant_id", 'status', r."status", 'required_action', (select json_build_object('type', a."type", 'submit_tool_outputs', json_build_object('tool_calls', coalesce((select json_agg(json_build_object('id', c."call_id", 'type', c."type", 'function', json_build_object('name', c."function_name", 'arguments', c."function_arguments"))
order by c."position")
from "run_tool_call" c
where c."required_action_id" = a."id"), '[]'::json)))
from "run_required_action" a
where a."id" = r."required_action_id"), 'last_error', (select json_build_object('code', e."code", 'message', e."message")
from "run_last_error" e
where e."id" = r."last_error_id"), 'expires_at', floor(extract(epoch
from r."expires_at"))::bigint, 'started_at', floor(extract(epoch
from r."started_at"))::bigint, 'cancelled_at', floor(extract(epoch
from r."cancelled_at"))::bigint, 'failed_at', floor(extract(epoch
from r."failed_at"))::bigint, 'completed_at', floor(extract(epoch
from r."completed_at"))::bigint, 'incomplete_details', (select case when d."reason" is null then '{}'::json else json_build_object('reason', d."reason") end
from "run_incomplete_details" d
where d."id" = r."incomplete_details_id"), 'model', r."model", 'instructions', r."instructions", 'tools', coalesce((select json_agg(case t."type" when 'function' then json_build_object('type', t."type", 'function', t."function") when 'file_search' then case when t."file_search" is null then json_build_object('type', t."type") else json_build_object('type', t."type", 'file_search', t."file_search") end else json_build_object('type', t."type") end
order by t."position")
from "run_tool" t
where t."run_id" = r."id"), '[]'::json), 'metadata', r."metadata", 'usage', (select json_build_object('prompt_tokens', u."prompt_tokens", 'completion_tokens', u."completion_tokens", 'total_tokens', u."total_tokens")
from "run_usage" u
where u."id" = r."usage_id"), 'temperature', r."temperature", 'top_p', r."top_p", 'max_prompt_tokens', r."max_prompt_tokens", 'max_completion_tokens', r."max_completion_tokens", 'truncation_strategy', (select case when s."has_last_messages" then json_build_object('type', s."type", 'last_messages', s."last_messages") else json_build_object('type', s."type") end
from "run_truncation_strategy" s
where s."id" = r."truncation_strategy_id"), 'tool_choice', (select case when k."mode" is not null then to_json(k."mode") when k."function_name" is not null then json_build_object('type', k."type", 'function', json_build_object('name', k."function_name")) else json_build_object('type', k."type") end
from "run_tool_choice" k
where k."id" = r."tool_choice_id"), 'parallel_tool_calls', r."parallel_tool_calls", 'response_format', (select case p."type" when 'auto' then to_json(p."type") when 'json_schema' then json_build_object('type', p."type", 'json_schema', p."json_schema") else json_build_object('type', p."type") end
from "run_response_format" p
where p."id" = r."response_format_id")) as "run", case when r."carries_file_ids" then coalesce((select json_agg(f."file_id"
order by f."position")
from "run_file_id" f
where f."run_id" = r."id"), '[]'::json) end as "file_ids"
from "run_object" r
where r."id" = any(array(select r."id"
from "run_object" r
where r."thread_id" = ? and (r."created_at", r."id") < (select c."created_at", c."id"
from "run_object" c
where c."id" = ? and c."thread_id" = ?)
order by r."created_at" desc, r."id" desc
limit 6))
order by r."created_at" desc, r."id" desc
-- $1: "thread_1"
-- $2: "run_9"
-- $3: "thread_1"
