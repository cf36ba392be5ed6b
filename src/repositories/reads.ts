/**
 * The reads, as `RunRepository` exposes them (each method there, and of its `api` view, is a
 * one-line call into this module, handing it the repository's entity manager): a run (also scoped
 * to its thread), a thread's active run, the lists, an export and the aggregates.
 *
 * Every read of runs gives them in one of two forms (`ReadForm`): `MANAGED`, entity graphs in the
 * caller's unit of work (`RunObject`), or `API`, the API objects themselves, built by PostgreSQL
 * (`ApiRun`, sql/api-run.ts). Both forms run the same statement but for its select list, so they
 * share everything else: validation, errors, and one implementation of paging.
 *
 * A page is ONE statement, whatever its size: the page's ids come from a keyset subquery inside
 * it, and each run's parts come with it as JSON (sql/run-graph.ts). An empty page after a
 * cursor costs one more statement, to tell an exhausted list from a cursor that names no run of
 * the list.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import { RUN_STATUSES, type ApiRun, type ApiRunList, type ApiStepToolCall, type RunHistoryActor, type RunHistoryEntry, type RunCountFilter, type RunExportFilter, type RunListQuery, type RunStatus, type RunStatusCounts, type UsageTotals, type UsageTotalsFilter } from '../api/types';
import { checkId, excerpt, listQueryError } from '../api/arguments';
import { aggregateFilter, checkStatuses, exportFilter, listSpec, type ListSpec } from '../api/list-query';
import type { RunObject } from '../entities/run-object.entity';
import { InvalidListQueryError, RunNotFoundError } from '../errors';
import { countByStatusStatement, usageTotalsStatement } from '../sql/aggregates';
import { cursorCheckStatement, exportPageStatement, fetchesBackwards, pageStatement, type ExportCursor } from '../sql/page';
import { activeRunStatement } from '../sql/active-run';
import { historyStatement } from '../sql/history';
import { selectRunStatement, type RunForm } from '../sql/run-graph';
import { read, type ReadFrom, type Row } from './executor';
import { hydrateRuns } from './unit-of-work';

/** A form runs are read in: the statements' select list (`RunForm`) and how its rows become results. */
export interface ReadForm<T extends { id: string }> {
  readonly columns: RunForm;
  results(em: EntityManager, rows: Row[]): T[] | Promise<T[]>;
}

/** Managed, fully loaded `RunObject`s in the caller's unit of work. */
export const MANAGED: ReadForm<RunObject> = { columns: 'graph', results: hydrateRuns };

/** The API objects as PostgreSQL built them: plain JSON, no entities, nothing in the unit of work. */
export const API: ReadForm<ApiRun> = { columns: 'api', results: (_em, rows) => rows.map(apiRunOf) };

/**
 * The API object of a row of `API_RUN_COLUMNS` (sql/api-run.ts): `run`, with `file_ids` appended
 * as its last key (where `toApiRun` puts it) on a run that carries them.
 */
function apiRunOf(row: Row): ApiRun {
  const run = row.run as ApiRun;
  if (row.file_ids !== null) run.file_ids = row.file_ids as string[];
  return run;
}

/** The run, fresh from the database (one statement), or `null`. */
export async function findById<T extends { id: string }>(em: EntityManager, form: ReadForm<T>, id: string, from: ReadFrom = 'primary'): Promise<T | null> {
  const rows = await read(em, selectRunStatement(checkId(id, 'id'), form.columns), from);
  return rows.length === 0 ? null : (await form.results(em, rows))[0];
}

/** The run, fresh from the database (one statement), or `RunNotFoundError`. */
export async function getById<T extends { id: string }>(em: EntityManager, form: ReadForm<T>, id: string, from: ReadFrom = 'primary'): Promise<T> {
  const run = await findById(em, form, id, from);
  if (run === null) throw new RunNotFoundError(id);
  return run;
}

/**
 * The run's status changes in the order they committed (one statement): from, to, when (database
 * clock), who, the attempt, and the tool outputs a submit brought. `RunNotFoundError` when there is
 * no such run; `[]` for a run stored before the history's migration that has not moved since.
 */
export async function history(em: EntityManager, id: string, from: ReadFrom = 'primary'): Promise<RunHistoryEntry[]> {
  const rows = await read(em, historyStatement(checkId(id, 'id')), from);
  if (rows.length === 0) throw new RunNotFoundError(id);
  return rows
    .filter((row) => row.id !== null)
    .map((row) => ({
      from: row.from as RunStatus | null,
      to: row.to as RunStatus,
      at: row.at instanceof Date ? row.at : em.getPlatform().parseDate(row.at as string),
      actor: row.actor as RunHistoryActor,
      worker: row.worker as string | null,
      attempt: row.attempt as number,
      toolOutputs: row.toolOutputs as ApiStepToolCall[] | null,
    }));
}

/**
 * The run if it is on `threadId`; `RunNotFoundError` when there is no such run or it is on another
 * thread (the same error, so a run's id tells nothing across threads). The thread id only compares.
 */
export async function getForThread<T extends { id: string }>(em: EntityManager, form: ReadForm<T>, threadId: string, runId: string, from: ReadFrom = 'primary'): Promise<T> {
  checkId(threadId, 'thread_id');
  const run = await findById(em, form, runId, from);
  if (!run || threadOf(run) !== threadId) throw new RunNotFoundError(runId);
  return run;
}

const threadOf = (run: { id: string }): string => (run as RunObject).threadId ?? (run as ApiRun).thread_id;

/**
 * The thread's active run (queued, in_progress, requires_action or cancelling), fully loaded, or
 * `null`; one statement, on the primary (it decides: whether the thread is free).
 */
export async function findActiveForThread<T extends { id: string }>(em: EntityManager, form: ReadForm<T>, threadId: string): Promise<T | null> {
  const rows = await read(em, activeRunStatement(checkId(threadId, 'thread_id'), form.columns), 'primary');
  return rows.length === 0 ? null : (await form.results(em, rows))[0];
}

/** A page of the thread's runs, in the API's list shape. */
export async function listByThread<T extends { id: string }>(em: EntityManager, form: ReadForm<T>, threadId: string, query?: RunListQuery, from: ReadFrom = 'replica'): Promise<ApiRunList<T>> {
  return page(em, form, from, listSpec({ column: 'thread_id', value: checkId(threadId, 'thread_id', listQueryError) }, null, query));
}

/** A page of the assistant's runs, in the API's list shape. */
export async function listByAssistant<T extends { id: string }>(em: EntityManager, form: ReadForm<T>, assistantId: string, query?: RunListQuery, from: ReadFrom = 'replica'): Promise<ApiRunList<T>> {
  return page(em, form, from, listSpec({ column: 'assistant_id', value: checkId(assistantId, 'assistant_id', listQueryError) }, null, query));
}

/** A page of the runs in `status` (one or several), in the API's list shape. */
export async function listByStatus<T extends { id: string }>(em: EntityManager, form: ReadForm<T>, status: RunStatus | RunStatus[], query?: RunListQuery, from: ReadFrom = 'replica'): Promise<ApiRunList<T>> {
  return page(em, form, from, listSpec(null, checkStatuses(status), query));
}

const emptyPage = <T>(): ApiRunList<T> => ({ object: 'list', data: [], first_id: null, last_id: null, has_more: false });

async function page<T extends { id: string }>(em: EntityManager, form: ReadForm<T>, from: ReadFrom, spec: ListSpec): Promise<ApiRunList<T>> {
  if (spec.statuses?.length === 0) {
    // `listByStatus(a, { status: b })` with no status in common: nothing is listed, so no cursor can name a listed run.
    if (spec.after !== null) throw unknownCursor('after', spec.after);
    if (spec.before !== null) throw unknownCursor('before', spec.before);
    return emptyPage();
  }

  const rows = await read(em, pageStatement(spec, form.columns), from);

  if (rows.length === 0) {
    if (spec.after !== null || spec.before !== null) await assertCursorsListed(em, from, spec);
    return emptyPage();
  }

  // The extra row, if any, lies beyond the page in the direction it was fetched.
  const hasMore = rows.length > spec.limit;
  const data = await form.results(em, !hasMore ? rows : fetchesBackwards(spec) ? rows.slice(1) : rows.slice(0, spec.limit));
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

export const EXPORT_PAGE_SIZE = 500;

/**
 * Every run the filter matches, as API objects, oldest first (`created_at`, then id): keyset pages
 * of `pageSize` runs, ONE statement each, so memory stays flat however many runs there are. Each
 * page is read on its own (no transaction spans the pages). The filter is checked before the first
 * statement; a bad one is an `InvalidListQueryError`.
 */
export async function* exportRuns(em: EntityManager, filter?: RunExportFilter, pageSize = EXPORT_PAGE_SIZE, from: ReadFrom = 'replica'): AsyncGenerator<ApiRun> {
  const checked = exportFilter(filter);
  if (!Number.isInteger(pageSize) || pageSize < 1) throw new InvalidListQueryError('pageSize', `must be a positive integer, got ${excerpt(pageSize)}`);
  let cursor: ExportCursor | null = null;
  for (;;) {
    const rows: Row[] = await read(em, exportPageStatement(checked, cursor, pageSize), from);
    const runs = await API.results(em, rows);
    yield* runs;
    if (rows.length < pageSize) return;
    cursor = { createdAt: rows[rows.length - 1].cursor_at as string, id: runs[runs.length - 1].id };
  }
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
