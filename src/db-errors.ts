/**
 * Translation of database errors into the package's error classes, at the repository boundary
 * (the same idea as Medusa's db-error-mapper): no raw driver error reaches a caller.
 */
import { RunStoreError, RunValidationError } from './errors';

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
 * Maps what remains after the caller handled the errors it expects: data errors (class 22: a
 * value out of range, bad text encoding) and integrity errors (class 23) become a
 * `RunValidationError`; anything else is rethrown as it is (a connection failure is not the
 * caller's input's fault).
 */
export function translateDbError(error: unknown): unknown {
  if (error instanceof RunStoreError) return error;
  const pg = pgErrorOf(error);
  if (pg?.code?.startsWith('22') || pg?.code?.startsWith('23')) {
    const field = pg.column ?? pg.constraint ?? pg.table ?? '(input)';
    return RunValidationError.of(field, `the database refused the value (${pg.code}: ${firstLine(pg.message)})`);
  }
  return error;
}

function firstLine(message: string | undefined): string {
  return (message ?? '').split('\n')[0];
}
