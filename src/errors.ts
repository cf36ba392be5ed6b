/**
 * The package's error classes. Every failure a caller can see is one of these (or a bug):
 * raw driver errors are translated at the repository boundary.
 */

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
    super(`No run found with id '${runId}'.`);
  }
}

/** The run's current status does not allow the requested transition; nothing was changed. */
export class InvalidRunTransitionError extends RunStoreError {
  constructor(
    readonly runId: string,
    readonly currentStatus: string,
    readonly transition: string,
  ) {
    super(`Cannot ${transition} run ${runId}: its status is '${currentStatus}'.`);
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
        ? `Thread ${threadId} already has an active run ${activeRunId}.`
        : `Thread ${threadId} already has an active run.`,
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
    super(`Invalid run input: ${first.field}: ${first.reason}${more}`);
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
