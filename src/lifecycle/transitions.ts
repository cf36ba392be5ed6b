/**
 * The run state machine of run-lifecycle.md as pure data: which statuses each operation may start
 * from, which status it moves the run to, and what every target status sets and clears. No I/O:
 * `operations.ts` turns these rows into one conditional SQL statement each.
 */
import { ACTIVE_STATUSES, RUN_STATUSES, type RunStatus } from '../api/types';

/** Every state-changing operation of the lifecycle (the repository method names, plus `expire`, `claim` and `recover`). */
export const TRANSITION_NAMES = [
  'start',
  'requireAction',
  'submitToolOutputs',
  'complete',
  'fail',
  'markIncomplete',
  'cancel',
  'confirmCancelled',
  'expire',
  'claim',
  'recover',
] as const;
export type TransitionName = (typeof TRANSITION_NAMES)[number];

/** An owned sub-object that an operation brings with it (given by the caller, validated). */
export type TransitionInput = 'requiredAction' | 'lastError' | 'incompleteDetails';

export interface Transition {
  /** For each status the operation may start from, the status it moves the run to. */
  readonly moves: Readonly<Partial<Record<RunStatus, RunStatus>>>;
  /** Statuses in which the operation succeeds without changing anything (cancel on `cancelling`). */
  readonly unchangedIn: readonly RunStatus[];
  /** The sub-object the caller must give (required). */
  readonly input: TransitionInput | null;
  /** Whether the caller may record `usage` (replacing a stored one; when omitted the stored one stays). */
  readonly acceptsUsage: boolean;
}

const to = (target: RunStatus, from: readonly RunStatus[]): Partial<Record<RunStatus, RunStatus>> =>
  Object.fromEntries(from.map((s) => [s, target]));

const row = (moves: Transition['moves'], more: Partial<Omit<Transition, 'moves'>> = {}): Transition => ({
  moves,
  unchangedIn: [],
  input: null,
  acceptsUsage: false,
  ...more,
});

/** The transition table. Anything not listed is an `InvalidRunTransitionError`. */
export const TRANSITIONS: Readonly<Record<TransitionName, Transition>> = {
  start: row({ queued: 'in_progress' }),
  requireAction: row({ in_progress: 'requires_action' }, { input: 'requiredAction' }),
  submitToolOutputs: row({ requires_action: 'queued' }),
  complete: row(to('completed', ['in_progress', 'cancelling']), { acceptsUsage: true }),
  // [OURS] queued → failed: a worker could not start it.
  fail: row(to('failed', ['queued', 'in_progress', 'cancelling']), { input: 'lastError', acceptsUsage: true }),
  markIncomplete: row(to('incomplete', ['in_progress', 'cancelling']), { input: 'incompleteDetails', acceptsUsage: true }),
  // [OURS] queued and requires_action are held by no worker, so they are cancelled at once; a second
  // cancel of a cancelling run returns it unchanged.
  cancel: row({ queued: 'cancelled', requires_action: 'cancelled', in_progress: 'cancelling' }, { unchangedIn: ['cancelling'] }),
  confirmCancelled: row({ cancelling: 'cancelled' }),
  expire: row(to('expired', ACTIVE_STATUSES)),
  claim: row({ queued: 'in_progress' }),
  // [OURS] a run whose worker's lease lapsed goes back to the queue (`recoverLapsed`; the next claim is the next attempt).
  recover: row({ in_progress: 'queued' }),
};

/** What entering a status does to a timestamp column: stamp it with the clock, clear it, or leave it. */
export type TimestampEffect = 'now' | 'null' | 'keep';
export const TIMESTAMP_COLUMNS = ['started_at', 'cancelled_at', 'failed_at', 'completed_at', 'expires_at'] as const;
export type TimestampColumn = (typeof TIMESTAMP_COLUMNS)[number];

const keepAll: Record<TimestampColumn, TimestampEffect> = {
  started_at: 'keep',
  cancelled_at: 'keep',
  failed_at: 'keep',
  completed_at: 'keep',
  expires_at: 'keep',
};
const finished = (stamp: TimestampColumn): Record<TimestampColumn, TimestampEffect> => ({ ...keepAll, [stamp]: 'now', expires_at: 'null' });

/**
 * What entering each status does to the timestamps (run-lifecycle.md, "Fields that move with the
 * status"): `started_at` on each entry into `in_progress`; `cancelled_at`/`failed_at`/`completed_at`
 * on the matching terminal status (`completed_at` on `incomplete` too [OURS]); `expires_at` cleared on
 * every terminal status except `expired`, which keeps it; `cancelling` stamps nothing.
 */
export const ON_ENTRY: Readonly<Record<RunStatus, Readonly<Record<TimestampColumn, TimestampEffect>>>> = {
  queued: keepAll,
  in_progress: { ...keepAll, started_at: 'now' },
  requires_action: keepAll,
  cancelling: keepAll,
  cancelled: finished('cancelled_at'),
  failed: finished('failed_at'),
  completed: finished('completed_at'),
  incomplete: finished('completed_at'),
  expired: keepAll,
};

/**
 * `required_action` exists only in `requires_action`: it is set on entry (from the caller's tool calls)
 * and cleared on entry into any other status.
 */
export const HOLDS_REQUIRED_ACTION: RunStatus = 'requires_action';

/** The statuses an operation may start from (moving or, for cancel, leaving the run unchanged). */
export function allowedFrom(name: TransitionName): RunStatus[] {
  const t = TRANSITIONS[name];
  return RUN_STATUSES.filter((s) => t.moves[s] !== undefined || t.unchangedIn.includes(s));
}

/** Where `name` takes a run in `status`: the target status, `'unchanged'`, or `null` when not allowed. */
export function targetOf(name: TransitionName, status: RunStatus): RunStatus | 'unchanged' | null {
  const t = TRANSITIONS[name];
  if (t.unchangedIn.includes(status)) return 'unchanged';
  return t.moves[status] ?? null;
}

/** Every status change some operation makes (from → to), e.g. `queued>in_progress`. */
export const STATUS_CHANGES: ReadonlySet<string> = new Set(
  Object.values(TRANSITIONS).flatMap((t) => Object.entries(t.moves).map(([from, to]) => `${from}>${to}`)),
);

/** Whether some operation of the table moves a run from `from` to `to` (a status kept is no change). */
export function isStatusChange(from: RunStatus, to: RunStatus): boolean {
  return from === to || STATUS_CHANGES.has(`${from}>${to}`);
}
