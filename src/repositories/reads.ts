/**
 * The reads, as `RunRepository` exposes them (each method there is a one-line call into this
 * module, handing it the repository's entity manager): a run, a thread's active run, the lists
 * and the aggregates.
 *
 * A page is ONE statement, whatever its size: the page's ids come from a keyset subquery inside
 * it, and each run's parts come with it as JSON (sql/run-graph.ts). An empty page after a
 * cursor costs one more statement, to tell an exhausted list from a cursor that names no run of
 * the list.
 */
import { FlushMode, type EntityManager } from '@mikro-orm/postgresql';
import { ACTIVE_STATUSES, RUN_STATUSES, type ApiRunList, type RunCountFilter, type RunListQuery, type RunStatus, type RunStatusCounts, type UsageTotals, type UsageTotalsFilter } from '../api/types';
import { aggregateFilter, checkId, checkStatuses, listSpec, type ListSpec } from '../api/list-query';
import { RunObject, RUN_POPULATE } from '../entities/run-object.entity';
import { InvalidListQueryError } from '../errors';
import { countByStatusStatement, usageTotalsStatement } from '../sql/aggregates';
import { cursorCheckStatement, fetchesBackwards, pageStatement } from '../sql/page';
import { selectRunStatement } from '../sql/run-graph';
import { read } from './executor';
import { translateDbError } from './db-errors';
import { hydrateRuns } from './unit-of-work';

/** The run, fully loaded and fresh from the database (one statement), or `null`. */
export async function findById(em: EntityManager, id: string): Promise<RunObject | null> {
  const rows = await read(em, selectRunStatement(id));
  return rows.length === 0 ? null : hydrateRuns(em, rows)[0];
}

/** The thread's active run (queued, in_progress, requires_action or cancelling), fully loaded, or `null`. */
export async function findActiveForThread(em: EntityManager, threadId: string): Promise<RunObject | null> {
  try {
    // `commit`: the query must not flush the caller's unsaved changes first (MikroORM's `auto` would)
    const options = { populate: RUN_POPULATE, refresh: true, flushMode: FlushMode.COMMIT } as const;
    return await em.findOne(RunObject, { threadId, status: { $in: [...ACTIVE_STATUSES] } }, options);
  } catch (error) {
    throw translateDbError(error, { write: false, inCallerTransaction: em.getTransactionContext() !== undefined });
  }
}

/** A page of the thread's runs, in the API's list shape. */
export async function listByThread(em: EntityManager, threadId: string, query?: RunListQuery): Promise<ApiRunList<RunObject>> {
  return page(em, listSpec({ column: 'thread_id', value: checkId(threadId, 'thread_id') }, null, query));
}

/** A page of the assistant's runs, in the API's list shape. */
export async function listByAssistant(em: EntityManager, assistantId: string, query?: RunListQuery): Promise<ApiRunList<RunObject>> {
  return page(em, listSpec({ column: 'assistant_id', value: checkId(assistantId, 'assistant_id') }, null, query));
}

/** A page of the runs in `status` (one or several), in the API's list shape. */
export async function listByStatus(em: EntityManager, status: RunStatus | RunStatus[], query?: RunListQuery): Promise<ApiRunList<RunObject>> {
  return page(em, listSpec(null, checkStatuses(status), query));
}

const EMPTY_PAGE = (): ApiRunList<RunObject> => ({ object: 'list', data: [], first_id: null, last_id: null, has_more: false });

async function page(em: EntityManager, spec: ListSpec): Promise<ApiRunList<RunObject>> {
  if (spec.statuses?.length === 0) {
    // `listByStatus(a, { status: b })` with no status in common: nothing is listed, so no cursor can name a listed run.
    if (spec.after !== null) throw unknownCursor('after', spec.after);
    if (spec.before !== null) throw unknownCursor('before', spec.before);
    return EMPTY_PAGE();
  }

  const runs = hydrateRuns(em, await read(em, pageStatement(spec)));

  if (runs.length === 0) {
    if (spec.after !== null || spec.before !== null) await assertCursorsListed(em, spec);
    return EMPTY_PAGE();
  }

  // The extra row, if any, lies beyond the page in the direction it was fetched.
  const hasMore = runs.length > spec.limit;
  const data = !hasMore ? runs : fetchesBackwards(spec) ? runs.slice(1) : runs.slice(0, spec.limit);
  return { object: 'list', data, first_id: data[0].id, last_id: data[data.length - 1].id, has_more: hasMore };
}

function unknownCursor(parameter: 'after' | 'before', id: string): InvalidListQueryError {
  return new InvalidListQueryError(parameter, `no run '${id}' in this list`);
}

/**
 * An empty page after a cursor means either the list's end or a cursor outside the list (whose
 * row comparison is null): this tells them apart, with `InvalidListQueryError` for the latter.
 */
async function assertCursorsListed(em: EntityManager, spec: ListSpec): Promise<void> {
  const [row] = await read<{ after_ok: boolean; before_ok: boolean }>(em, cursorCheckStatement(spec));
  if (!row.after_ok) throw unknownCursor('after', spec.after!);
  if (!row.before_ok) throw unknownCursor('before', spec.before!);
}

/** The number of runs in each of the nine statuses (zeros included), in one statement. */
export async function countByStatus(em: EntityManager, filter?: RunCountFilter): Promise<RunStatusCounts> {
  const rows = await read<{ status: RunStatus; runs: string | number }>(em, countByStatusStatement(aggregateFilter(filter)));
  const counts = Object.fromEntries(RUN_STATUSES.map((s) => [s, 0])) as RunStatusCounts;
  for (const row of rows) counts[row.status] = Number(row.runs);
  return counts;
}

/** Token totals over the matching runs (`runs` counts every one, with or without usage), in one statement. */
export async function usageTotals(em: EntityManager, filter?: UsageTotalsFilter): Promise<UsageTotals> {
  const [row] = await read<Record<keyof UsageTotals, string | number>>(em, usageTotalsStatement(aggregateFilter(filter)));
  // count() and sum(int) are bigints, which pg hands over as strings.
  return {
    runs: Number(row.runs),
    prompt_tokens: Number(row.prompt_tokens),
    completion_tokens: Number(row.completion_tokens),
    total_tokens: Number(row.total_tokens),
  };
}
