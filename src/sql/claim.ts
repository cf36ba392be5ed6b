import type { RunStatus } from '../api/types';
import { TRANSITIONS } from '../lifecycle/transitions';
import { PART_ID_COLUMNS, RUN_GRAPH_COLUMNS, staleColumn } from './run-graph';
import { statusList, type Statement } from './statement';
import { setClauses } from './transition';

/**
 * `claimNext`: the oldest free `queued` run (not past `expires_at`), locked with `skip locked` so
 * concurrent claimers never wait for or take the same run, then moved to `in_progress` by an update
 * that re-checks `status = 'queued'` itself (the update is the compare-and-set; the sub-select only
 * picks a candidate). Result: the claimed run's graph (as `transitionStatement`'s) or no row.
 */
export function claimStatement(filters: { assistantId?: string; model?: string } = {}): Statement {
  const params: unknown[] = [];
  let where = `status = 'queued' and (expires_at is null or expires_at > statement_timestamp())`;
  if (filters.assistantId !== undefined) {
    where += ' and assistant_id = ?';
    params.push(filters.assistantId);
  }
  if (filters.model !== undefined) {
    where += ' and model = ?';
    params.push(filters.model);
  }
  const set = setClauses('claim', `'queued'`);
  const sql =
    `with picked as materialized (select id, ctid from run_object where ${where} order by created_at, id limit 1 for update skip locked)` +
    `, upd as (update run_object r set ${set.sql.join(', ')} from picked where r.id = picked.id and r.status in (${statusList(Object.keys(TRANSITIONS.claim.moves) as RunStatus[])}) returning r.*)` +
    ` select ${RUN_GRAPH_COLUMNS}, ${PART_ID_COLUMNS}, ${staleColumn('picked')} from upd r join picked on picked.id = r.id`;
  return { sql, params };
}
