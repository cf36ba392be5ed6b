/**
 * The run lifecycle's operations, as `RunRepository` exposes them (each method there is a
 * one-line call into this module, handing it the repository's entity manager). Each validates its
 * input in the process, then runs ONE conditional statement (src/sql, built from the table in
 * lifecycle/transitions.ts) on the caller's entity manager — inside the caller's transaction when
 * there is one, in a savepoint (`atomically`), so a refused move leaves that transaction usable. The statement also returns
 * the run's new graph, which is hydrated into the caller's identity map (refreshing a run it already
 * holds), so a transition is one round trip and the caller never keeps a stale run.
 */
import { randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import {
  claimLeaseSchema,
  heartbeatSchema,
  incompleteDetailsSchema,
  lastErrorSchema,
  leaseTokenSchema,
  recoverOptionsSchema,
  metadataSchema,
  parseOrThrow,
  toolCallsSchema,
  toolOutputsSchema,
  usageSchema,
} from '../api/schema';
import { checkDate, checkId, checkOptions, excerpt, optionalSignal, optionalWaitMs } from '../api/arguments';
import {
  type ApiIncompleteDetails,
  type ApiLastError,
  type ApiToolCall,
  type ApiStepToolCall,
  type ApiUsage,
  type ClaimedRun,
  type ClaimOptions,
  type HeartbeatOptions,
  type Lease,
  type LeaseToken,
  type Metadata,
  type RecoveredCounts,
  type RecoverOptions,
  type RunStatus,
  type ToolOutput,
} from '../api/types';
import type { RunObject } from '../entities/run-object.entity';
import { InvalidRunTransitionError, LeaseLostError, RunNotFoundError, RunValidationError, type ValidationIssue } from '../errors';
import type { TransitionName } from '../lifecycle/transitions';
import { claimStatement } from '../sql/claim';
import { EXPIRE_BATCH_SIZE, expireStatement } from '../sql/expire';
import { heartbeatStatement } from '../sql/lease';
import { recoverStatement } from '../sql/recover';
import { metadataStatement } from '../sql/metadata';
import { freshGraphRow } from '../sql/run-graph';
import { transitionStatement, type SubObjectRows } from '../sql/transition';
import { atomically, write, type Row } from './executor';
import { findById, MANAGED } from './reads';
import { hydrateRuns } from './unit-of-work';
import { claimWhenQueued, refuseWaitInTransaction } from './wakeups';

/** The run as stored now, fully loaded and refreshed in the caller's identity map (a second statement). */
async function reload(em: EntityManager, id: string): Promise<RunObject> {
  const fresh = await findById(em, MANAGED, id);
  if (!fresh) throw new RunNotFoundError(id);
  return fresh;
}

/**
 * The run graph a statement returned (see `transitionStatement`), hydrated into the caller's
 * identity map; reloaded instead in the rare case that the statement could not see one of its parts.
 */
async function hydrated(em: EntityManager, row: Row, extra: readonly string[] = []): Promise<RunObject> {
  const graph = freshGraphRow(row, extra);
  if (graph === null) return reload(em, row.id as string);
  return (await hydrateRuns(em, [graph]))[0];
}

const TRANSITION_KEYS = ['fromStatus', 'moved', 'pending', 'leaseHeld'];

/** A worker's lease token, validated (`RunValidationError` on `lease`); `undefined` when not given. */
function leaseOf(lease: LeaseToken | undefined): LeaseToken | undefined {
  return lease === undefined ? undefined : parseOrThrow(leaseTokenSchema, lease, 'lease');
}

/**
 * Runs `name` on run `id` as one compare-and-set statement. Not found → `RunNotFoundError`; a
 * `lease` that no longer holds the run → `LeaseLostError`; a status the table does not allow →
 * `InvalidRunTransitionError` naming the status the run had when the statement locked it.
 * Nothing is written in any of these cases.
 */
async function transition(em: EntityManager, name: TransitionName, id: string, rows: SubObjectRows = {}, lease?: LeaseToken): Promise<RunObject> {
  checkId(id, 'id');
  return atomically(em, async () => {
    const [row] = await write(em, transitionStatement(name, id, rows, undefined, lease));
    if (!row) throw new RunNotFoundError(id);
    if (row.moved) return hydrated(em, row, TRANSITION_KEYS);
    if (lease && row.leaseHeld !== true) throw new LeaseLostError(id, lease.worker, lease.attempt);
    // cancel on a cancelling run: nothing written, the run is returned as it is
    if (name === 'cancel' && row.fromStatus === 'cancelling') return reload(em, id);
    throw new InvalidRunTransitionError(id, row.fromStatus as RunStatus, name);
  });
}

function usageRow(usage: ApiUsage | null | undefined): SubObjectRows['usage'] {
  if (usage === undefined || usage === null) return undefined;
  const u = parseOrThrow(usageSchema, usage, 'usage');
  return { id: randomUUID(), promptTokens: u.prompt_tokens, completionTokens: u.completion_tokens, totalTokens: u.total_tokens };
}

/** Issues for ids that occur more than once in `ids` (each later occurrence names the first). */
function duplicateIssues(ids: string[], field: (i: number) => string, what: string): ValidationIssue[] {
  const first = new Map<string, number>();
  const issues: ValidationIssue[] = [];
  ids.forEach((id, i) => {
    const seen = first.get(id);
    if (seen === undefined) first.set(id, i);
    else issues.push({ field: field(i), reason: `duplicates ${what} ${excerpt(id)} (already at index ${seen})` });
  });
  return issues;
}

/** `queued` → `in_progress`; sets `started_at`. */
export async function start(em: EntityManager, id: string): Promise<RunObject> {
  return transition(em, 'start', id);
}

/**
 * `in_progress` → `requires_action` with a `submit_tool_outputs` action holding `toolCalls` (at
 * least one, distinct ids; else `RunValidationError` on `tool_calls`).
 */
export async function requireAction(em: EntityManager, id: string, toolCalls: ApiToolCall[], lease?: LeaseToken): Promise<RunObject> {
  checkId(id, 'id');
  const token = leaseOf(lease);
  const calls = parseOrThrow(toolCallsSchema, toolCalls, 'tool_calls');
  const duplicates = duplicateIssues(calls.map((c) => c.id), (i) => `tool_calls[${i}].id`, 'tool call id');
  if (duplicates.length > 0) throw new RunValidationError(duplicates);
  return transition(em, 'requireAction', id, {
    requiredAction: {
      id: randomUUID(),
      calls: calls.map((c) => ({ rowId: randomUUID(), id: c.id, name: c.function.name, arguments: c.function.arguments })),
    },
  }, token);
}

/**
 * `requires_action` → `queued`, clearing `required_action`. `toolOutputs` must hold exactly one
 * output per pending tool call: a missing, unknown or repeated id is a `RunValidationError` on
 * `tool_outputs` and nothing changes. The ids are compared with the stored pending calls inside
 * the same statement that moves the run (which holds the run's row lock), so a racing transition
 * cannot slip between the check and the move. The same statement stores each tool call with its
 * output (`run_tool_output`): the next claim of the run returns them (`ClaimedRun.toolOutputs`), and
 * the run's history keeps them.
 */
export async function submitToolOutputs(em: EntityManager, id: string, toolOutputs: ToolOutput[]): Promise<RunObject> {
  checkId(id, 'id');
  const outputs = parseOrThrow(toolOutputsSchema, toolOutputs, 'tool_outputs');
  const given = outputs.map((o) => o.tool_call_id);
  const duplicates = duplicateIssues(given, (i) => `tool_outputs[${i}].tool_call_id`, 'tool call id');
  if (duplicates.length > 0) throw new RunValidationError(duplicates);
  // A run that entered requires_action after this statement's snapshot was taken shows no pending
  // calls to it (the run row itself is read fresh, under its lock): such a statement is run again.
  return atomically(em, async () => {
    for (let attempt = 0; ; attempt++) {
      const [row] = await write(em, transitionStatement('submitToolOutputs', id, {}, outputs));
      if (!row) throw new RunNotFoundError(id);
      if (row.moved) return hydrated(em, row, TRANSITION_KEYS);
      if (row.fromStatus !== 'requires_action') throw new InvalidRunTransitionError(id, row.fromStatus as RunStatus, 'submitToolOutputs');
      const pending = row.pending as string[];
      if (pending.length === 0 && attempt === 0) continue;
      throw new RunValidationError(mismatchIssues(given, pending));
    }
  });
}

function mismatchIssues(given: string[], pending: string[]): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  given.forEach((callId, i) => {
    if (!pending.includes(callId)) issues.push({ field: `tool_outputs[${i}].tool_call_id`, reason: `${excerpt(callId)} is not a pending tool call of this run` });
  });
  const missing = pending.filter((callId) => !given.includes(callId));
  if (missing.length > 0) {
    issues.push({ field: 'tool_outputs', reason: `is missing an output for pending tool call${missing.length > 1 ? 's' : ''} ${missing.map((m) => `'${m}'`).join(', ')}` });
  }
  if (issues.length === 0) issues.push({ field: 'tool_outputs', reason: 'does not match the pending tool calls' });
  return issues;
}

/** `in_progress` | `cancelling` → `completed`; sets `completed_at`, clears `expires_at`; records `usage` when given. */
export async function complete(em: EntityManager, id: string, usage?: ApiUsage, lease?: LeaseToken): Promise<RunObject> {
  const token = leaseOf(lease);
  return transition(em, 'complete', id, { usage: usageRow(usage) }, token);
}

/** `queued` | `in_progress` | `cancelling` → `failed` with `last_error` (required); sets `failed_at`, clears `expires_at`. */
export async function fail(em: EntityManager, id: string, lastError: ApiLastError, usage?: ApiUsage, lease?: LeaseToken): Promise<RunObject> {
  const token = leaseOf(lease);
  const e = parseOrThrow(lastErrorSchema, lastError, 'last_error');
  const usageRows = usageRow(usage);
  return transition(em, 'fail', id, { lastError: { id: randomUUID(), code: e.code, message: e.message }, usage: usageRows }, token);
}

/** `in_progress` | `cancelling` → `incomplete` with `incomplete_details` (required); sets `completed_at`, clears `expires_at`. */
export async function markIncomplete(em: EntityManager, id: string, details: ApiIncompleteDetails, usage?: ApiUsage, lease?: LeaseToken): Promise<RunObject> {
  const token = leaseOf(lease);
  const d = parseOrThrow(incompleteDetailsSchema.nullable(), details, 'incomplete_details');
  if (d === null) throw RunValidationError.of('incomplete_details', 'is required');
  const usageRows = usageRow(usage);
  return transition(em, 'markIncomplete', id, { incompleteDetails: { id: randomUUID(), reason: d.reason ?? null }, usage: usageRows }, token);
}

/**
 * `queued` | `requires_action` → `cancelled` (no worker holds them); `in_progress` → `cancelling`;
 * a `cancelling` run is returned unchanged. The target is chosen from the status the run has when
 * the statement locks it, so a cancel racing a `start` is never lost: it lands as `cancelling`.
 */
export async function cancel(em: EntityManager, id: string): Promise<RunObject> {
  return transition(em, 'cancel', id);
}

/** `cancelling` → `cancelled`; sets `cancelled_at`, clears `expires_at`. */
export async function confirmCancelled(em: EntityManager, id: string, lease?: LeaseToken): Promise<RunObject> {
  return transition(em, 'confirmCancelled', id, {}, leaseOf(lease));
}

/**
 * Moves every active run whose `expires_at <= now` to `expired` (keeping `expires_at`, clearing
 * `required_action`), in batches of `EXPIRE_BATCH_SIZE` runs per statement until a batch comes
 * back short, and returns how many it moved. `now` defaults to the database's clock when the
 * first batch runs, and every batch uses that same cutoff. Never waits for a run another
 * transaction holds (`skip locked`: such a run is left to that transaction, or to the next
 * `expireOverdue`), so it cannot deadlock with callers that lock several runs in any order. Safe
 * to run from several processes at once: each overdue run is expired, and counted, by exactly one
 * of them. Outside a transaction each batch commits on its own; inside the caller's, all of them
 * are one step of it (a failure leaves none of them).
 */
export async function expireOverdue(em: EntityManager, now?: Date): Promise<number> {
  const at = now === undefined ? undefined : checkDate(now, 'now');
  return atomically(em, async () => {
    let total = 0;
    let cutoff: string | Date | undefined = at;
    for (;;) {
      const [row] = await write(em, expireStatement(cutoff));
      const expired = Number(row.expired);
      total += expired;
      cutoff = row.cutoff as string;
      if (expired < EXPIRE_BATCH_SIZE) return total;
    }
  });
}

const CLAIM_OPTIONS = ['assistant_id', 'model', 'worker', 'leaseSeconds', 'waitMs', 'signal'];
const CLAIM_KEYS = ['toolOutputs'];

/**
 * Atomically takes the oldest `queued` run (by `created_at`, then `id`) that no other caller holds
 * and moves it to `in_progress` (setting `started_at`); `null` when no queued run is free.
 * Concurrent callers never wait for one another and never get the same run (`for update skip locked`).
 *
 * A queued run already past its `expires_at` is NOT claimed: it is due to expire
 * (`expireOverdue`), and a worker should not begin work the store is about to declare expired.
 * (An explicit `start(id)` judges the status only, as the transition table says.)
 *
 * Every claim increments the run's `attempt` (the fencing token). With `worker` and `leaseSeconds`
 * the run is leased to the worker until `leaseSeconds` from now on the database clock
 * (`run.leaseOwner`, `run.leaseExpiresAt`, `run.attempt`); without them no lease is recorded.
 * The run comes with `toolOutputs`: the outputs submitted since its previous claim, read in the
 * same statement.
 */
export async function claimNext(em: EntityManager, options?: ClaimOptions | null): Promise<ClaimedRun | null> {
  // No options (`undefined` or `null`): any run. A given option must be an id: `null` there is refused, not "any".
  const o = checkOptions(options, 'options', CLAIM_OPTIONS);
  const filters = {
    assistantId: o.assistant_id === undefined ? undefined : checkId(o.assistant_id, 'options.assistant_id'),
    model: o.model === undefined ? undefined : checkId(o.model, 'options.model'),
  };
  const lease = o.worker === undefined && o.leaseSeconds === undefined ? undefined : parseOrThrow(claimLeaseSchema, { worker: o.worker, leaseSeconds: o.leaseSeconds }, 'options');
  const waitMs = optionalWaitMs(o.waitMs, 'options.waitMs');
  const signal = optionalSignal(o.signal, 'options.signal');
  if (signal !== null && waitMs === null) throw RunValidationError.of('options.signal', 'only applies with waitMs');
  const claim = () =>
    atomically(em, async () => {
      const [row] = await write(em, claimStatement(filters, lease));
      if (!row) return null;
      const run = await hydrated(em, row, CLAIM_KEYS);
      // not enumerable: no serializer, copy or ORM helper sees it as the run's data
      Object.defineProperty(run, 'toolOutputs', { value: row.toolOutputs as ApiStepToolCall[], enumerable: false, configurable: true, writable: true });
      return run as ClaimedRun;
    });
  if (waitMs === null || waitMs === 0) return claim();
  refuseWaitInTransaction(em, 'options.waitMs');
  return claimWhenQueued(em, filters, { timeoutMs: waitMs, signal }, claim);
}

/**
 * Extends the lease of run `id` to `leaseSeconds` from now (database clock), only for its current
 * holder: the `worker` and `attempt` of the claim that leased it, while the run is `in_progress` or
 * `cancelling`. One conditional update. Returns the new expiry and the run's status (`cancelling`:
 * the client asked to cancel; finish with `confirmCancelled`). `LeaseLostError` when the token no
 * longer holds the run (taken over, recovered, or no longer held by a worker), `RunNotFoundError`
 * when there is no such run; nothing is changed then.
 */
export async function heartbeat(em: EntityManager, id: string, options: HeartbeatOptions): Promise<Lease> {
  checkId(id, 'id');
  const o = parseOrThrow(heartbeatSchema, options, 'options');
  const [row] = await atomically(em, () => write(em, heartbeatStatement(id, o)));
  if (!row) throw new RunNotFoundError(id);
  if (row.leaseExpiresAt === null) throw new LeaseLostError(id, o.worker, o.attempt);
  const expiry = row.leaseExpiresAt;
  return { leaseExpiresAt: expiry instanceof Date ? expiry : em.getPlatform().parseDate(expiry as string), status: row.fromStatus as RunStatus };
}

/**
 * Takes back the runs whose worker's lease lapsed (database clock): an `in_progress` run goes back
 * to `queued` (its next claim is the next attempt), or to `failed` with `last_error` `server_error`
 * ("The run's worker stopped responding after N attempts.") once it was claimed `maxAttempts`
 * times; a `cancelling` run is finished as `cancelled`. Runs claimed without a lease are never
 * touched. One statement per batch of `batchSize` runs (default 500), repeated until a batch comes
 * back short; each statement commits on its own. Safe from several processes at once (rows are
 * taken with `skip locked`): each lapsed run is moved, and counted, by exactly one caller.
 */
export async function recoverLapsed(em: EntityManager, options: RecoverOptions): Promise<RecoveredCounts> {
  const o = parseOrThrow(recoverOptionsSchema, options, 'options');
  const batchSize = o.batchSize ?? 500;
  const total: RecoveredCounts = { requeued: 0, failed: 0, cancelled: 0 };
  return atomically(em, async () => {
    for (;;) {
      const [row] = await write(em, recoverStatement(o.maxAttempts, batchSize));
      const batch = { requeued: Number(row.requeued), failed: Number(row.failed), cancelled: Number(row.cancelled) };
      total.requeued += batch.requeued;
      total.failed += batch.failed;
      total.cancelled += batch.cancelled;
      if (batch.requeued + batch.failed + batch.cancelled < batchSize) return total;
    }
  });
}

/** Replaces `metadata` (any status, terminal ones included); `RunValidationError` on bad metadata. */
export async function updateMetadata(em: EntityManager, id: string, metadata: Metadata | null): Promise<RunObject> {
  checkId(id, 'id');
  const m = parseOrThrow(metadataSchema, metadata, 'metadata');
  return atomically(em, async () => {
    const [row] = await write(em, metadataStatement(id, m));
    if (!row) throw new RunNotFoundError(id);
    return hydrated(em, row);
  });
}
