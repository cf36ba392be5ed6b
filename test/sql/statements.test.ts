/**
 * Every statement the store sends, rendered for representative inputs and compared with the
 * committed `.sql` files in `test/sql/snapshots/`, so a change to a statement shows up in review
 * as a SQL diff. After changing a builder on purpose:
 *
 *   ARS_UPDATE_SQL_SNAPSHOTS=1 npx jest test/sql/statements.test.ts
 *
 * and commit the changed files. A missing or different file fails the test otherwise (CI included).
 * No database: the builders are pure.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Statement } from '../../src/sql/statement';
import { inSchema } from '../../src/sql/tables';
import { CASES } from './cases';

const DIR = path.join(__dirname, 'snapshots');
const UPDATE = process.env.ARS_UPDATE_SQL_SNAPSHOTS === '1';
const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;

/** Line breaks before the clauses a reader looks for, so a diff points at the clause that changed. */
function layout(sql: string): string {
  return sql
    .replace(/ (?=(with|select|from|where|order by|group by|limit|returning|union all|left join) )/g, '\n')
    .replace(/(?<!left) (?=join )/g, '\n')
    .replace(/, (?=[a-z_]+ as (materialized )?\()/g, ',\n')
    .split('\n')
    .map((line) => line.trimEnd())
    .join('\n');
}

/** The snapshot text: the statement laid out, then its parameters (generated UUIDs normalised). */
function render(statement: Statement): string {
  const params = statement.params.map((p, i) => `-- $${i + 1}: ${JSON.stringify(p)?.replace(UUID, '<uuid>')}`);
  // the text a store without a schema sends (the executor puts the schema in: test/citizen/schema.test.ts)
  return `${layout(inSchema(statement.sql, null))}\n${params.join('\n')}\n`;
}

test.each(Object.keys(CASES))('%s matches its committed SQL', (name) => {
  const file = path.join(DIR, `${name}.sql`);
  const text = render(CASES[name]());
  expect(text).not.toMatch(/\$\{|undefined|\[object Object\]/);
  if (UPDATE) {
    mkdirSync(DIR, { recursive: true });
    writeFileSync(file, text);
    return;
  }
  expect(existsSync(file)).toBe(true);
  expect(text).toBe(readFileSync(file, 'utf8'));
});

test('every committed snapshot belongs to a case (none left behind by a removed statement)', () => {
  const files = existsSync(DIR) ? readdirSync(DIR).filter((f) => f.endsWith('.sql')) : [];
  expect(files.map((f) => f.replace(/\.sql$/, '')).sort()).toEqual(Object.keys(CASES).sort());
});

test('no statement splices a caller value into its text: each value given above is a parameter', () => {
  const values = ['run_1', 'run_9', 'thread_1', 'asst_1', 'call_1', 'gpt-4o', 'get_weather', 'boom', 'thread_snapshot', 'run_snapshot'];
  for (const [name, build] of Object.entries(CASES)) {
    const { sql } = build();
    for (const v of values) expect({ name, spliced: sql.includes(v) ? v : null }).toEqual({ name, spliced: null });
  }
});
