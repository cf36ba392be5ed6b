import type { RunObject } from '../entities/run-object.entity';

/**
 * The API shapes, in the API's own snake_case. `ApiRun` is what `toApiRun` returns (every key of
 * the newer schema, `file_ids` only on runs that carry it); `ApiRunInput` is what `importRun`
 * accepts (either version of the object).
 */

export const RUN_STATUSES = [
  'queued',
  'in_progress',
  'requires_action',
  'cancelling',
  'cancelled',
  'failed',
  'completed',
  'incomplete',
  'expired',
] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];

/** Statuses that hold the thread lock and may still move. */
export const ACTIVE_STATUSES = ['queued', 'in_progress', 'requires_action', 'cancelling'] as const satisfies readonly RunStatus[];
export const TERMINAL_STATUSES = ['cancelled', 'failed', 'completed', 'incomplete', 'expired'] as const satisfies readonly RunStatus[];

export type Metadata = Record<string, string>;

export interface ApiFunctionDefinition {
  name: string;
  description?: string;
  parameters?: Record<string, unknown>;
  strict?: boolean | null;
}

export interface ApiFileSearchRankingOptions {
  ranker?: 'auto' | 'default_2024_08_21';
  score_threshold: number;
}

export type ApiTool =
  | { type: 'code_interpreter' }
  | { type: 'retrieval' }
  | {
      type: 'file_search';
      file_search?: { max_num_results?: number; ranking_options?: ApiFileSearchRankingOptions };
    }
  | { type: 'function'; function: ApiFunctionDefinition };

export interface ApiToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

export interface ApiRequiredAction {
  type: 'submit_tool_outputs';
  submit_tool_outputs: { tool_calls: ApiToolCall[] };
}

export type LastErrorCode = 'server_error' | 'rate_limit_exceeded' | 'invalid_prompt';
export interface ApiLastError {
  code: LastErrorCode;
  message: string;
}

export type IncompleteReason = 'max_completion_tokens' | 'max_prompt_tokens';
export interface ApiIncompleteDetails {
  reason?: IncompleteReason;
}

export interface ApiUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

export interface ApiTruncationStrategy {
  type: 'auto' | 'last_messages';
  last_messages?: number | null;
}

export type ApiToolChoice =
  | 'none'
  | 'auto'
  | 'required'
  | { type: 'function' | 'code_interpreter' | 'file_search'; function?: { name: string } };

export interface ApiJsonSchemaFormat {
  name: string;
  description?: string;
  schema?: Record<string, unknown>;
  strict?: boolean | null;
}

export type ApiResponseFormat =
  | 'auto'
  | { type: 'text' }
  | { type: 'json_object' }
  | { type: 'json_schema'; json_schema: ApiJsonSchemaFormat };

/** A run exactly as the API returns it (`toApiRun`, `RunObject#toJSON`). */
export interface ApiRun {
  id: string;
  object: 'thread.run';
  created_at: number;
  thread_id: string;
  assistant_id: string;
  status: RunStatus;
  required_action: ApiRequiredAction | null;
  last_error: ApiLastError | null;
  expires_at: number | null;
  started_at: number | null;
  cancelled_at: number | null;
  failed_at: number | null;
  completed_at: number | null;
  incomplete_details: ApiIncompleteDetails | null;
  model: string;
  instructions: string | null;
  tools: ApiTool[];
  /** Only on runs of the older (v1) object that carry it. */
  file_ids?: string[];
  metadata: Metadata | null;
  usage: ApiUsage | null;
  temperature: number | null;
  top_p: number | null;
  max_prompt_tokens: number | null;
  max_completion_tokens: number | null;
  truncation_strategy: ApiTruncationStrategy | null;
  tool_choice: ApiToolChoice | null;
  parallel_tool_calls: boolean;
  response_format: ApiResponseFormat | null;
}

/** A tool of the newer (v2) object: every kind but the v1 `retrieval`. */
export type ApiToolV2 = Exclude<ApiTool, { type: 'retrieval' }>;

/**
 * A run of the newer (v2) object, exactly as the official `openai` SDK types it: no `file_ids`,
 * no `retrieval` tool, and `instructions` a string (the SDK's `Run` does not allow the `null`
 * that the API's own examples show). A value of this type is assignable to the SDK's `Run`;
 * `isApiRunV2` tells whether an `ApiRun` is one.
 */
export type ApiRunV2 = Omit<ApiRun, 'file_ids' | 'tools' | 'instructions'> & { tools: ApiToolV2[]; instructions: string };

/** Whether `run` is a v2 object that fits the SDK's `Run` type (see `ApiRunV2`). */
export function isApiRunV2(run: ApiRun): run is ApiRun & ApiRunV2 {
  return run.file_ids === undefined && run.instructions !== null && run.tools.every((t) => t.type !== 'retrieval');
}

/**
 * A run object as `importRun` accepts it: either version. Keys the older object lacked are
 * optional here; `temperature`/`top_p` are optional in the official schema too.
 */
export type ApiRunInput = Omit<
  ApiRun,
  | 'temperature'
  | 'top_p'
  | 'usage'
  | 'incomplete_details'
  | 'max_prompt_tokens'
  | 'max_completion_tokens'
  | 'truncation_strategy'
  | 'tool_choice'
  | 'parallel_tool_calls'
  | 'response_format'
> & {
  usage?: ApiUsage | null;
  incomplete_details?: ApiIncompleteDetails | null;
  temperature?: number | null;
  top_p?: number | null;
  max_prompt_tokens?: number | null;
  max_completion_tokens?: number | null;
  truncation_strategy?: ApiTruncationStrategy | null;
  tool_choice?: ApiToolChoice | null;
  parallel_tool_calls?: boolean;
  response_format?: ApiResponseFormat | null;
};

/** What `RunRepository#create` takes: the run-creation fields of the API, plus the thread. */
export interface CreateRunInput {
  thread_id: string;
  assistant_id: string;
  model: string;
  instructions?: string | null;
  tools?: ApiTool[] | null;
  file_ids?: string[];
  metadata?: Metadata | null;
  temperature?: number | null;
  top_p?: number | null;
  max_prompt_tokens?: number | null;
  max_completion_tokens?: number | null;
  truncation_strategy?: ApiTruncationStrategy | null;
  tool_choice?: ApiToolChoice | null;
  response_format?: ApiResponseFormat | null;
  parallel_tool_calls?: boolean;
}

/** The API's list shape; `data` holds entities, whose `toJSON` gives the API run. */
export interface ApiRunList<T = ApiRun> {
  object: 'list';
  data: T[];
  first_id: string | null;
  last_id: string | null;
  has_more: boolean;
}

/** One tool output for `submitToolOutputs`. */
export interface ToolOutput {
  tool_call_id: string;
  output: string;
}

/**
 * A tool call a run asked for, with the output `submitToolOutputs` gave it: the API's
 * `step_details.tool_calls[]` object of a function call.
 */
export interface ApiStepToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string; output: string };
}

/** The run `claimNext` returns: the claimed run with the tool outputs submitted since its previous claim. */
export type ClaimedRun = RunObject & {
  /**
   * The tool calls answered by `submitToolOutputs` that the run's work is waiting on: those submitted
   * in the attempt in which the run last entered `requires_action` (the previous claim's, or after a
   * requeue by `recoverLapsed` the dead worker's, again), in the order they were submitted and,
   * within one submit, the tool calls' order; `[]` when none (a first claim).
   * Set by `claimNext` only (not enumerable: not part of the API object or of the entity's data).
   */
  readonly toolOutputs: ApiStepToolCall[];
};

/** Who made a status change (`RunHistoryEntry.actor`). */
export const RUN_HISTORY_ACTORS = ['caller', 'worker', 'expiry', 'recovery', 'import'] as const;
export type RunHistoryActor = (typeof RUN_HISTORY_ACTORS)[number];

/** One status change of a run (`runs.history(id)`), in the order the changes committed. */
export interface RunHistoryEntry {
  /** The status before; `null` for the entry that created the run (`create`, `importRun` of a new id). */
  from: RunStatus | null;
  to: RunStatus;
  /** When, on the database clock (milliseconds). */
  at: Date;
  /**
   * `worker`: `claimNext`, `requireAction`, `complete`, `fail`, `markIncomplete`, `confirmCancelled`;
   * `expiry`: `expireOverdue`; `recovery`: `recoverLapsed`; `import`: `importRun`/`importRuns`;
   * `caller`: every other change (`create`, `start`, `submitToolOutputs`, `cancel`, and changes made
   * outside the store's methods: an ORM flush, `nativeUpdate`, hand-written SQL).
   */
  actor: RunHistoryActor;
  /** For actor `worker`: the run's lease owner (the claiming worker; `null` when it claimed without a lease). Else `null`. */
  worker: string | null;
  /** The run's attempt after the change (`claimNext` makes it + 1). */
  attempt: number;
  /** On `requires_action` → `queued` by `submitToolOutputs`: the tool calls with the outputs submitted, in the calls' order; else `null`. */
  toolOutputs: ApiStepToolCall[] | null;
}

/**
 * `claimNext` filters, and the lease: with `worker` and `leaseSeconds` (both or neither) the claim
 * records the worker as the run's owner until `leaseSeconds` from now (the database's clock).
 */
export interface ClaimOptions {
  assistant_id?: string;
  model?: string;
  /** The claiming worker's identity (1 to 200 characters). */
  worker?: string;
  /** How long the lease lasts unless renewed by `heartbeat` (0 < seconds ≤ 86400). */
  leaseSeconds?: number;
  /**
   * Wait up to this many ms (whole, 0 to 2147483647) for a run to claim when none is free now,
   * woken by the store's notifications (README "The worker loop"); `null` comes back only after
   * the wait. Omitted or 0: no wait.
   */
  waitMs?: number;
  /** Ends the wait early (`WaitAbortedError`); only with `waitMs`. */
  signal?: AbortSignal;
}

/** How long `waitForStatus` waits, and what ends it early. */
export interface WaitOptions {
  /** Wait at most this many ms (whole, 0 to 2147483647), then return the run as it is; omitted: no limit. */
  timeoutMs?: number;
  /** Ends the wait early (`WaitAbortedError`). */
  signal?: AbortSignal;
}

/**
 * A worker's proof that it holds a run: its identity and the attempt (fencing token) its claim
 * returned (`run.leaseOwner`, `run.attempt`). Given to a worker transition, it refuses the call
 * with `LeaseLostError` once another claim took the run over.
 */
export interface LeaseToken {
  worker: string;
  attempt: number;
}

/** `heartbeat`: the holder's token and the lease's new length from now. */
export interface HeartbeatOptions extends LeaseToken {
  leaseSeconds: number;
}

/** `recoverLapsed`: after how many claims a lapsed run fails instead of going back to the queue; runs per statement (default 500). */
export interface RecoverOptions {
  maxAttempts: number;
  batchSize?: number;
}

/** What `recoverLapsed` did: runs back in the queue, failed at the attempt limit, cancelled (their worker gone). */
export interface RecoveredCounts {
  requeued: number;
  failed: number;
  cancelled: number;
}

/** What `heartbeat` returns: the lease's new expiry and the run's status (`cancelling`: a cancel was requested). */
export interface Lease {
  leaseExpiresAt: Date;
  status: RunStatus;
}

/** A list query, with the API's meaning (run-lifecycle.md, "Lists"). */
export interface RunListQuery {
  /** 1 to 100, default 20. */
  limit?: number;
  /** By `created_at` (then id); default `desc`. */
  order?: 'asc' | 'desc';
  /** A run id: the page continues after it, in the chosen order. */
  after?: string;
  /** A run id: the page is the runs just before it, in the chosen order. */
  before?: string;
  /** Only runs in this status (or these statuses). */
  status?: RunStatus | RunStatus[];
}

/** The filter of `countByStatus` and `usageTotals`. */
export interface RunCountFilter {
  thread_id?: string;
  assistant_id?: string;
  /** Unix seconds, inclusive. */
  created_after?: number;
  /** Unix seconds, exclusive. */
  created_before?: number;
}

export type UsageTotalsFilter = RunCountFilter;

/** The filter of an export (`runs.api.export`): the aggregates' filter, and one status or several. */
export interface RunExportFilter extends RunCountFilter {
  status?: RunStatus | RunStatus[];
}

export interface UsageTotals {
  /** Every matching run, with or without usage. */
  runs: number;
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

export type RunStatusCounts = Record<RunStatus, number>;
