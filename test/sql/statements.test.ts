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
import { listSpec, aggregateFilter, exportFilter } from '../../src/api/list-query';
import type { ApiRunInput } from '../../src/api/types';
import { countByStatusStatement, usageTotalsStatement } from '../../src/sql/aggregates';
import { activeRunIdStatement, activeRunStatement } from '../../src/sql/active-run';
import { claimStatement } from '../../src/sql/claim';
import { expireStatement } from '../../src/sql/expire';
import { heartbeatStatement } from '../../src/sql/lease';
import { historyStatement } from '../../src/sql/history';
import { recoverStatement } from '../../src/sql/recover';
import { appendApiRunRows, emptyRows, insertRowsStatement, type GraphWrite } from '../../src/sql/insert-graph';
import { metadataStatement } from '../../src/sql/metadata';
import { cursorCheckStatement, exportPageStatement, pageStatement } from '../../src/sql/page';
import { cutoffStatement, purgeBatchStatement, purgeCountStatement } from '../../src/sql/purge';
import { selectRunStatement } from '../../src/sql/run-graph';
import type { Statement } from '../../src/sql/statement';
import { transitionStatement } from '../../src/sql/transition';
import { listenStatement, runStatusStatement } from '../../src/sql/wakeups';
import { QUEUED_CHANNEL, STATUS_CHANNEL } from '../../src/entities/schema-names';
import { apiRunWithEveryPart } from '../factories';

const DIR = path.join(__dirname, 'snapshots');
const UPDATE = process.env.ARS_UPDATE_SQL_SNAPSHOTS === '1';
const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;

const ID_A = '00000000-0000-4000-8000-00000000000a';
const ID_B = '00000000-0000-4000-8000-00000000000b';
const ID_C = '00000000-0000-4000-8000-00000000000c';
const usage = { id: ID_C, promptTokens: 10, completionTokens: 20, totalTokens: 30 };

/** A fully fixed run object (no random ids), with every part. */
function everyPart(): ApiRunInput {
  return apiRunWithEveryPart({ id: 'run_snapshot', thread_id: 'thread_snapshot', assistant_id: 'asst_snapshot' });
}

function insertOfEveryPart(write: GraphWrite): Statement {
  const rows = emptyRows();
  appendApiRunRows(rows, everyPart());
  return insertRowsStatement(rows, write);
}

const thread = (query: Parameters<typeof listSpec>[2] = {}) => listSpec({ column: 'thread_id', value: 'thread_1' }, null, query);
const assistant = (query: Parameters<typeof listSpec>[2] = {}) => listSpec({ column: 'assistant_id', value: 'asst_1' }, null, query);

/** Each snapshot file's name and the statement it holds. */
const CASES: Record<string, () => Statement> = {
  'select-run': () => selectRunStatement('run_1', 'graph'),
  'select-run-api': () => selectRunStatement('run_1', 'api'),
  'active-run': () => activeRunStatement('thread_1', 'graph'),
  'active-run-api': () => activeRunStatement('thread_1', 'api'),
  'transition-start': () => transitionStatement('start', 'run_1'),
  'transition-require-action': () =>
    transitionStatement('requireAction', 'run_1', {
      requiredAction: { id: ID_A, calls: [{ rowId: ID_B, id: 'call_1', name: 'get_weather', arguments: '{"city":"Paris"}' }] },
    }),
  'transition-submit-tool-outputs': () => transitionStatement('submitToolOutputs', 'run_1', {}, [{ tool_call_id: 'call_1', output: '18' }, { tool_call_id: 'call_2', output: 'clear' }]),
  'transition-complete': () => transitionStatement('complete', 'run_1'),
  'transition-complete-usage': () => transitionStatement('complete', 'run_1', { usage }),
  'transition-fail': () => transitionStatement('fail', 'run_1', { lastError: { id: ID_A, code: 'server_error', message: 'boom' }, usage }),
  'transition-mark-incomplete': () => transitionStatement('markIncomplete', 'run_1', { incompleteDetails: { id: ID_A, reason: 'max_prompt_tokens' } }),
  'transition-cancel': () => transitionStatement('cancel', 'run_1'),
  'transition-confirm-cancelled': () => transitionStatement('confirmCancelled', 'run_1'),
  'claim': () => claimStatement(),
  'claim-filtered': () => claimStatement({ assistantId: 'asst_1', model: 'gpt-4o' }),
  'claim-lease': () => claimStatement({ assistantId: 'asst_1' }, { worker: 'w1', leaseSeconds: 30 }),
  'transition-complete-lease': () => transitionStatement('complete', 'run_1', { usage }, undefined, { worker: 'w1', attempt: 2 }),
  'recover': () => recoverStatement(3, 500),
  'history': () => historyStatement('run_1'),
  'heartbeat': () => heartbeatStatement('run_1', { worker: 'w1', attempt: 2, leaseSeconds: 30 }),
  'expire': () => expireStatement(),
  'expire-at': () => expireStatement(new Date('2026-01-01T00:00:00.000Z')),
  'update-metadata': () => metadataStatement('run_1', { project: 'x' }),
  'page-thread-first': () => pageStatement(thread(), 'graph'),
  'page-thread-after': () => pageStatement(thread({ after: 'run_9', limit: 5 }), 'graph'),
  'page-thread-before-asc': () => pageStatement(thread({ before: 'run_9', order: 'asc' }), 'graph'),
  'page-thread-between': () => pageStatement(thread({ after: 'run_1', before: 'run_9' }), 'graph'),
  'page-thread-statuses': () => pageStatement(thread({ status: ['completed', 'failed'] }), 'graph'),
  'page-assistant-statuses-after': () => pageStatement(assistant({ status: ['completed', 'failed'], after: 'run_9' }), 'graph'),
  'page-status-one': () => pageStatement(listSpec(null, ['queued'], {}), 'graph'),
  'page-status-many-before': () => pageStatement(listSpec(null, ['queued', 'in_progress'], { before: 'run_9' }), 'graph'),
  'page-thread-after-api': () => pageStatement(thread({ after: 'run_9', limit: 5 }), 'api'),
  'page-assistant-statuses-after-api': () => pageStatement(assistant({ status: ['completed', 'failed'], after: 'run_9' }), 'api'),
  'export-page-first': () => exportPageStatement(exportFilter({}), null, 500),
  'export-page-filtered-after': () =>
    exportPageStatement(
      exportFilter({ thread_id: 'thread_1', assistant_id: 'asst_1', status: ['completed', 'failed'], created_after: 1_716_000_000, created_before: 1_716_000_600 }),
      { createdAt: '2024-05-18 02:40:00.123+00', id: 'run_9' },
      500,
    ),
  'cursor-check': () => cursorCheckStatement(thread({ after: 'run_1', before: 'run_9' })),
  'count-by-status': () => countByStatusStatement(aggregateFilter({})),
  'count-by-status-filtered': () => countByStatusStatement(aggregateFilter({ thread_id: 'thread_1', assistant_id: 'asst_1', created_after: 1_716_000_000, created_before: 1_716_000_600 })),
  'usage-totals': () => usageTotalsStatement(aggregateFilter({ assistant_id: 'asst_1' })),
  'insert-graph-every-part': () => insertOfEveryPart({ replace: true }),
  'insert-graph-create': () => insertOfEveryPart({ stampTtlSeconds: 600 }),
  'active-run-id': () => activeRunIdStatement('thread_1'),
  'purge-batch': () => purgeBatchStatement({ statuses: ['completed', 'failed'], before: '2024-01-01 00:00:00+00' }, 1000),
  'purge-count': () => purgeCountStatement({ statuses: ['completed'], before: '2024-01-01 00:00:00+00' }),
  'purge-cutoff': () => cutoffStatement(86_400),
  'wakeups-listen': () => listenStatement([QUEUED_CHANNEL, STATUS_CHANNEL]),
  'wakeups-run-status': () => runStatusStatement('run_1'),
};

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
  return `${layout(statement.sql)}\n${params.join('\n')}\n`;
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
