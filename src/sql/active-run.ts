import { ACTIVE_STATUSES } from '../api/types';
import { statusList, type Statement } from './statement';

/** The id of the thread's active run (the one its thread lock holds): one row, or none. */
export function activeRunIdStatement(threadId: string): Statement {
  return { sql: `select "id" from "run_object" where "thread_id" = ? and "status" in (${statusList(ACTIVE_STATUSES)})`, params: [threadId] };
}
