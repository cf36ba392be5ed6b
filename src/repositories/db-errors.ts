/**
 * Translation of database errors into the package's error classes, at the repository boundary
 * (the same idea as Medusa's db-error-mapper): no raw driver error reaches a caller. Messages are
 * the package's own, short: never the driver's, which knex prefixes with the whole statement and
 * its values.
 */
import { InvalidRunTransitionError, RunStoreError, RunStoreUnavailableError, RunValidationError, ThreadHasActiveRunError, type UnavailableReason } from '../errors';
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
/** Raised by the migrations' `run_object_check_status` trigger for a status change the lifecycle does not list. */
export const PG_ILLEGAL_STATUS_CHANGE = 'RS001';

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

/** What the store knew when a statement failed, which decides what the caller is told. */
export interface FailureContext {
  /** The statement (or transaction) writes: a lost connection leaves its outcome unknown. */
  write: boolean;
  /** It ran inside the caller's transaction, which is then aborted (the caller retries it whole). */
  inCallerTransaction: boolean;
  /** The thread a write inserted runs on, for the thread lock's `ThreadHasActiveRunError`. */
  threadId?: string;
}

/** Node's socket errors: the first group fails before anything is sent, the second may cut a statement. */
const CONNECT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL']);
const SOCKET_CODES = new Set(['ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ECONNABORTED', 'ESHUTDOWN']);
/** node-postgres and knex say these in words, with no code. */
const LOST_MESSAGES = /Connection terminated|connection error and is not queryable|Client was closed|not queryable|Connection ended|socket hang up|Transaction query already complete/i;
const POOL_MESSAGES = /Timeout acquiring a connection|pool is probably full/i;
const NO_POOL_MESSAGES = /Unable to acquire a connection|pool is destroyed|aborted/i;

/** The short reason of a data (22) or integrity (23) error, for `RunValidationError`. */
const DATA_REASONS: Record<string, string> = {
  '22001': 'is too long',
  '22003': 'is out of range',
  '22007': 'is not a valid time',
  '22008': 'is out of the supported time range',
  '22021': 'is not valid UTF-8 text',
  '22P02': 'is not valid for its type',
  '22P05': 'cannot be stored as text (a \\u0000?)',
  '23502': 'is required',
  '23503': 'refers to a part that does not exist',
  '23505': 'is already used',
  '23514': 'is not allowed',
};

/**
 * The driver's error behind each availability error, kept here and not on the error (its message
 * is the whole statement with its values, which must not reach a log through `cause`).
 */
const driverErrors = new WeakMap<RunStoreUnavailableError, unknown>();

function unavailable(reason: UnavailableReason, retryable: boolean, outcomeUnknown: boolean, code: string | null, cause: unknown): RunStoreUnavailableError {
  const error = new RunStoreUnavailableError(reason, retryable, outcomeUnknown, code);
  driverErrors.set(error, cause);
  return error;
}

/** The socket or driver code of `error` (an AggregateError from `net.connect` carries it on its first error). */
function nodeCodeOf(error: unknown): string | null {
  const e = error as { code?: unknown; errors?: { code?: unknown }[] };
  if (typeof e?.code === 'string') return e.code;
  const first = Array.isArray(e?.errors) ? e.errors[0]?.code : undefined;
  return typeof first === 'string' ? first : null;
}

/**
 * Maps any failure of a statement (or of the transaction around it) to the package's errors:
 * - the thread lock's unique index → `ThreadHasActiveRunError` (on `context.threadId`; the active
 *   run's id is the caller's to look up);
 * - data (class 22) and integrity (class 23) errors → `RunValidationError`;
 * - everything that is nobody's input's fault — a lost connection, a server going down or starting,
 *   no free pooled connection, a server-side timeout, a serialization failure or deadlock, tables
 *   missing — → `RunStoreUnavailableError`, saying whether the write's outcome is unknown.
 * A `RunStoreError` passes through; anything else (a bug) is rethrown as it is.
 */
export function translateDbError(error: unknown, context: FailureContext = { write: false, inCallerTransaction: false }): unknown {
  // An availability error from a statement inside the store's own transaction is judged again by
  // the transaction's context (its outcome is the transaction's).
  if (error instanceof RunStoreUnavailableError && driverErrors.has(error)) error = driverErrors.get(error);
  if (error instanceof RunStoreError) return error;
  // In the caller's transaction nothing commits before the caller does: the outcome is never unknown,
  // but the transaction is gone, so only the caller can retry (all of it).
  const lostOutcome = context.write && !context.inCallerTransaction;
  const transient = !context.inCallerTransaction;
  const pg = pgErrorOf(error);
  const code = pg?.code ?? null;
  if (code !== null) {
    if (code === PG_UNIQUE_VIOLATION && pg!.constraint === THREAD_ACTIVE_RUN_INDEX) {
      return new ThreadHasActiveRunError(context.threadId ?? '(unknown)', null);
    }
    if (code === PG_ILLEGAL_STATUS_CHANGE) {
      // detail: "<from> <to> <run id>" (the migrations' run_object_check_status trigger)
      const [from = '?', to = '?', ...id] = (pg!.detail ?? '').split(' ');
      return new InvalidRunTransitionError(id.join(' ') || '(unknown)', from, `move to '${to}'`);
    }
    if (code.startsWith('22') || code.startsWith('23')) {
      const field = pg!.column ?? pg!.constraint ?? pg!.table ?? '(input)';
      return RunValidationError.of(field, `${DATA_REASONS[code] ?? 'was refused by the database'} (${code})`);
    }
    if (code === '57014') return unavailable('statement_timeout', transient, false, code, error);
    if (code === '55P03') return unavailable('lock_timeout', transient, false, code, error);
    if (code === '40001' || code === '40P01') return unavailable('conflict', true, false, code, error);
    if (code === '25P02' || code === '25P01' || code === '25000') return unavailable('transaction_aborted', false, false, code, error);
    if (code === '57P03' || code === '53300' || code === '53400') return unavailable('server_unavailable', true, false, code, error);
    if (code === '57P01' || code === '57P02' || code === '57P04' || code === '57P05' || code.startsWith('08')) {
      return unavailable('connection_lost', transient, lostOutcome, code, error);
    }
    if (code === '42P01' || code === '42703' || code === '3F000') return unavailable('not_migrated', false, false, code, error);
    if (code.startsWith('28') || code === '3D000') return unavailable('connect_failed', false, false, code, error);
    if (code.startsWith('53') || code.startsWith('58') || code.startsWith('XX')) return unavailable('server_unavailable', transient, lostOutcome, code, error);
    return unavailable('database_error', false, false, code, error);
  }
  const nodeCode = nodeCodeOf(error);
  if (nodeCode !== null && CONNECT_CODES.has(nodeCode)) return unavailable('connect_failed', true, false, nodeCode, error);
  if (nodeCode !== null && SOCKET_CODES.has(nodeCode)) return unavailable('connection_lost', transient, lostOutcome, nodeCode, error);
  // Read as properties, not through `instanceof Error`: a socket's error may come from another realm.
  const message = typeof (error as { message?: unknown })?.message === 'string' ? (error as { message: string }).message : '';
  const name = typeof (error as { name?: unknown })?.name === 'string' ? (error as { name: string }).name : '';
  if (name === 'KnexTimeoutError' || POOL_MESSAGES.test(message)) return unavailable('pool_exhausted', true, false, null, error);
  if (LOST_MESSAGES.test(message)) return unavailable('connection_lost', transient, lostOutcome, null, error);
  if (NO_POOL_MESSAGES.test(message)) return unavailable('connect_failed', false, false, null, error);
  return error;
}
