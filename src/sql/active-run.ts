/** The thread's active run: the one run its thread lock holds (so at most one row). */
import { ACTIVE_STATUSES } from '../api/types';
import { RUN_COLUMNS, type RunForm } from './run-graph';
import { statusList, type Statement } from './statement';
import { TABLE } from './tables';

const ACTIVE = `r."thread_id" = ? and r."status" in (${statusList(ACTIVE_STATUSES)})`;

/** The active run of the thread with all its parts, in `form` (`RUN_COLUMNS`): one row, or none. */
export function activeRunStatement(threadId: string, form: RunForm): Statement {
  return { sql: `select ${RUN_COLUMNS[form]} from ${TABLE.run_object} r where ${ACTIVE}`, params: [threadId] };
}

/** Only its id (for the `ThreadHasActiveRunError` of a refused create). */
export function activeRunIdStatement(threadId: string): Statement {
  return { sql: `select r."id" from ${TABLE.run_object} r where ${ACTIVE}`, params: [threadId] };
}
