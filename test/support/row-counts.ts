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
