import { STORE_TABLES } from '../../src/sql/tables';
import type { TestDatabase } from './test-database';

/** Every table the package owns (the builders' list, which a test compares with the entities' metadata). */
export const RUN_STORE_TABLES = STORE_TABLES;

/** The row count of every table, in one query. */
export async function countAllRows(db: TestDatabase): Promise<Record<(typeof RUN_STORE_TABLES)[number], number>> {
  const [row] = await db.sql(`select ${RUN_STORE_TABLES.map((t) => `(select count(*)::int from ${t}) as ${t}`).join(', ')}`);
  return row as Record<(typeof RUN_STORE_TABLES)[number], number>;
}

/** Each to-one part table and the column of `run_object` that points at it. */
export const TO_ONE_PARTS: readonly (readonly [string, string])[] = [
  ['run_required_action', 'required_action_id'],
  ['run_last_error', 'last_error_id'],
  ['run_incomplete_details', 'incomplete_details_id'],
  ['run_usage', 'usage_id'],
  ['run_truncation_strategy', 'truncation_strategy_id'],
  ['run_tool_choice', 'tool_choice_id'],
  ['run_response_format', 'response_format_id'],
];

/**
 * Orphan and dangling rows of the whole database, by SQL: every to-one part row referenced by
 * exactly one run, every part a run references present, every tool call's action, tool and file id's
 * run present, and no required action without tool calls. Only non-zero counts are returned.
 */
export async function orphanCounts(db: Pick<TestDatabase, 'sql'>): Promise<Record<string, number>> {
  const checks: [string, string][] = [];
  for (const [table, column] of TO_ONE_PARTS) {
    checks.push([`${table} rows not referenced by exactly one run`, `select count(*) from ${table} p where (select count(*) from run_object r where r.${column} = p.id) <> 1`]);
    checks.push([`runs whose ${column} names no ${table} row`, `select count(*) from run_object r where r.${column} is not null and not exists (select 1 from ${table} p where p.id = r.${column})`]);
  }
  checks.push(['run_tool_call rows of no required action', 'select count(*) from run_tool_call c where not exists (select 1 from run_required_action a where a.id = c.required_action_id)']);
  checks.push(['run_required_action rows without tool calls', 'select count(*) from run_required_action a where not exists (select 1 from run_tool_call c where c.required_action_id = a.id)']);
  checks.push(['run_tool rows of no run', 'select count(*) from run_tool t where not exists (select 1 from run_object r where r.id = t.run_id)']);
  checks.push(['run_file_id rows of no run', 'select count(*) from run_file_id f where not exists (select 1 from run_object r where r.id = f.run_id)']);
  checks.push([`runs in requires_action without a required action`, `select count(*) from run_object where status = 'requires_action' and required_action_id is null`]);
  const [row] = await db.sql<Record<string, string>>(`select ${checks.map(([, q], i) => `(${q}) as c${i}`).join(', ')}`);
  const found: Record<string, number> = {};
  checks.forEach(([name], i) => {
    const n = Number(row[`c${i}`]);
    if (n !== 0) found[name] = n;
  });
  return found;
}

/** Per table: its row count and an md5 of all its rows' text, in one query (equal before and after ⇔ nothing written, in practice). */
export async function tableChecksums(db: TestDatabase): Promise<Record<string, string>> {
  const rows = await db.sql<{ t: string; n: number; sum: string }>(
    RUN_STORE_TABLES.map((t) => `select '${t}' as t, count(*)::int as n, md5(coalesce(string_agg(x::text, ',' order by x::text), '')) as sum from ${t} x`).join(' union all '),
  );
  return Object.fromEntries(rows.map((r) => [r.t, `${r.n}:${r.sum}`]));
}
