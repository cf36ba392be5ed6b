with picked as materialized (select id, ctid
from run_object
where status = 'queued' and (expires_at is null or expires_at > statement_timestamp()) and assistant_id = ?
order by created_at, id
limit 1 for update skip locked),
actor as materialized (select set_config('assistants_run_store.actor', 'worker@' || statement_timestamp()::text, true) as declared),
upd as (update run_object r set status = 'in_progress', started_at = clock_timestamp(), required_action_id = null, attempt = r.attempt + 1, lease_owner = ?, lease_expires_at = clock_timestamp() + make_interval(secs => ?::double precision)
from picked, actor
where r.id = picked.id and r.status in ('queued')
returning r.*)
select r."id", r."object", r."created_at" as "createdAt", r."thread_id" as "threadId", r."assistant_id" as "assistantId", r."status", (select json_build_object('id', a."id", 'type', a."type", 'toolCalls', coalesce((select json_agg(json_build_object('id', c."id", 'requiredAction', c."required_action_id", 'position', c."position", 'callId', c."call_id", 'type', c."type", 'functionName', c."function_name", 'functionArguments', c."function_arguments")
order by c."position")
from "run_tool_call" c
where c."required_action_id" = a."id"), '[]'::json))
from "run_required_action" a
where a."id" = r."required_action_id") as "requiredAction", (select json_build_object('id', e."id", 'code', e."code", 'message', e."message")
from "run_last_error" e
where e."id" = r."last_error_id") as "lastError", r."expires_at" as "expiresAt", r."started_at" as "startedAt", r."cancelled_at" as "cancelledAt", r."failed_at" as "failedAt", r."completed_at" as "completedAt", (select json_build_object('id', d."id", 'reason', d."reason")
from "run_incomplete_details" d
where d."id" = r."incomplete_details_id") as "incompleteDetails", r."model", r."instructions", coalesce((select json_agg(json_build_object('id', t."id", 'run', t."run_id", 'position', t."position", 'type', t."type", 'function', t."function", 'fileSearch', t."file_search")
order by t."position")
from "run_tool" t
where t."run_id" = r."id"), '[]'::json) as "tools", coalesce((select json_agg(json_build_object('id', f."id", 'run', f."run_id", 'position', f."position", 'fileId', f."file_id")
order by f."position")
from "run_file_id" f
where f."run_id" = r."id"), '[]'::json) as "fileIds", r."carries_file_ids" as "carriesFileIds", r."metadata", (select json_build_object('id', u."id", 'promptTokens', u."prompt_tokens", 'completionTokens', u."completion_tokens", 'totalTokens', u."total_tokens")
from "run_usage" u
where u."id" = r."usage_id") as "usage", r."temperature", r."top_p" as "topP", r."max_prompt_tokens" as "maxPromptTokens", r."max_completion_tokens" as "maxCompletionTokens", (select json_build_object('id', s."id", 'type', s."type", 'lastMessages', s."last_messages", 'hasLastMessages', s."has_last_messages")
from "run_truncation_strategy" s
where s."id" = r."truncation_strategy_id") as "truncationStrategy", (select json_build_object('id', k."id", 'mode', k."mode", 'type', k."type", 'functionName', k."function_name")
from "run_tool_choice" k
where k."id" = r."tool_choice_id") as "toolChoice", r."parallel_tool_calls" as "parallelToolCalls", (select json_build_object('id', p."id", 'type', p."type", 'jsonSchema', p."json_schema")
from "run_response_format" p
where p."id" = r."response_format_id") as "responseFormat", r."lease_owner" as "leaseOwner", r."lease_expires_at" as "leaseExpiresAt", r."attempt", r."required_action_id" as "requiredActionId", r."last_error_id" as "lastErrorId", r."incomplete_details_id" as "incompleteDetailsId", r."usage_id" as "usageId", r."truncation_strategy_id" as "truncationStrategyId", r."tool_choice_id" as "toolChoiceId", r."response_format_id" as "responseFormatId", (select snap.ctid
from "run_object" snap
where snap."id" = picked."id") is distinct
from picked."ctid" as "stale", "run_object_tool_outputs"(r.id) as "toolOutputs"
from upd r
join picked on picked.id = r.id
-- $1: "asst_1"
-- $2: "w1"
-- $3: 30
