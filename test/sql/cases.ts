/**
 * Every statement the store sends, built for representative inputs: the SQL snapshots
 * (statements.test.ts) and the schema test (test/citizen/schema.test.ts, which prepares each one
 * with the store's tables in another schema) share this list. A new builder joins it.
 */
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
import { storeTablesStatement } from '../../src/sql/tables';
import { listenStatement, runStatusStatement } from '../../src/sql/wakeups';
import { QUEUED_CHANNEL, STATUS_CHANNEL } from '../../src/entities/schema-names';
import { apiRunWithEveryPart } from '../factories';


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
export const CASES: Record<string, () => Statement> = {
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
  'store-tables': () => storeTablesStatement(),
  'wakeups-listen': () => listenStatement([QUEUED_CHANNEL, STATUS_CHANNEL]),
  'wakeups-run-status': () => runStatusStatement('run_1'),
};

