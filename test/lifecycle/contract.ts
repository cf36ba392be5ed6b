/**
 * The lifecycle contract (run-lifecycle.md) restated as an in-memory model, written from the
 * document and NOT from src/lifecycle, so that tests comparing the store with it can fail.
 * Also: helpers to put a run in any status, and the invariants every stored run must satisfy.
 */
import type { ApiIncompleteDetails, ApiLastError, ApiRun, ApiToolCall, ApiUsage, Metadata, RunStatus, ToolOutput } from '../../src/api/types';
import type { RunObject } from '../../src/entities/run-object.entity';
import { InvalidRunTransitionError, RunValidationError } from '../../src/errors';
import { apiRunV2 } from '../factories';

export const STATUSES: RunStatus[] = ['queued', 'in_progress', 'requires_action', 'cancelling', 'cancelled', 'failed', 'completed', 'incomplete', 'expired'];
export const ACTIVE: RunStatus[] = ['queued', 'in_progress', 'requires_action', 'cancelling'];

export type OpName = 'start' | 'requireAction' | 'submitToolOutputs' | 'complete' | 'fail' | 'markIncomplete' | 'cancel' | 'confirmCancelled';
export const OPS: OpName[] = ['start', 'requireAction', 'submitToolOutputs', 'complete', 'fail', 'markIncomplete', 'cancel', 'confirmCancelled'];

/** The transitions diagram of run-lifecycle.md: for each operation, from-status → to-status. Anything else is rejected. */
export const LEGAL: Record<OpName, Partial<Record<RunStatus, RunStatus>>> = {
  start: { queued: 'in_progress' },
  requireAction: { in_progress: 'requires_action' },
  submitToolOutputs: { requires_action: 'queued' },
  complete: { in_progress: 'completed', cancelling: 'completed' },
  fail: { queued: 'failed', in_progress: 'failed', cancelling: 'failed' },
  markIncomplete: { in_progress: 'incomplete', cancelling: 'incomplete' },
  cancel: { queued: 'cancelled', requires_action: 'cancelled', in_progress: 'cancelling', cancelling: 'cancelling' },
  confirmCancelled: { cancelling: 'cancelled' },
};

/** An operation with its input, as the model and the store both take it. */
export type Op =
  | { name: 'start' }
  | { name: 'requireAction'; toolCalls: ApiToolCall[] }
  | { name: 'submitToolOutputs'; toolOutputs: ToolOutput[] }
  | { name: 'complete'; usage?: ApiUsage }
  | { name: 'fail'; lastError: ApiLastError; usage?: ApiUsage }
  | { name: 'markIncomplete'; details: ApiIncompleteDetails; usage?: ApiUsage }
  | { name: 'cancel' }
  | { name: 'confirmCancelled' }
  | { name: 'updateMetadata'; metadata: Metadata | null };

export interface ModelRun {
  id: string;
  threadId: string;
  assistantId: string;
  model: string;
  /** Milliseconds, as stored (the model learns it from the created run). */
  createdAt: number;
  status: RunStatus;
  toolCalls: ApiToolCall[] | null;
  lastError: ApiLastError | null;
  incompleteDetails: ApiIncompleteDetails | null;
  usage: ApiUsage | null;
  /** Milliseconds or null. */
  expiresAt: number | null;
  /** Past its expires_at on the database clock (the test moves it there). */
  overdue: boolean;
  started: boolean;
  cancelled: boolean;
  failed: boolean;
  completed: boolean;
  /** How many times the run entered in_progress (started_at must move each time). */
  entries: number;
  metadata: Metadata | null;
}

export type Outcome = { kind: 'ok' } | { kind: 'invalid'; status: RunStatus } | { kind: 'validation'; field: string };

/** Applies `op` to `run` as the contract says; returns the outcome (the run is changed only on 'ok'). */
export function applyOp(run: ModelRun, op: Op): Outcome {
  if (op.name === 'updateMetadata') {
    run.metadata = op.metadata;
    return { kind: 'ok' };
  }
  // Input checks come first: a bad input is rejected whatever the status.
  if (op.name === 'requireAction') {
    if (op.toolCalls.length === 0) return { kind: 'validation', field: 'tool_calls' };
    if (new Set(op.toolCalls.map((c) => c.id)).size !== op.toolCalls.length) return { kind: 'validation', field: 'tool_calls' };
  }
  if (op.name === 'submitToolOutputs') {
    const ids = op.toolOutputs.map((o) => o.tool_call_id);
    if (new Set(ids).size !== ids.length) return { kind: 'validation', field: 'tool_outputs' };
  }
  const target = LEGAL[op.name][run.status];
  if (target === undefined) return { kind: 'invalid', status: run.status };
  if (op.name === 'submitToolOutputs') {
    const pending = (run.toolCalls ?? []).map((c) => c.id).sort();
    const given = op.toolOutputs.map((o) => o.tool_call_id).sort();
    if (JSON.stringify(pending) !== JSON.stringify(given)) return { kind: 'validation', field: 'tool_outputs' };
  }
  if (op.name === 'cancel' && run.status === 'cancelling') return { kind: 'ok' };
  run.status = target;
  run.toolCalls = target === 'requires_action' && op.name === 'requireAction' ? op.toolCalls : null;
  if (target === 'in_progress') {
    run.started = true;
    run.entries++;
  }
  if (target === 'cancelled') run.cancelled = true;
  if (target === 'failed') run.failed = true;
  if (target === 'completed' || target === 'incomplete') run.completed = true;
  if (['completed', 'failed', 'cancelled', 'incomplete'].includes(target)) {
    run.expiresAt = null;
    run.overdue = false;
  }
  if (op.name === 'fail') run.lastError = op.lastError;
  if (op.name === 'markIncomplete') run.incompleteDetails = op.details;
  if ((op.name === 'complete' || op.name === 'fail' || op.name === 'markIncomplete') && op.usage) run.usage = op.usage;
  return { kind: 'ok' };
}

/** expire: every active overdue run → expired (expires_at kept, required_action cleared). Returns the moved runs. */
export function applyExpire(runs: Iterable<ModelRun>): ModelRun[] {
  const moved: ModelRun[] = [];
  for (const run of runs) {
    if (ACTIVE.includes(run.status) && run.overdue) {
      run.status = 'expired';
      run.toolCalls = null;
      moved.push(run);
    }
  }
  return moved;
}

/** What the stored run must look like, in the API's shape (the keys the lifecycle governs). */
export function expectedApi(run: ModelRun): Partial<ApiRun> {
  return {
    id: run.id,
    status: run.status,
    required_action: run.toolCalls ? { type: 'submit_tool_outputs', submit_tool_outputs: { tool_calls: run.toolCalls } } : null,
    last_error: run.lastError,
    incomplete_details: run.incompleteDetails,
    usage: run.usage,
    expires_at: run.expiresAt === null ? null : Math.floor(run.expiresAt / 1000),
    metadata: run.metadata,
  };
}

/** The lifecycle keys of a stored run's API object, plus which timestamps are set. */
export function observed(api: ApiRun): Partial<ApiRun> {
  return {
    id: api.id,
    status: api.status,
    required_action: api.required_action,
    last_error: api.last_error,
    incomplete_details: api.incomplete_details,
    usage: api.usage,
    expires_at: api.expires_at,
    metadata: api.metadata,
  };
}

export const stampsOf = (run: ModelRun) => ({ started: run.started, cancelled: run.cancelled, failed: run.failed, completed: run.completed });
export const storedStamps = (run: RunObject) => ({
  started: run.startedAt !== null,
  cancelled: run.cancelledAt !== null,
  failed: run.failedAt !== null,
  completed: run.completedAt !== null,
});

/**
 * The timestamp rules every stored run obeys, whatever happened to it: each terminal status has
 * its own stamp and none of the others, `cancelling` has no `cancelled_at`, finished runs have no
 * `expires_at`, and stamps never precede the start they follow. Returns the broken rules.
 */
export function timestampViolations(run: RunObject): string[] {
  const bad: string[] = [];
  const ms = (d: Date | null) => (d === null ? null : d.getTime());
  const [started, cancelled, failed, completed] = [ms(run.startedAt), ms(run.cancelledAt), ms(run.failedAt), ms(run.completedAt)];
  const rule = (ok: boolean, what: string) => ok || bad.push(`${run.status}: ${what}`);
  switch (run.status) {
    case 'completed':
    case 'incomplete':
      rule(completed !== null && cancelled === null && failed === null && run.expiresAt === null, 'completed_at only, no expires_at');
      break;
    case 'cancelled':
      rule(cancelled !== null && completed === null && failed === null && run.expiresAt === null, 'cancelled_at only, no expires_at');
      break;
    case 'failed':
      rule(failed !== null && completed === null && cancelled === null && run.expiresAt === null, 'failed_at only, no expires_at');
      break;
    default:
      rule(cancelled === null && failed === null && completed === null, 'no end stamp');
  }
  if (run.status === 'in_progress' || run.status === 'requires_action' || run.status === 'cancelling') rule(started !== null, 'started_at set');
  for (const end of [cancelled, failed, completed]) {
    if (end !== null && started !== null) rule(end >= started, 'end stamp not before started_at');
  }
  if (started !== null) rule(started >= run.createdAt.getTime(), 'started_at not before created_at');
  rule((run.requiredAction !== null) === (run.status === 'requires_action'), 'required_action exactly in requires_action');
  return bad;
}

export const call = (id: string, name = 'lookup', args = '{}'): ApiToolCall => ({ id, type: 'function', function: { name, arguments: args } });
export const USAGE: ApiUsage = { prompt_tokens: 10, completion_tokens: 20, total_tokens: 30 };

/**
 * A run object in `status`, shaped as the lifecycle would have left it (for importRun), with
 * `expires_at` in the future for active runs unless `overdue`.
 */
export function apiRunInStatus(status: RunStatus, opts: { overdue?: boolean; threadId?: string } = {}) {
  const now = Math.floor(Date.now() / 1000);
  const created = now - 5;
  const active = ACTIVE.includes(status);
  return apiRunV2({
    status,
    ...(opts.threadId ? { thread_id: opts.threadId } : {}),
    created_at: created,
    expires_at: active || status === 'expired' ? (opts.overdue || status === 'expired' ? now - 1 : created + 600) : null,
    started_at: status === 'queued' ? null : created + 1,
    required_action:
      status === 'requires_action'
        ? { type: 'submit_tool_outputs', submit_tool_outputs: { tool_calls: [call('call_a'), call('call_b', 'other', '{"x":1}')] } }
        : null,
    cancelled_at: status === 'cancelled' ? created + 2 : null,
    failed_at: status === 'failed' ? created + 2 : null,
    last_error: status === 'failed' ? { code: 'server_error', message: 'earlier failure' } : null,
    completed_at: status === 'completed' || status === 'incomplete' ? created + 2 : null,
    incomplete_details: status === 'incomplete' ? { reason: 'max_prompt_tokens' } : null,
    usage: ['completed', 'failed', 'incomplete'].includes(status) ? { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 } : null,
  });
}

/** A model of a run stored by importRun(apiRunInStatus(…)). */
export function modelOf(api: ApiRun, overdue = false): ModelRun {
  return {
    id: api.id,
    threadId: api.thread_id,
    assistantId: api.assistant_id,
    model: api.model,
    createdAt: api.created_at * 1000,
    status: api.status,
    toolCalls: api.required_action?.submit_tool_outputs.tool_calls ?? null,
    lastError: api.last_error,
    incompleteDetails: api.incomplete_details,
    usage: api.usage,
    expiresAt: api.expires_at === null ? null : api.expires_at * 1000,
    overdue,
    started: api.started_at !== null,
    cancelled: api.cancelled_at !== null,
    failed: api.failed_at !== null,
    completed: api.completed_at !== null,
    entries: api.started_at !== null ? 1 : 0,
    metadata: api.metadata,
  };
}

/** A valid input for each operation (the tool outputs answer `calls`). */
export function validOp(name: OpName, calls: ApiToolCall[] = [call('call_a'), call('call_b')]): Op {
  switch (name) {
    case 'requireAction':
      return { name, toolCalls: [call('call_new_1'), call('call_new_2', 'second', '{"q":"é"}')] };
    case 'submitToolOutputs':
      return { name, toolOutputs: calls.map((c) => ({ tool_call_id: c.id, output: `out of ${c.id}` })) };
    case 'complete':
      return { name, usage: USAGE };
    case 'fail':
      return { name, lastError: { code: 'rate_limit_exceeded', message: 'slow down' }, usage: USAGE };
    case 'markIncomplete':
      return { name, details: { reason: 'max_completion_tokens' }, usage: USAGE };
    default:
      return { name } as Op;
  }
}

/** Runs `op` on the store. */
export function perform(runs: import('../../src/repositories/run.repository').RunRepository, id: string, op: Op): Promise<RunObject> {
  switch (op.name) {
    case 'start':
      return runs.start(id);
    case 'requireAction':
      return runs.requireAction(id, op.toolCalls);
    case 'submitToolOutputs':
      return runs.submitToolOutputs(id, op.toolOutputs);
    case 'complete':
      return runs.complete(id, op.usage);
    case 'fail':
      return runs.fail(id, op.lastError, op.usage);
    case 'markIncomplete':
      return runs.markIncomplete(id, op.details, op.usage);
    case 'cancel':
      return runs.cancel(id);
    case 'confirmCancelled':
      return runs.confirmCancelled(id);
    case 'updateMetadata':
      return runs.updateMetadata(id, op.metadata);
  }
}

/** The outcome of a store call, in the model's terms (any other error is rethrown: a bug). */
export async function outcomeOf(call: Promise<unknown>): Promise<Outcome> {
  try {
    await call;
    return { kind: 'ok' };
  } catch (error) {
    if (error instanceof InvalidRunTransitionError) return { kind: 'invalid', status: error.currentStatus as RunStatus };
    if (error instanceof RunValidationError) return { kind: 'validation', field: error.field.replace(/[[.].*$/, '') };
    throw error;
  }
}
