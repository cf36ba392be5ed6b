import { PART_ID_COLUMNS, RUN_GRAPH_COLUMNS, staleColumn } from './run-graph';
import type { Statement } from './statement';
import { BARE } from './tables';

/**
 * `updateMetadata`: replaces `metadata` in any status (as `json` text: the keys keep their order),
 * on the run's row once locked. Result: the run's new graph (as `transitionStatement`'s) or no row.
 */
export function metadataStatement(runId: string, metadata: Record<string, string> | null): Statement {
  return {
    sql:
      `with cur as materialized (select id, ctid from ${BARE.run_object} where id = ? for update)` +
      `, upd as (update ${BARE.run_object} r set metadata = ?::json from cur where r.id = cur.id returning r.*)` +
      ` select ${RUN_GRAPH_COLUMNS}, ${PART_ID_COLUMNS}, ${staleColumn('cur')} from upd r join cur on cur.id = r.id`,
    params: [runId, metadata === null ? null : JSON.stringify(metadata)],
  };
}
