/**
 * The JSON boundary: API objects (snake_case, unix seconds) ↔ entities (camelCase, Dates).
 * `toApiRun` is the only way out; `runFromApi` builds a new, unmanaged entity graph from an
 * already-validated API object.
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
import type {
  ApiIncompleteDetails,
  ApiLastError,
  ApiRequiredAction,
  ApiResponseFormat,
  ApiRun,
  ApiRunInput,
  ApiTool,
  ApiToolCall,
  ApiToolChoice,
  ApiTruncationStrategy,
  ApiUsage,
} from './types';

/** Unix seconds (the API's unit; sub-second time kept for ordering is dropped). */
export function toUnixSeconds(date: Date): number;
export function toUnixSeconds(date: Date | null): number | null;
export function toUnixSeconds(date: Date | null): number | null {
  return date === null ? null : Math.floor(date.getTime() / 1000);
}

export function fromUnixSeconds(seconds: number): Date;
export function fromUnixSeconds(seconds: number | null | undefined): Date | null;
export function fromUnixSeconds(seconds: number | null | undefined): Date | null {
  return seconds === null || seconds === undefined ? null : new Date(seconds * 1000);
}

// --- entities → API -------------------------------------------------------------------------

export function toolToApi(tool: RunTool): ApiTool {
  switch (tool.type) {
    case 'function':
      return { type: 'function', function: tool.function as unknown as Extract<ApiTool, { type: 'function' }>['function'] };
    case 'file_search':
      return tool.fileSearch === null ? { type: 'file_search' } : { type: 'file_search', file_search: tool.fileSearch as never };
    default:
      return { type: tool.type };
  }
}

export function toolCallToApi(call: RunToolCall): ApiToolCall {
  return { id: call.callId, type: call.type, function: { name: call.functionName, arguments: call.functionArguments } };
}

export function requiredActionToApi(action: RunRequiredAction): ApiRequiredAction {
  return { type: action.type, submit_tool_outputs: { tool_calls: action.toolCalls.getItems().map(toolCallToApi) } };
}

export function usageToApi(usage: RunUsage): ApiUsage {
  return { prompt_tokens: usage.promptTokens, completion_tokens: usage.completionTokens, total_tokens: usage.totalTokens };
}

export function truncationToApi(t: RunTruncationStrategy): ApiTruncationStrategy {
  return t.hasLastMessages ? { type: t.type, last_messages: t.lastMessages } : { type: t.type };
}

export function toolChoiceToApi(c: RunToolChoice): ApiToolChoice {
  if (c.mode !== null) return c.mode;
  const named: Exclude<ApiToolChoice, string> = { type: c.type! };
  if (c.functionName !== null) named.function = { name: c.functionName };
  return named;
}

export function responseFormatToApi(f: RunResponseFormat): ApiResponseFormat {
  if (f.type === 'auto') return 'auto';
  if (f.type === 'json_schema') return { type: 'json_schema', json_schema: f.jsonSchema as never };
  return { type: f.type };
}

function orNull<T, R>(value: T | null, map: (value: T) => R): R | null {
  return value === null ? null : map(value);
}

/**
 * The exact API object for a run: every key of the official `RunObject` schema, `null` where
 * empty, unix seconds for times; `file_ids` only on runs that carry it. The run's collections
 * must be loaded (every read of `RunRepository` loads them).
 */
export function toApiRun(run: RunObject): ApiRun {
  const out: ApiRun = {
    id: run.id,
    object: 'thread.run',
    created_at: toUnixSeconds(run.createdAt),
    thread_id: run.threadId,
    assistant_id: run.assistantId,
    status: run.status,
    required_action: orNull(run.requiredAction, requiredActionToApi),
    last_error: orNull(run.lastError, (e): ApiLastError => ({ code: e.code, message: e.message })),
    expires_at: toUnixSeconds(run.expiresAt),
    started_at: toUnixSeconds(run.startedAt),
    cancelled_at: toUnixSeconds(run.cancelledAt),
    failed_at: toUnixSeconds(run.failedAt),
    completed_at: toUnixSeconds(run.completedAt),
    incomplete_details: orNull(run.incompleteDetails, (d): ApiIncompleteDetails => (d.reason === null ? {} : { reason: d.reason })),
    model: run.model,
    instructions: run.instructions,
    tools: run.tools.getItems().map(toolToApi),
    metadata: run.metadata,
    usage: orNull(run.usage, usageToApi),
    temperature: run.temperature,
    top_p: run.topP,
    max_prompt_tokens: run.maxPromptTokens,
    max_completion_tokens: run.maxCompletionTokens,
    truncation_strategy: orNull(run.truncationStrategy, truncationToApi),
    tool_choice: orNull(run.toolChoice, toolChoiceToApi),
    parallel_tool_calls: run.parallelToolCalls,
    response_format: orNull(run.responseFormat, responseFormatToApi),
  };
  if (run.carriesFileIds) out.file_ids = run.fileIds.getItems().map((f) => f.fileId);
  return out;
}

// --- API → entities -------------------------------------------------------------------------

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
