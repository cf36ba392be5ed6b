/**
 * Validation of list queries and aggregate filters: what the caller passed, checked and
 * normalised into a `ListSpec` (a list's members plus the page wanted). Pure; no I/O.
 */
import { RUN_STATUSES, type RunCountFilter, type RunListQuery, type RunStatus } from './types';
import { InvalidListQueryError } from '../errors';

export const DEFAULT_LIST_LIMIT = 20;
export const MAX_LIST_LIMIT = 100;

/** The column a list is scoped by (a thread's or an assistant's runs), or none (runs by status). */
export type ScopeColumn = 'thread_id' | 'assistant_id';

/** Which runs belong to a list, and which page of them is wanted. */
export interface ListSpec {
  scope: { column: ScopeColumn; value: string } | null;
  /** `null`: every status. Otherwise distinct statuses, at least one. */
  statuses: RunStatus[] | null;
  limit: number;
  order: 'asc' | 'desc';
  after: string | null;
  before: string | null;
}

const LIST_QUERY_KEYS = new Set(['limit', 'order', 'after', 'before', 'status']);
const STATUS_SET = new Set<string>(RUN_STATUSES);

const isAbsent = (value: unknown): value is undefined | null => value === undefined || value === null;

function plainObject(value: unknown, parameter: string, allowed: Set<string>): Record<string, unknown> {
  if (isAbsent(value)) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw new InvalidListQueryError(parameter, 'must be an object');
  for (const key of Object.keys(value)) {
    // An unknown key is most likely a misspelt filter: ignoring it would silently widen the result.
    if (!allowed.has(key)) throw new InvalidListQueryError(key, `unknown parameter (expected one of ${[...allowed].join(', ')})`);
  }
  return value as Record<string, unknown>;
}

/** A required id-like string (thread id, assistant id, cursor). */
export function checkId(value: unknown, parameter: string): string {
  if (typeof value !== 'string' || value.length === 0) throw new InvalidListQueryError(parameter, 'must be a non-empty string');
  return value;
}

function optionalId(value: unknown, parameter: string): string | null {
  return isAbsent(value) ? null : checkId(value, parameter);
}

/** One status or a non-empty array of them, each one of the nine; returned distinct, in the given order. */
export function checkStatuses(value: unknown, parameter = 'status'): RunStatus[] {
  const list = Array.isArray(value) ? value : [value];
  if (list.length === 0) throw new InvalidListQueryError(parameter, 'must name at least one status');
  for (const s of list) {
    if (typeof s !== 'string' || !STATUS_SET.has(s)) {
      throw new InvalidListQueryError(parameter, `${JSON.stringify(s)} is not a run status (${RUN_STATUSES.join(', ')})`);
    }
  }
  return [...new Set(list as RunStatus[])];
}

/**
 * The list of `scope`'s runs (or of `baseStatuses`' runs) with `query` applied: limit 1–100
 * (default 20), order `asc`/`desc` (default `desc`), optional cursors, optional status filter.
 * A status filter on top of `baseStatuses` narrows it to their intersection.
 */
export function listSpec(
  scope: ListSpec['scope'],
  baseStatuses: RunStatus[] | null,
  query: RunListQuery | undefined,
): ListSpec {
  const q = plainObject(query, 'query', LIST_QUERY_KEYS);

  let limit = DEFAULT_LIST_LIMIT;
  if (!isAbsent(q.limit)) {
    if (typeof q.limit !== 'number' || !Number.isInteger(q.limit) || q.limit < 1 || q.limit > MAX_LIST_LIMIT) {
      throw new InvalidListQueryError('limit', `must be an integer from 1 to ${MAX_LIST_LIMIT}, got ${JSON.stringify(q.limit)}`);
    }
    limit = q.limit;
  }

  let order: ListSpec['order'] = 'desc';
  if (!isAbsent(q.order)) {
    if (q.order !== 'asc' && q.order !== 'desc') throw new InvalidListQueryError('order', `must be 'asc' or 'desc', got ${JSON.stringify(q.order)}`);
    order = q.order;
  }

  let statuses = baseStatuses;
  if (!isAbsent(q.status)) {
    const filter = checkStatuses(q.status);
    statuses = statuses === null ? filter : statuses.filter((s) => filter.includes(s));
  }

  return { scope, statuses, limit, order, after: optionalId(q.after, 'after'), before: optionalId(q.before, 'before') };
}

/** The checked filter of `countByStatus` and `usageTotals`; times stay unix seconds (compared in SQL with `to_timestamp`). */
export interface AggregateFilter {
  threadId: string | null;
  assistantId: string | null;
  createdAfter: number | null;
  createdBefore: number | null;
}

function optionalUnixSeconds(value: unknown, parameter: string): number | null {
  if (isAbsent(value)) return null;
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new InvalidListQueryError(parameter, `must be a number of unix seconds, got ${JSON.stringify(value)}`);
  return value;
}

export function aggregateFilter(filter: RunCountFilter | undefined): AggregateFilter {
  const f = plainObject(filter, 'filter', new Set(['thread_id', 'assistant_id', 'created_after', 'created_before']));
  return {
    threadId: optionalId(f.thread_id, 'thread_id'),
    assistantId: optionalId(f.assistant_id, 'assistant_id'),
    createdAfter: optionalUnixSeconds(f.created_after, 'created_after'),
    createdBefore: optionalUnixSeconds(f.created_before, 'created_before'),
  };
}
