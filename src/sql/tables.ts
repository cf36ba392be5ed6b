/**
 * The store's tables, as the builders name them. A builder never writes a table's name itself: it
 * writes `TABLE.run_object` (the quoted name) or `BARE.run_object` (unquoted), which carry a mark
 * before the name; `inSchema` (called by the executor, the one place that sends statements) puts
 * the schema the service configured there — `"app"."run_object"` — or nothing, which gives the
 * unqualified text of a store without a schema, byte for byte. Builders stay pure (they need no
 * configuration) and a prepared statement (`prepareRunImport`) serves every schema.
 * `test/citizen/schema.test.ts` prepares every statement of test/sql/cases.ts in a schema with a
 * search path that hides the store's tables: a table named without `TABLE`/`BARE` fails there.
 */
import type { Statement } from './statement';

/** Every table of the store (the entities' `tableName`s; a test compares them with MikroORM's metadata). */
export const STORE_TABLES = [
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
  'run_tool_output',
  'run_status_change',
] as const;
export type StoreTable = (typeof STORE_TABLES)[number];

/** Where a table reference's schema goes (a character no statement text contains otherwise). */
const MARK = '\u001d';

const refs = (quote: string): Readonly<Record<StoreTable, string>> =>
  Object.freeze(Object.fromEntries(STORE_TABLES.map((name) => [name, `${MARK}${quote}${name}${quote}`])) as Record<StoreTable, string>);

/** `"run_object"`, … with the schema's mark: what a builder writes for a table. */
export const TABLE = refs('"');
/** `run_object`, … unquoted (as some builders always wrote them), with the schema's mark. */
export const BARE = refs('');

/** The migrations' functions that statements call (`FUNCTION.x(…)`): in the schema too. */
export const STORE_FUNCTIONS = ['run_object_tool_outputs'] as const;
export const FUNCTION = Object.freeze(Object.fromEntries(STORE_FUNCTIONS.map((name) => [name, `${MARK}"${name}"`]))) as Readonly<Record<(typeof STORE_FUNCTIONS)[number], string>>;

/** A statement that fails with 42P01 (the store's `not_migrated`) when the run table is missing; no rows. */
export function storeTablesStatement(): Statement {
  return { sql: `select 1 from ${TABLE.run_object} limit 0`, params: [] };
}

/**
 * The statement text `sql` with its tables in `schema` (a quoted identifier, `quotedSchema`), or
 * unqualified when `schema` is `null`.
 */
export function inSchema(sql: string, schema: string | null): string {
  return sql.replaceAll(MARK, schema === null ? '' : `${schema}.`);
}
