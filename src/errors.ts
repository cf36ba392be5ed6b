/**
 * The package's error classes. Every failure a caller can see is one of these (or a bug):
 * raw driver errors are translated at the repository boundary.
 */

/** How many UTF-16 units of a caller's string a message quotes. */
export const EXCERPT_LENGTH = 40;

/** `s`, cut to `EXCERPT_LENGTH` UTF-16 units (never inside a surrogate pair) with `…` when longer: how messages quote a caller's string. */
export function cut(s: string): string {
  if (s.length <= EXCERPT_LENGTH) return s;
  const end = /[\uD800-\uDBFF]/.test(s[EXCERPT_LENGTH - 1]) ? EXCERPT_LENGTH - 1 : EXCERPT_LENGTH;
  return `${s.slice(0, end)}…`;
}

/** A field path for a message: a deep one (a nesting-depth refusal) keeps its start and its end. */
function shortPath(field: string): string {
  if (field.length <= 2 * EXCERPT_LENGTH) return field;
  const tail = field.slice(-EXCERPT_LENGTH);
  return `${cut(field)}${/^[\uDC00-\uDFFF]/.test(tail) ? tail.slice(1) : tail}`;
}

/** Base class of every error this package throws on purpose. */
export class RunStoreError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** No run has the given id. */
export class RunNotFoundError extends RunStoreError {
  constructor(readonly runId: string) {
    super(`No run found with id '${cut(runId)}'.`);
  }
}

/** The run's current status does not allow the requested transition; nothing was changed. */
export class InvalidRunTransitionError extends RunStoreError {
  constructor(
    readonly runId: string,
    readonly currentStatus: string,
    readonly transition: string,
  ) {
    super(`Cannot ${transition} run ${cut(runId)}: its status is '${currentStatus}'.`);
  }
}

/**
 * The worker no longer holds the run: another claim took it over after the lease lapsed (or
 * `recoverLapsed` gave it back to the queue, or the run left `in_progress`/`cancelling`). Nothing
 * was changed; the worker must stop working on the run.
 */
export class LeaseLostError extends RunStoreError {
  constructor(
    readonly runId: string,
    readonly worker: string,
    readonly attempt: number,
  ) {
    super(`Worker '${worker}' no longer holds run ${runId} (attempt ${attempt}).`);
  }
}

/**
 * A wait (`claimNext` with `waitMs`, `waitForStatus`) ended before its condition or its timeout:
 * `reason` `aborted` — its `signal` was aborted (`signal.reason` is kept as `cause`);
 * `closed` — `closeListener()` ended every wait of the ORM. Nothing was changed by the wait (a run
 * a waiting claim had already taken is returned, never dropped for an abort).
 */
export class WaitAbortedError extends RunStoreError {
  constructor(
    readonly reason: 'aborted' | 'closed',
    options?: { cause?: unknown },
  ) {
    super(reason === 'aborted' ? 'The wait was aborted.' : 'The wait ended: the listener was closed.');
    if (options && 'cause' in options) (this as { cause?: unknown }).cause = options.cause;
  }
}

/** The thread already has an active run (queued, in_progress, requires_action or cancelling). */
export class ThreadHasActiveRunError extends RunStoreError {
  constructor(
    readonly threadId: string,
    readonly activeRunId: string | null,
  ) {
    super(
      activeRunId
        ? `Thread ${cut(threadId)} already has an active run ${cut(activeRunId)}.`
        : `Thread ${cut(threadId)} already has an active run.`,
    );
  }
}

/** One reason an input was rejected: the field path (e.g. `tools[2].function.name`) and why. */
export interface ValidationIssue {
  field: string;
  reason: string;
}

/** An input was rejected; `field` and `reason` name the first problem, `issues` lists them all. Nothing was written. */
export class RunValidationError extends RunStoreError {
  readonly field: string;
  readonly reason: string;
  constructor(readonly issues: ValidationIssue[]) {
    const [first] = issues;
    const more = issues.length > 1 ? ` (and ${issues.length - 1} more)` : '';
    super(`Invalid run input: ${shortPath(first.field)}: ${first.reason}${more}`);
    this.field = first.field;
    this.reason = first.reason;
  }

  static of(field: string, reason: string): RunValidationError {
    return new RunValidationError([{ field, reason }]);
  }
}

/** A list query was malformed: a limit out of range, an unknown order, a cursor that names no listed run. */
export class InvalidListQueryError extends RunStoreError {
  constructor(
    readonly parameter: string,
    readonly reason: string,
  ) {
    super(`Invalid list query: ${parameter}: ${reason}`);
  }
}

/** Why the store could not be reached or could not finish in time. */
export type UnavailableReason =
  /** The connection broke (killed backend, network reset, server crash) while the store used it. */
  | 'connection_lost'
  /** The server is shutting down, restarting or still starting up (57P01, 57P02, 57P03, 08006 at connect). */
  | 'server_unavailable'
  /** No connection could be opened (refused, unreachable, DNS, authentication against a restarting server). */
  | 'connect_failed'
  /** No pooled connection became free in time. */
  | 'pool_exhausted'
  /** `statementTimeoutMs` (or the server's own `statement_timeout`) cancelled the statement (57014). */
  | 'statement_timeout'
  /** `lockTimeoutMs` (or the server's `lock_timeout`) gave up waiting for a lock (55P03). */
  | 'lock_timeout'
  /** The caller's isolation level refused the write (40001) or PostgreSQL broke a deadlock (40P01). */
  | 'conflict'
  /** The caller's transaction is already aborted (25P02) or was closed under the store. */
  | 'transaction_aborted'
  /** The store's tables (or columns) are missing: the package's migrations were not applied (42P01, 42703). */
  | 'not_migrated'
  /** Any other failure of the database that is not the input's fault (the code says which). */
  | 'database_error';

/**
 * Nobody's input is at fault: the database could not be reached, went away, or did not answer in
 * time. `retryable`: the failure is transient, the same call may succeed if made again (inside
 * a caller's transaction: never — that transaction is aborted, retry it whole). `outcomeUnknown`:
 * the connection broke after a write was sent, so it may have committed; look before repeating
 * (README "Failures and retries" says how, per operation). Nothing is ever half done: an operation
 * is one statement or one transaction.
 */
export class RunStoreUnavailableError extends RunStoreError {
  constructor(
    readonly reason: UnavailableReason,
    readonly retryable: boolean,
    readonly outcomeUnknown: boolean,
    /** The SQLSTATE or driver code behind it, when there is one (e.g. `57P01`, `ECONNREFUSED`). */
    readonly code: string | null = null,
  ) {
    super(`Run store unavailable: ${reason.replace(/_/g, ' ')}${outcomeUnknown ? ' (the write may have committed)' : ''}.`);
  }
}
