import type { TestDatabase } from './test-database';

/** Every table the package owns. */
export const RUN_STORE_TABLES = [
  'run_object',
  'run_required_action',
  'run_tool_call',
  'run_last_error',
  'run_incomplete_details',
  'run_usage',
  'run_truncation_strategy',
  'run_tool_choice',
  'run_response_format',
  'run_tool',
  'run_file_id',
] as const;

/** The row count of every table, in one query. */
export async function countAllRows(db: TestDatabase): Promise<Record<(typeof RUN_STORE_TABLES)[number], number>> {
  const [row] = await db.sql(`select ${RUN_STORE_TABLES.map((t) => `(select count(*)::int from ${t}) as ${t}`).join(', ')}`);
  return row as Record<(typeof RUN_STORE_TABLES)[number], number>;
}

/** Per table: its row count and an md5 of all its rows' text, in one query (equal before and after ⇔ nothing written, in practice). */
export async function tableChecksums(db: TestDatabase): Promise<Record<string, string>> {
  const rows = await db.sql<{ t: string; n: number; sum: string }>(
    RUN_STORE_TABLES.map((t) => `select '${t}' as t, count(*)::int as n, md5(coalesce(string_agg(x::text, ',' order by x::text), '')) as sum from ${t} x`).join(' union all '),
  );
  return Object.fromEntries(rows.map((r) => [r.t, `${r.n}:${r.sum}`]));
}
