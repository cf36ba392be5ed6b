/**
 * The JSON boundary, outwards: entities (camelCase, Dates) → API objects (snake_case, unix
 * seconds). `toApiRun` is the only way out. (Inwards: `to-entities.ts`.)
 */
import type { RunObject } from '../entities/run-object.entity';
import type { RunTool } from '../entities/collections.entity';
import type {
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
