with i_run as (insert into "run_object" as r ("id", "object", "created_at", "thread_id", "assistant_id", "status", "required_action_id", "last_error_id", "expires_at", "started_at", "cancelled_at", "failed_at", "completed_at", "incomplete_details_id", "model", "instructions", "carries_file_ids", "metadata", "usage_id", "temperature", "top_p", "max_prompt_tokens", "max_completion_tokens", "truncation_strategy_id", "tool_choice_id", "parallel_tool_calls", "response_format_id")
select (x->>0)::text, (x->>1)::text, n.at, (x->>3)::text, (x->>4)::text, (x->>5)::text, (x->>6)::uuid, (x->>7)::uuid, n.at + make_interval(secs => ?::float8), (x->>9)::timestamptz, (x->>10)::timestamptz, (x->>11)::timestamptz, (x->>12)::timestamptz, (x->>13)::uuid, (x->>14)::text, (x->>15)::text, (x->>16)::boolean, (x->>17)::json, (x->>18)::uuid, (x->>19)::float8, (x->>20)::float8, (x->>21)::int, (x->>22)::int, (x->>23)::uuid, (x->>24)::uuid, (x->>25)::boolean, (x->>26)::uuid
from jsonb_array_elements(?::jsonb) as x, (select clock_timestamp() as at) as n
returning "id", "created_at", "expires_at", "required_action_id", "last_error_id", "incomplete_details_id", "usage_id", "truncation_strategy_id", "tool_choice_id", "response_format_id"), i_requiredAction as (insert into "run_required_action" ("id", "type")
select (x->>0)::uuid, (x->>1)::text
from jsonb_array_elements(?::jsonb) as x), i_toolCall as (insert into "run_tool_call" ("id", "required_action_id", "position", "call_id", "type", "function_name", "function_arguments")
select (x->>0)::uuid, (x->>1)::uuid, (x->>2)::int, (x->>3)::text, (x->>4)::text, (x->>5)::text, (x->>6)::text
from jsonb_array_elements(?::jsonb) as x), i_lastError as (insert into "run_last_error" ("id", "code", "message")
select (x->>0)::uuid, (x->>1)::text, (x->>2)::text
from jsonb_array_elements(?::jsonb) as x), i_incompleteDetails as (insert into "run_incomplete_details" ("id", "reason")
select (x->>0)::uuid, (x->>1)::text
from jsonb_array_elements(?::jsonb) as x),
i_usage as (insert into "run_usage" ("id", "prompt_tokens", "completion_tokens", "total_tokens")
select (x->>0)::uuid, (x->>1)::int, (x->>2)::int, (x->>3)::int
from jsonb_array_elements(?::jsonb) as x), i_truncationStrategy as (insert into "run_truncation_strategy" ("id", "type", "last_messages", "has_last_messages")
select (x->>0)::uuid, (x->>1)::text, (x->>2)::int, (x->>3)::boolean
from jsonb_array_elements(?::jsonb) as x), i_toolChoice as (insert into "run_tool_choice" ("id", "mode", "type", "function_name")
select (x->>0)::uuid, (x->>1)::text, (x->>2)::text, (x->>3)::text
from jsonb_array_elements(?::jsonb) as x), i_responseFormat as (insert into "run_response_format" ("id", "type", "json_schema")
select (x->>0)::uuid, (x->>1)::text, (x->>2)::json
from jsonb_array_elements(?::jsonb) as x),
i_tool as (insert into "run_tool" ("id", "run_id", "position", "type", "function", "file_search")
select (x->>0)::uuid, (x->>1)::text, (x->>2)::int, (x->>3)::text, (x->>4)::json, (x->>5)::json
from jsonb_array_elements(?::jsonb) as x), i_fileId as (insert into "run_file_id" ("id", "run_id", "position", "file_id")
select (x->>0)::uuid, (x->>1)::text, (x->>2)::int, (x->>3)::text
from jsonb_array_elements(?::jsonb) as x)
select "id", "created_at" as "createdAt", "expires_at" as "expiresAt"
from i_run
-- $1: 600
-- $2: "[[\"run_snapshot\",\"thread.run\",\"2023-11-04T02:01:30.000Z\",\"thread_snapshot\",\"asst_snapshot\",\"requires_action\",\"<uuid>\",\"<uuid>\",null,\"2023-11-04T02:01:31.000Z\",null,null,null,\"<uuid>\",\"gpt-4-1106-preview\",null,true,\"{}\",\"<uuid>\",null,null,null,null,\"<uuid>\",\"<uuid>\",true,\"<uuid>\"]]"
-- $3: "[[\"<uuid>\",\"submit_tool_outputs\"]]"
-- $4: "[[\"<uuid>\",\"<uuid>\",0,\"call_1\",\"function\",\"f\",\"{}\"],[\"<uuid>\",\"<uuid>\",1,\"call_2\",\"function\",\"f\",\"{}\"]]"
-- $5: "[[\"<uuid>\",\"server_error\",\"earlier failure\"]]"
-- $6: "[[\"<uuid>\",\"max_prompt_tokens\"]]"
-- $7: "[[\"<uuid>\",1,2,3]]"
-- $8: "[[\"<uuid>\",\"last_messages\",5,true]]"
-- $9: "[[\"<uuid>\",null,\"function\",\"f\"]]"
-- $10: "[[\"<uuid>\",\"json_schema\",\"{\\\"name\\\":\\\"n\\\",\\\"schema\\\":{\\\"type\\\":\\\"object\\\"}}\"]]"
-- $11: "[[\"<uuid>\",\"run_snapshot\",0,\"code_interpreter\",null,null],[\"<uuid>\",\"run_snapshot\",1,\"function\",\"{\\\"name\\\":\\\"f\\\",\\\"parameters\\\":{\\\"type\\\":\\\"object\\\"}}\",null]]"
-- $12: "[[\"<uuid>\",\"run_snapshot\",0,\"file-1\"],[\"<uuid>\",\"run_snapshot\",1,\"file-2\"],[\"<uuid>\",\"run_snapshot\",2,\"file-3\"]]"
