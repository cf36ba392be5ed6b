/**
 * Translation of database errors into the package's error classes, at the repository boundary
 * (the same idea as Medusa's db-error-mapper): no raw driver error reaches a caller.
 */
import { RunStoreError, RunStoreUnavailableError, RunValidationError, ThreadHasActiveRunError } from '../errors';
import { THREAD_ACTIVE_RUN_INDEX } from '../entities/schema-names';

/** The PostgreSQL error fields we read (present on pg errors and on MikroORM's wrappers of them). */
export interface PgErrorLike {
  code?: string;
  constraint?: string;
  column?: string;
  table?: string;
  detail?: string;
  message?: string;
}

export const PG_UNIQUE_VIOLATION = '23505';
export const PG_CHECK_VIOLATION = '23514';
export const PG_NOT_NULL_VIOLATION = '23502';
export const PG_FOREIGN_KEY_VIOLATION = '23503';
/** The caller's REPEATABLE READ or SERIALIZABLE transaction cannot see a change it would overwrite (or a read-write conflict). */
export const PG_SERIALIZATION_FAILURE = '40001';
export const PG_DEADLOCK_DETECTED = '40P01';

export function pgErrorOf(error: unknown): PgErrorLike | null {
  if (typeof error !== 'object' || error === null) return null;
  const code = (error as PgErrorLike).code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? (error as PgErrorLike) : null;
}

/** `true` when `error` is PostgreSQL's unique violation of the named constraint or index. */
export function isUniqueViolation(error: unknown, constraint?: string): boolean {
  const pg = pgErrorOf(error);
  return pg?.code === PG_UNIQUE_VIOLATION && (constraint === undefined || pg.constraint === constraint);
}

/**
 * Maps a failed statement: the thread lock's unique index becomes `ThreadHasActiveRunError` (on
 * `threadId`, when the caller knows which thread it wrote; the active run's id is the caller's to
 * look up), data errors (class 22: a value out of range, bad text encoding) and integrity errors
 * (class 23) a `RunValidationError`, a serialization failure or a deadlock (class 40) the retryable
 * `RunStoreUnavailableError` 'conflict' (nothing was written); anything else is rethrown as it is (a connection failure is
 * not the caller's input's fault).
 */
export function translateDbError(error: unknown, threadId?: string): unknown {
  if (error instanceof RunStoreError) return error;
  if (isUniqueViolation(error, THREAD_ACTIVE_RUN_INDEX)) return new ThreadHasActiveRunError(threadId ?? '(unknown)', null);
  const pg = pgErrorOf(error);
  if (pg?.code === PG_SERIALIZATION_FAILURE || pg?.code === PG_DEADLOCK_DETECTED) return new RunStoreUnavailableError('conflict', true, false, pg.code);
  if (pg?.code?.startsWith('22') || pg?.code?.startsWith('23')) {
    const field = pg.column ?? pg.constraint ?? pg.table ?? '(input)';
    return RunValidationError.of(field, `the database refused the value (${pg.code}: ${firstLine(pg.message)})`);
  }
  return error;
}

function firstLine(message: string | undefined): string {
  return (message ?? '').split('\n')[0];
}
