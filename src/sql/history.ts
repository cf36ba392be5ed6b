/**
 * A run's history (pure builders, no I/O). The rows are written by the migrations' trigger
 * `run_object_record_status` (every status change, by the statement that makes it) and by
 * `submitToolOutputs`' statement (the tool outputs, `run_tool_output`); this file builds how the
 * store's statements say who they are, and the read of a run's history.
 */
import { Params, type Statement } from './statement';
import { TABLE } from './tables';

/** Who made a status change: the store's statements declare `worker`, `expiry` or `recovery`; an import is `import`; the rest is `caller`. */
export type DeclaredActor = 'worker' | 'expiry' | 'recovery';

/**
 * The transaction-local setting by which a statement tells the history trigger who it is: the
 * statement sets it to `<actor>@<its statement_timestamp()>`, which no other statement shares
 * (a later statement of the caller's transaction is recorded as `caller`).
 */
export const ACTOR_SETTING = 'assistants_run_store.actor';

/**
 * The CTE `actor` that declares `actor` for this statement. The update that changes the status must
 * read it (`from …, actor`), so it is evaluated; the trigger fires after the statement, so it sees it.
 */
export function actorCte(actor: DeclaredActor): string {
  return `actor as materialized (select set_config('${ACTOR_SETTING}', '${actor}@' || statement_timestamp()::text, true) as declared)`;
}

/** The API's `step_details.tool_calls[]` object of a stored tool output row (alias `o`), as `json`. */
export const STEP_TOOL_CALL_JSON =
  `json_build_object('id', o."call_id", 'type', 'function', 'function', ` +
  `json_build_object('name', o."function_name", 'arguments', o."function_arguments", 'output', o."output"))`;

/**
 * `history(id)`: the run's status changes in the order they committed, each with the tool outputs it
 * brought (a `requires_action` → `queued` change: the outputs submitted, in the tool calls' order;
 * else null). No row when the run does not exist; one row with `id` null when it has no history
 * (stored before the history's migration).
 */
export function historyStatement(runId: string): Statement {
  const p = new Params();
  const sql =
    `select h."id", h."from_status" as "from", h."to_status" as "to", h."changed_at" as "at", h."actor", h."worker", h."attempt", ` +
    `(select json_agg(${STEP_TOOL_CALL_JSON} order by o."position") from ${TABLE.run_tool_output} o ` +
    `where o."run_id" = h."run_id" and o."required_action_id" = h."required_action_id" ` +
    // a required action left twice (hand-written SQL): its outputs go with the last change out of it
    `and not exists (select 1 from ${TABLE.run_status_change} l where l."run_id" = h."run_id" and l."required_action_id" = h."required_action_id" and l."id" > h."id")) as "toolOutputs" ` +
    `from ${TABLE.run_object} r left join ${TABLE.run_status_change} h on h."run_id" = r."id" where r."id" = ${p.add(runId)} order by h."id"`;
  return { sql, params: p.values };
}
