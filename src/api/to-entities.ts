/**
 * The JSON boundary, inwards: an already-validated API object → a new, unmanaged entity graph
 * (`fillRunFromApi`). (Outwards: `mapping.ts`.)
 */
import type { RunObject } from '../entities/run-object.entity';
import { RunFileId, RunTool } from '../entities/collections.entity';
import {
  RunIncompleteDetails,
  RunLastError,
  RunRequiredAction,
  RunResponseFormat,
  RunToolCall,
  RunToolChoice,
  RunTruncationStrategy,
  RunUsage,
} from '../entities/parts.entity';
import { fromUnixSeconds } from './mapping';
import type {
  ApiIncompleteDetails,
  ApiLastError,
  ApiRequiredAction,
  ApiResponseFormat,
  ApiRunInput,
  ApiTool,
  ApiToolChoice,
  ApiTruncationStrategy,
  ApiUsage,
} from './types';

export function toolFromApi(tool: ApiTool, position: number): RunTool {
  const row = new RunTool();
  row.position = position;
  row.type = tool.type;
  if (tool.type === 'function') row.function = tool.function as unknown as Record<string, unknown>;
  if (tool.type === 'file_search' && tool.file_search !== undefined) row.fileSearch = tool.file_search as Record<string, unknown>;
  return row;
}

export function requiredActionFromApi(action: ApiRequiredAction): RunRequiredAction {
  const row = new RunRequiredAction();
  action.submit_tool_outputs.tool_calls.forEach((call, position) => {
    const c = new RunToolCall();
    c.requiredAction = row;
    c.position = position;
    c.callId = call.id;
    c.functionName = call.function.name;
    c.functionArguments = call.function.arguments;
    row.toolCalls.add(c);
  });
  return row;
}

export function lastErrorFromApi(e: ApiLastError): RunLastError {
  const row = new RunLastError();
  row.code = e.code;
  row.message = e.message;
  return row;
}

export function incompleteDetailsFromApi(d: ApiIncompleteDetails): RunIncompleteDetails {
  const row = new RunIncompleteDetails();
  row.reason = d.reason ?? null;
  return row;
}

export function usageFromApi(u: ApiUsage): RunUsage {
  const row = new RunUsage();
  row.promptTokens = u.prompt_tokens;
  row.completionTokens = u.completion_tokens;
  row.totalTokens = u.total_tokens;
  return row;
}

export function truncationFromApi(t: ApiTruncationStrategy): RunTruncationStrategy {
  const row = new RunTruncationStrategy();
  row.type = t.type;
  row.hasLastMessages = t.last_messages !== undefined;
  row.lastMessages = t.last_messages ?? null;
  return row;
}

export function toolChoiceFromApi(c: ApiToolChoice): RunToolChoice {
  const row = new RunToolChoice();
  if (typeof c === 'string') row.mode = c;
  else {
    row.type = c.type;
    row.functionName = c.function?.name ?? null;
  }
  return row;
}

export function responseFormatFromApi(f: ApiResponseFormat): RunResponseFormat {
  const row = new RunResponseFormat();
  if (f === 'auto') row.type = 'auto';
  else {
    row.type = f.type;
    if (f.type === 'json_schema') row.jsonSchema = f.json_schema as unknown as Record<string, unknown>;
  }
  return row;
}

function mapOrNull<T, R>(value: T | null | undefined, map: (value: T) => R): R | null {
  return value === null || value === undefined ? null : map(value);
}

/**
 * Fills `run` (a new entity) from a validated API object. Keys the object lacks become `null`
 * (`parallel_tool_calls`: `true`).
 */
export function fillRunFromApi(run: RunObject, api: ApiRunInput): RunObject {
  run.id = api.id;
  run.createdAt = fromUnixSeconds(api.created_at);
  run.threadId = api.thread_id;
  run.assistantId = api.assistant_id;
  run.status = api.status;
  run.requiredAction = mapOrNull(api.required_action, requiredActionFromApi);
  run.lastError = mapOrNull(api.last_error, lastErrorFromApi);
  run.expiresAt = fromUnixSeconds(api.expires_at);
  run.startedAt = fromUnixSeconds(api.started_at);
  run.cancelledAt = fromUnixSeconds(api.cancelled_at);
  run.failedAt = fromUnixSeconds(api.failed_at);
  run.completedAt = fromUnixSeconds(api.completed_at);
  run.incompleteDetails = mapOrNull(api.incomplete_details, incompleteDetailsFromApi);
  run.model = api.model;
  run.instructions = api.instructions;
  api.tools.forEach((tool, position) => {
    const row = toolFromApi(tool, position);
    row.run = run;
    run.tools.add(row);
  });
  run.carriesFileIds = api.file_ids !== undefined;
  (api.file_ids ?? []).forEach((fileId, position) => {
    const row = new RunFileId();
    row.run = run;
    row.position = position;
    row.fileId = fileId;
    run.fileIds.add(row);
  });
  run.metadata = api.metadata;
  run.usage = mapOrNull(api.usage, usageFromApi);
  run.temperature = api.temperature ?? null;
  run.topP = api.top_p ?? null;
  run.maxPromptTokens = api.max_prompt_tokens ?? null;
  run.maxCompletionTokens = api.max_completion_tokens ?? null;
  run.truncationStrategy = mapOrNull(api.truncation_strategy, truncationFromApi);
  run.toolChoice = mapOrNull(api.tool_choice, toolChoiceFromApi);
  run.parallelToolCalls = api.parallel_tool_calls ?? true;
  run.responseFormat = mapOrNull(api.response_format, responseFormatFromApi);
  return run;
}
