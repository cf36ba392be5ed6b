import type { RunStatus } from '../api/types';
import { TRANSITIONS } from '../lifecycle/transitions';
import { PART_ID_COLUMNS, RUN_GRAPH_COLUMNS, staleColumn } from './run-graph';
import { actorCte } from './history';
import { LEASE_EXPIRY } from './lease';
import { statusList, type Statement } from './statement';
import { setClauses } from './transition';
import { BARE, FUNCTION } from './tables';

/**
 * `claimNext`: the oldest free `queued` run (not past `expires_at`), locked with `skip locked` so
 * concurrent claimers never wait for or take the same run, then moved to `in_progress` by an update
 * that re-checks `status = 'queued'` itself (the update is the compare-and-set; the sub-select only
 * picks a candidate). Each claim increments `attempt`; with `lease` it records the worker and the
 * lease's expiry (database clock), without one it clears them. The claim declares itself a worker's
 * to the history trigger (`actorCte`). Result: the claimed run's graph (as `transitionStatement`'s)
 * with `toolOutputs`, the tool outputs the run's work is waiting on (those submitted in the attempt in
 * which it last entered `requires_action`: `run_object_tool_outputs`, Migration20261201124000,
 * which reads them with a snapshot taken after the run was locked), or no row.
 */
export function claimStatement(filters: { assistantId?: string; model?: string } = {}, lease?: { worker: string; leaseSeconds: number }): Statement {
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
  // Every claim is the next attempt (the fencing token); with a lease it names its worker and lasts leaseSeconds.
  set.sql.push('attempt = r.attempt + 1');
  if (lease) {
    set.sql.push('lease_owner = ?', `lease_expires_at = ${LEASE_EXPIRY}`);
    set.params.push(lease.worker, lease.leaseSeconds);
  } else {
    set.sql.push('lease_owner = null', 'lease_expires_at = null');
  }
  const sql =
    `with picked as materialized (select id, ctid from ${BARE.run_object} where ${where} order by created_at, id limit 1 for update skip locked)` +
    `, ${actorCte('worker')}` +
    `, upd as (update ${BARE.run_object} r set ${set.sql.join(', ')} from picked, actor where r.id = picked.id and r.status in (${statusList(Object.keys(TRANSITIONS.claim.moves) as RunStatus[])}) returning r.*)` +
    ` select ${RUN_GRAPH_COLUMNS}, ${PART_ID_COLUMNS}, ${staleColumn('picked')}, ${FUNCTION.run_object_tool_outputs}(r.id) as "toolOutputs" from upd r join picked on picked.id = r.id`;
  return { sql, params: [...params, ...set.params] };
}
