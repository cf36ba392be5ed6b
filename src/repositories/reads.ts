/**
 * The reads, as `RunRepository` exposes them (each method there is a one-line call into this
 * module, handing it the repository's entity manager): a run (also scoped to its thread), a thread's active run, the lists
 * and the aggregates.
 *
 * A page is ONE statement, whatever its size: the page's ids come from a keyset subquery inside
 * it, and each run's parts come with it as JSON (sql/run-graph.ts). An empty page after a
 * cursor costs one more statement, to tell an exhausted list from a cursor that names no run of
 * the list.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import { RUN_STATUSES, type ApiRunList, type RunCountFilter, type RunListQuery, type RunStatus, type RunStatusCounts, type UsageTotals, type UsageTotalsFilter } from '../api/types';
import { checkId, excerpt, listQueryError } from '../api/arguments';
import { aggregateFilter, checkStatuses, listSpec, type ListSpec } from '../api/list-query';
import type { RunObject } from '../entities/run-object.entity';
import { InvalidListQueryError, RunNotFoundError } from '../errors';
import { countByStatusStatement, usageTotalsStatement } from '../sql/aggregates';
import { cursorCheckStatement, fetchesBackwards, pageStatement } from '../sql/page';
import { activeRunStatement } from '../sql/active-run';
import { selectRunStatement } from '../sql/run-graph';
import { read, type ReadFrom } from './executor';
import { hydrateRuns } from './unit-of-work';

/** The run, fully loaded and fresh from the database (one statement), or `null`. */
export async function findById(em: EntityManager, id: string, from: ReadFrom = 'primary'): Promise<RunObject | null> {
  const rows = await read(em, selectRunStatement(checkId(id, 'id')), from);
  return rows.length === 0 ? null : hydrateRuns(em, rows)[0];
}

/**
 * The run if it is on `threadId`; `RunNotFoundError` when there is no such run or it is on another
 * thread (the same error, so a run's id tells nothing across threads). The thread id only compares.
 */
export async function getForThread(em: EntityManager, threadId: string, runId: string, from: ReadFrom = 'primary'): Promise<RunObject> {
  checkId(threadId, 'thread_id');
  const run = await findById(em, runId, from);
  if (!run || run.threadId !== threadId) throw new RunNotFoundError(runId);
  return run;
}

/**
 * The thread's active run (queued, in_progress, requires_action or cancelling), fully loaded, or
 * `null`; one statement, on the primary (it decides: whether the thread is free).
 */
export async function findActiveForThread(em: EntityManager, threadId: string): Promise<RunObject | null> {
  const rows = await read(em, activeRunStatement(checkId(threadId, 'thread_id')), 'primary');
  return rows.length === 0 ? null : hydrateRuns(em, rows)[0];
}

/** A page of the thread's runs, in the API's list shape. */
export async function listByThread(em: EntityManager, threadId: string, query?: RunListQuery, from: ReadFrom = 'replica'): Promise<ApiRunList<RunObject>> {
  return page(em, from, listSpec({ column: 'thread_id', value: checkId(threadId, 'thread_id', listQueryError) }, null, query));
}

/** A page of the assistant's runs, in the API's list shape. */
export async function listByAssistant(em: EntityManager, assistantId: string, query?: RunListQuery, from: ReadFrom = 'replica'): Promise<ApiRunList<RunObject>> {
  return page(em, from, listSpec({ column: 'assistant_id', value: checkId(assistantId, 'assistant_id', listQueryError) }, null, query));
}

/** A page of the runs in `status` (one or several), in the API's list shape. */
export async function listByStatus(em: EntityManager, status: RunStatus | RunStatus[], query?: RunListQuery, from: ReadFrom = 'replica'): Promise<ApiRunList<RunObject>> {
  return page(em, from, listSpec(null, checkStatuses(status), query));
}

const EMPTY_PAGE = (): ApiRunList<RunObject> => ({ object: 'list', data: [], first_id: null, last_id: null, has_more: false });

async function page(em: EntityManager, from: ReadFrom, spec: ListSpec): Promise<ApiRunList<RunObject>> {
  if (spec.statuses?.length === 0) {
    // `listByStatus(a, { status: b })` with no status in common: nothing is listed, so no cursor can name a listed run.
    if (spec.after !== null) throw unknownCursor('after', spec.after);
    if (spec.before !== null) throw unknownCursor('before', spec.before);
    return EMPTY_PAGE();
  }

  const runs = hydrateRuns(em, await read(em, pageStatement(spec), from));

  if (runs.length === 0) {
    if (spec.after !== null || spec.before !== null) await assertCursorsListed(em, from, spec);
    return EMPTY_PAGE();
  }

  // The extra row, if any, lies beyond the page in the direction it was fetched.
  const hasMore = runs.length > spec.limit;
  const data = !hasMore ? runs : fetchesBackwards(spec) ? runs.slice(1) : runs.slice(0, spec.limit);
  return { object: 'list', data, first_id: data[0].id, last_id: data[data.length - 1].id, has_more: hasMore };
}

function unknownCursor(parameter: 'after' | 'before', id: string): InvalidListQueryError {
  return new InvalidListQueryError(parameter, `no run ${excerpt(id)} in this list`);
}

/**
 * An empty page after a cursor means either the list's end or a cursor outside the list (whose
 * row comparison is null): this tells them apart, with `InvalidListQueryError` for the latter.
 */
async function assertCursorsListed(em: EntityManager, from: ReadFrom, spec: ListSpec): Promise<void> {
  const [row] = await read<{ after_ok: boolean; before_ok: boolean }>(em, cursorCheckStatement(spec), from);
  if (!row.after_ok) throw unknownCursor('after', spec.after!);
  if (!row.before_ok) throw unknownCursor('before', spec.before!);
}

/** The number of runs in each of the nine statuses (zeros included), in one statement. */
export async function countByStatus(em: EntityManager, filter?: RunCountFilter, from: ReadFrom = 'replica'): Promise<RunStatusCounts> {
  const rows = await read<{ status: RunStatus; runs: string | number }>(em, countByStatusStatement(aggregateFilter(filter)), from);
  const counts = Object.fromEntries(RUN_STATUSES.map((s) => [s, 0])) as RunStatusCounts;
  for (const row of rows) counts[row.status] = Number(row.runs);
  return counts;
}

/** Token totals over the matching runs (`runs` counts every one, with or without usage), in one statement. */
export async function usageTotals(em: EntityManager, filter?: UsageTotalsFilter, from: ReadFrom = 'replica'): Promise<UsageTotals> {
  const [row] = await read<Record<keyof UsageTotals, string | number>>(em, usageTotalsStatement(aggregateFilter(filter)), from);
  // count() and sum(int) are bigints, which pg hands over as strings.
  return {
    runs: Number(row.runs),
    prompt_tokens: Number(row.prompt_tokens),
    completion_tokens: Number(row.completion_tokens),
    total_tokens: Number(row.total_tokens),
  };
}
