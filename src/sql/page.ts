/**
 * The SQL of a keyset page: which run ids make up the page (plus one, for `has_more`), chosen by
 * comparing `(created_at, id)` with the cursor's row in SQL — the cursor's timestamp never makes
 * a round trip through a JS `Date`, so runs of one millisecond (or one second) page correctly.
 *
 * Index use (see the plan tests): a thread's page walks `run_object_thread_created_idx`, an
 * assistant's `run_object_assistant_created_idx`, and a status page
 * `run_object_status_created_idx`, each as a bounded backward or forward index scan with the
 * row comparison as an index condition. A btree cannot give one order across several values of
 * its leading column, so a page over several statuses is the merge of one bounded scan per
 * status (`UNION ALL` of per-status `LIMIT n+1` scans, then the best n+1 of those). The same
 * split serves an assistant's runs filtered by status (on
 * `run_object_assistant_status_created_idx`). A thread's runs filtered by status are read from
 * the thread's index and filtered: a thread runs one run at a time, so it holds few runs.
 */
import type { ExportFilter, ListSpec } from '../api/list-query';
import { filterConds } from './aggregates';
import { RUN_COLUMNS, type RunForm } from './run-graph';
import { Params, type Statement } from './statement';
import { TABLE } from './tables';

/** The conditions that make the row aliased `alias` a member of the list (scope and status). */
function membership(spec: ListSpec, alias: string, p: Params, statuses: ListSpec['statuses']): string[] {
  const conds: string[] = [];
  if (spec.scope) conds.push(`${alias}."${spec.scope.column}" = ${p.add(spec.scope.value)}`);
  if (statuses?.length === 1) conds.push(`${alias}."status" = ${p.add(statuses[0])}`);
  else if (statuses) conds.push(`${alias}."status" in (${p.list(statuses)})`);
  return conds;
}

/**
 * The cursor's `(created_at, id)`, or a row of nulls when no run of the list has that id (then
 * every comparison with it is null, the page is empty, and `cursorCheckStatement` says why).
 */
function cursorRow(spec: ListSpec, id: string, p: Params): string {
  const conds = [`c."id" = ${p.add(id)}`, ...membership(spec, 'c', p, spec.statuses)];
  return `(select c."created_at", c."id" from ${TABLE.run_object} c where ${conds.join(' and ')})`;
}

/** Whether the page is fetched backwards (only `before`: the runs just before it, nearest first). */
export function fetchesBackwards(spec: ListSpec): boolean {
  return spec.before !== null && spec.after === null;
}

/** One bounded index scan: the list's members (in `statuses`) past the cursors, in fetch order. */
function branch(spec: ListSpec, statuses: ListSpec['statuses'], columns: string, p: Params): string {
  const fetchDesc = (spec.order === 'desc') !== fetchesBackwards(spec);
  const dir = fetchDesc ? 'desc' : 'asc';
  // In the list's order, `after` means further along and `before` means further back.
  const along = spec.order === 'desc' ? '<' : '>';
  const back = spec.order === 'desc' ? '>' : '<';
  const conds = membership(spec, 'r', p, statuses);
  if (spec.after !== null) conds.push(`(r."created_at", r."id") ${along} ${cursorRow(spec, spec.after, p)}`);
  if (spec.before !== null) conds.push(`(r."created_at", r."id") ${back} ${cursorRow(spec, spec.before, p)}`);
  return (
    `select ${columns} from ${TABLE.run_object} r where ${conds.join(' and ')} ` +
    `order by r."created_at" ${dir}, r."id" ${dir} limit ${spec.limit + 1}`
  );
}

/**
 * Whether a page over `spec.statuses` is the merge of one scan per status (no scope, or an
 * assistant's runs) rather than one scan filtered by status (a thread's runs).
 */
export function splitsByStatus(spec: ListSpec): boolean {
  return spec.statuses !== null && spec.statuses.length > 1 && spec.scope?.column !== 'thread_id';
}

/**
 * The ids of the page's runs plus at most one more (which says `has_more`), as a subquery
 * selecting one column `id`. Unordered as a set: the caller orders the loaded runs.
 */
function pageIds(spec: ListSpec): Statement {
  const p = new Params();
  if (!splitsByStatus(spec)) return { sql: branch(spec, spec.statuses, 'r."id"', p), params: p.values };
  const fetchDesc = (spec.order === 'desc') !== fetchesBackwards(spec);
  const dir = fetchDesc ? 'desc' : 'asc';
  const branches = spec.statuses!.map((s) => `(${branch(spec, [s], 'r."id", r."created_at"', p)})`);
  return {
    sql:
      `select m."id" from (${branches.join(' union all ')}) m ` +
      `order by m."created_at" ${dir}, m."id" ${dir} limit ${spec.limit + 1}`,
    params: p.values,
  };
}

/**
 * The page's runs with all their parts, in `form` (`RUN_COLUMNS`), plus at most one more (which
 * says `has_more`), in the list's order; the caller drops the extra row. ONE statement whatever
 * the page size, and the same statement in both forms but for its select list.
 * `id = any(array(…))`, not `id in (…)`: the array is computed first (an init plan) and the runs
 * are then fetched by primary key (plans.test.ts shows the difference at 100k runs).
 */
export function pageStatement(spec: ListSpec, form: RunForm): Statement {
  const ids = pageIds(spec);
  return {
    sql: `select ${RUN_COLUMNS[form]} from ${TABLE.run_object} r where r."id" = any(array(${ids.sql})) order by r."created_at" ${spec.order}, r."id" ${spec.order}`,
    params: ids.params,
  };
}

/** Where an export page continues: the last run's `created_at` (PostgreSQL's text of it, never a JS `Date`) and id. */
export interface ExportCursor {
  createdAt: string;
  id: string;
}

/**
 * One page of an export, in the API form: the filter's runs after `cursor` (from the first when
 * `null`), oldest first (`created_at`, then id), at most `limit`; each row also carries `cursor_at`,
 * its `created_at` as text, for the next page's cursor. The cursor is the values, not the run: a
 * run deleted or replaced between two pages does not end the export.
 */
export function exportPageStatement(filter: ExportFilter, cursor: ExportCursor | null, limit: number): Statement {
  const params: unknown[] = [];
  const conds = filterConds(filter, params);
  if (filter.statuses !== null) {
    conds.push(`r."status" in (${filter.statuses.map(() => '?').join(', ')})`);
    params.push(...filter.statuses);
  }
  if (cursor !== null) {
    conds.push('(r."created_at", r."id") > (?::timestamptz, ?)');
    params.push(cursor.createdAt, cursor.id);
  }
  params.push(limit);
  return {
    sql:
      `select ${RUN_COLUMNS.api}, r."created_at"::text as "cursor_at" from ${TABLE.run_object} r` +
      `${conds.length ? ` where ${conds.join(' and ')}` : ''} order by r."created_at", r."id" limit ?`,
    params,
  };
}

/** One row: `after_ok`, `before_ok` — whether each given cursor names a run of the list. */
export function cursorCheckStatement(spec: ListSpec): Statement {
  const p = new Params();
  const found = (id: string | null) =>
    id === null ? 'true' : `exists (select 1 from ${TABLE.run_object} c where ${[`c."id" = ${p.add(id)}`, ...membership(spec, 'c', p, spec.statuses)].join(' and ')})`;
  const afterOk = found(spec.after);
  const beforeOk = found(spec.before);
  return { sql: `select ${afterOk} as after_ok, ${beforeOk} as before_ok`, params: p.values };
}
