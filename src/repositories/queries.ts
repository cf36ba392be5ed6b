/**
 * Lists and aggregates, as `RunRepository` exposes them (each method there is a one-line call
 * into this module).
 *
 * A page is ONE statement, whatever its size: the page's ids come from a keyset subquery inside
 * it, and each run's parts come with it as JSON (sql/select-graph.ts). An empty page after a
 * cursor costs one more statement, to tell an exhausted list from a cursor that names no run of
 * the list.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import { RUN_STATUSES, type ApiRunList, type RunCountFilter, type RunListQuery, type RunStatus, type RunStatusCounts, type UsageTotals, type UsageTotalsFilter } from '../api/types';
import { RunObject } from '../entities/run-object.entity';
import { InvalidListQueryError } from '../errors';
import { aggregateFilter, checkId, checkStatuses, listSpec, type ListSpec } from '../queries/list-query';
import { cursorCheckSql, fetchesBackwards, pageIdsSql } from '../queries/page-sql';
import { countByStatusSql, usageTotalsSql } from '../queries/aggregate-sql';
import type { RunRepository } from './run.repository';
import { hydrateRuns, RUN_GRAPH_COLUMNS } from './sql/select-graph';

/** A page of the thread's runs, in the API's list shape. */
export async function listByThread(repo: RunRepository, threadId: string, query?: RunListQuery): Promise<ApiRunList<RunObject>> {
  return page(repo, listSpec({ column: 'thread_id', value: checkId(threadId, 'thread_id') }, null, query));
}

/** A page of the assistant's runs, in the API's list shape. */
export async function listByAssistant(repo: RunRepository, assistantId: string, query?: RunListQuery): Promise<ApiRunList<RunObject>> {
  return page(repo, listSpec({ column: 'assistant_id', value: checkId(assistantId, 'assistant_id') }, null, query));
}

/** A page of the runs in `status` (one or several), in the API's list shape. */
export async function listByStatus(repo: RunRepository, status: RunStatus | RunStatus[], query?: RunListQuery): Promise<ApiRunList<RunObject>> {
  return page(repo, listSpec(null, checkStatuses(status), query));
}

const EMPTY_PAGE = (): ApiRunList<RunObject> => ({ object: 'list', data: [], first_id: null, last_id: null, has_more: false });

async function page(repo: RunRepository, spec: ListSpec): Promise<ApiRunList<RunObject>> {
  if (spec.statuses?.length === 0) {
    // `listByStatus(a, { status: b })` with no status in common: nothing is listed, so no cursor can name a listed run.
    if (spec.after !== null) throw unknownCursor('after', spec.after);
    if (spec.before !== null) throw unknownCursor('before', spec.before);
    return EMPTY_PAGE();
  }

  const em = repo.getEntityManager();
  const ids = pageIdsSql(spec);
  // `id = any(array(…))`, not `id in (…)`: the array is computed first (an init plan) and the
  // runs are then fetched by primary key. (plans.test.ts shows the difference at 100k runs.)
  // One statement: each run's parts come as JSON from correlated subqueries (sql/select-graph.ts)
  // and are hydrated by the entity factory, refreshing runs the unit of work already holds.
  const rows = await (em as EntityManager).getConnection().execute<Record<string, unknown>[]>(
    `select ${RUN_GRAPH_COLUMNS} from "run_object" r where r."id" = any(array(${ids.text})) order by r."created_at" ${spec.order}, r."id" ${spec.order}`,
    ids.params,
    'all',
    em.getTransactionContext(),
  );
  const runs = hydrateRuns(em as EntityManager, rows);

  if (runs.length === 0) {
    if (spec.after !== null || spec.before !== null) await assertCursorsListed(repo, spec);
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
async function assertCursorsListed(repo: RunRepository, spec: ListSpec): Promise<void> {
  const check = cursorCheckSql(spec);
  const [row] = await repo.getEntityManager().execute<{ after_ok: boolean; before_ok: boolean }[]>(check.text, check.params);
  if (!row.after_ok) throw unknownCursor('after', spec.after!);
  if (!row.before_ok) throw unknownCursor('before', spec.before!);
}

/** The number of runs in each of the nine statuses (zeros included), in one statement. */
export async function countByStatus(repo: RunRepository, filter?: RunCountFilter): Promise<RunStatusCounts> {
  const q = countByStatusSql(aggregateFilter(filter));
  const rows = await repo.getEntityManager().execute<{ status: RunStatus; runs: string | number }[]>(q.text, q.params);
  const counts = Object.fromEntries(RUN_STATUSES.map((s) => [s, 0])) as RunStatusCounts;
  for (const row of rows) counts[row.status] = Number(row.runs);
  return counts;
}

/** Token totals over the matching runs (`runs` counts every one, with or without usage), in one statement. */
export async function usageTotals(repo: RunRepository, filter?: UsageTotalsFilter): Promise<UsageTotals> {
  const q = usageTotalsSql(aggregateFilter(filter));
  const [row] = await repo.getEntityManager().execute<Record<keyof UsageTotals, string | number>[]>(q.text, q.params);
  // count() and sum(int) are bigints, which pg hands over as strings.
  return {
    runs: Number(row.runs),
    prompt_tokens: Number(row.prompt_tokens),
    completion_tokens: Number(row.completion_tokens),
    total_tokens: Number(row.total_tokens),
  };
}
