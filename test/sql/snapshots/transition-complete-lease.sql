with cur as materialized (select id, status, required_action_id, ctid, coalesce(lease_owner = ? and attempt = ?, false) as lease_held
from run_object
where id = ? for update),
actor as materialized (select set_config('assistants_run_store.actor', 'worker@' || statement_timestamp()::text, true) as declared),
upd as (update run_object r set status = 'completed', completed_at = clock_timestamp(), expires_at = null, required_action_id = null, usage_id = ?::uuid
from cur, actor
where r.id = cur.id and cur.status in ('in_progress', 'cancelling') and cur.lease_held
returning r.*),
ins_usage as (insert into run_usage (id, prompt_tokens, completion_tokens, total_tokens)
select ?::uuid, ?::int, ?::int, ?::int
from upd
returning *)
select cur.status as "fromStatus", r.id is not null as moved, cur.lease_held as "leaseHeld", r."id", r."object", r."created_at" as "createdAt", r."thread_id" as "threadId", r."assistant_id" as "assistantId", r."status", (select json_build_object('id', a."id", 'type', a."type", 'toolCalls', coalesce((select json_agg(json_build_object('id', c."id", 'requiredAction', c."required_action_id", 'position', c."position", 'callId', c."call_id", 'type', c."type", 'functionName', c."function_name", 'functionArguments', c."function_arguments")
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
from ins_usage u) as "usage", r."temperature", r."top_p" as "topP", r."max_prompt_tokens" as "maxPromptTokens", r."max_completion_tokens" as "maxCompletionTokens", (select json_build_object('id', s."id", 'type', s."type", 'lastMessages', s."last_messages", 'hasLastMessages', s."has_last_messages")
from "run_truncation_strategy" s
where s."id" = r."truncation_strategy_id") as "truncationStrategy", (select json_build_object('id', k."id", 'mode', k."mode", 'type', k."type", 'functionName', k."function_name")
from "run_tool_choice" k
where k."id" = r."tool_choice_id") as "toolChoice", r."parallel_tool_calls" as "parallelToolCalls", (select json_build_object('id', p."id", 'type', p."type", 'jsonSchema', p."json_schema")
from "run_response_format" p
where p."id" = r."response_format_id") as "responseFormat", r."lease_owner" as "leaseOwner", r."lease_expires_at" as "leaseExpiresAt", r."attempt", r."required_action_id" as "requiredActionId", r."last_error_id" as "lastErrorId", r."incomplete_details_id" as "incompleteDetailsId", r."usage_id" as "usageId", r."truncation_strategy_id" as "truncationStrategyId", r."tool_choice_id" as "toolChoiceId", r."response_format_id" as "responseFormatId", (select snap.ctid
from "run_object" snap
where snap."id" = cur."id") is distinct
from cur."ctid" as "stale"
from cur
left join upd r on true
-- $1: "w1"
-- $2: 2
-- $3: "run_1"
-- $4: "<uuid>"
-- $5: "<uuid>"
-- $6: 10
-- $7: 20
-- $8: 30
