import { PART_ID_COLUMNS, RUN_GRAPH_COLUMNS } from './run-graph';
import type { Statement } from './statement';

/** `updateMetadata`: replaces `metadata` in any status (as `json` text: the keys keep their order). Result: the run's new graph (as `transitionStatement`'s) or no row. */
export function metadataStatement(runId: string, metadata: Record<string, string> | null): Statement {
  return {
    sql: `with upd as (update run_object set metadata = ?::json where id = ? returning *) select ${RUN_GRAPH_COLUMNS}, ${PART_ID_COLUMNS} from upd r`,
    params: [metadata === null ? null : JSON.stringify(metadata), runId],
  };
}
