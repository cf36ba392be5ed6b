/**
 * Validation of list queries and aggregate filters: what the caller passed, checked and
 * normalised into a `ListSpec` (a list's members plus the page wanted). Pure; no I/O.
 */
import { checkOptions, excerpt, isAbsent, listQueryError, optionalId, optionalUnixSeconds, type Refusal } from './arguments';
import { RUN_STATUSES, type RunCountFilter, type RunExportFilter, type RunListQuery, type RunStatus } from './types';
import { cut, InvalidListQueryError } from '../errors';

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

const LIST_QUERY_KEYS = ['limit', 'order', 'after', 'before', 'status'];
const AGGREGATE_FILTER_KEYS = ['thread_id', 'assistant_id', 'created_after', 'created_before'];
const STATUS_SET = new Set<string>(RUN_STATUSES);

/** A list query or aggregate filter: a plain object (or absent) of known keys; an unknown key is named by itself. */
const queryObject = (value: unknown, parameter: string, allowed: readonly string[]) => checkOptions(value, parameter, allowed, listQueryError, cut);

/** One status or a non-empty array of them, each one of the nine; returned distinct, in the given order. */
export function checkStatuses(value: unknown, parameter = 'status', refuse: Refusal = listQueryError): RunStatus[] {
  const list = Array.isArray(value) ? value : [value];
  if (list.length === 0) throw refuse(parameter, 'must name at least one status');
  for (const s of list) {
    if (typeof s !== 'string' || !STATUS_SET.has(s)) {
      throw refuse(parameter, `${excerpt(s)} is not a run status (${RUN_STATUSES.join(', ')})`);
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
  const q = queryObject(query, 'query', LIST_QUERY_KEYS);

  let limit = DEFAULT_LIST_LIMIT;
  if (!isAbsent(q.limit)) {
    if (typeof q.limit !== 'number' || !Number.isInteger(q.limit) || q.limit < 1 || q.limit > MAX_LIST_LIMIT) {
      throw new InvalidListQueryError('limit', `must be an integer from 1 to ${MAX_LIST_LIMIT}, got ${excerpt(q.limit)}`);
    }
    limit = q.limit;
  }

  let order: ListSpec['order'] = 'desc';
  if (!isAbsent(q.order)) {
    if (q.order !== 'asc' && q.order !== 'desc') throw new InvalidListQueryError('order', `must be 'asc' or 'desc', got ${excerpt(q.order)}`);
    order = q.order;
  }

  let statuses = baseStatuses;
  if (!isAbsent(q.status)) {
    const filter = checkStatuses(q.status);
    statuses = statuses === null ? filter : statuses.filter((s) => filter.includes(s));
  }

  return { scope, statuses, limit, order, after: optionalId(q.after, 'after', listQueryError), before: optionalId(q.before, 'before', listQueryError) };
}

/** The checked filter of `countByStatus` and `usageTotals`; times stay unix seconds (compared in SQL with `to_timestamp`). */
export interface AggregateFilter {
  threadId: string | null;
  assistantId: string | null;
  createdAfter: number | null;
  createdBefore: number | null;
}

export function aggregateFilter(filter: RunCountFilter | undefined): AggregateFilter {
  return checkedAggregateFilter(queryObject(filter, 'filter', AGGREGATE_FILTER_KEYS));
}

function checkedAggregateFilter(f: Record<string, unknown>): AggregateFilter {
  return {
    threadId: optionalId(f.thread_id, 'thread_id', listQueryError),
    assistantId: optionalId(f.assistant_id, 'assistant_id', listQueryError),
    createdAfter: optionalUnixSeconds(f.created_after, 'created_after', listQueryError),
    createdBefore: optionalUnixSeconds(f.created_before, 'created_before', listQueryError),
  };
}

/** The checked filter of an export: the aggregate filter, and the statuses (`null`: every status). */
export interface ExportFilter extends AggregateFilter {
  statuses: RunStatus[] | null;
}

export function exportFilter(filter: RunExportFilter | undefined): ExportFilter {
  const f = queryObject(filter, 'filter', [...AGGREGATE_FILTER_KEYS, 'status']);
  return { ...checkedAggregateFilter(f), statuses: isAbsent(f.status) ? null : checkStatuses(f.status) };
}
