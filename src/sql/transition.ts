/**
 * A transition's statement, built from the transition table (lifecycle/transitions.ts). Pure: text
 * and parameters, no I/O. `claim.ts`, `expire.ts` and `metadata.ts` build the other moves.
 *
 * A transition is ONE statement, so the database decides every race:
 *
 *   with cur as materialized (select … from run_object where id = ? for update)   -- lock, read the fresh status
 *      , upd as (update run_object r set … from cur
 *                where r.id = cur.id and cur.status in (<allowed>) returning r.*)   -- compare-and-set
 *      , <insert the new sub-object rows> select … from upd returning *           -- only when it moved
 *   select cur.status, r.id is not null as moved, <the new run graph> from cur left join upd r on true
 *
 * `for update` in READ COMMITTED waits for a concurrent writer and then returns the newest row
 * version, so `cur.status` is the status the update is really judged against, and the caller
 * learns it in the same round trip (no second query to tell "not found" from "wrong status").
 * New sub-object rows are inserted by the same statement and only if the update matched; the
 * foreign keys are checked at the end of the statement, and the trigger of the migrations deletes
 * the replaced rows. The same statement returns the run's new graph (no reload: one round trip per
 * transition), built from the update's and the inserts' `returning`. Timestamps come from the database clock, `clock_timestamp()`, evaluated after
 * the row lock is taken, so a run's timestamps follow the order in which its transitions committed.
 */
import {
  HOLDS_REQUIRED_ACTION,
  ON_ENTRY,
  TIMESTAMP_COLUMNS,
  TRANSITIONS,
  type TimestampEffect,
  type TransitionName,
} from '../lifecycle/transitions';
import { PART_ID_COLUMNS, runGraphColumns, staleColumn, type PartSources } from './run-graph';
import type { LeaseToken, RunStatus } from '../api/types';
import { actorCte } from './history';
import { leaseHeld } from './lease';
import { Params, statusList, type Statement } from './statement';

/** The worker's transitions: the history records them as actor `worker` (with the run's lease owner). */
export const WORKER_TRANSITIONS: readonly TransitionName[] = ['requireAction', 'complete', 'fail', 'markIncomplete', 'confirmCancelled'];

/** One tool output given to `submitToolOutputs` (validated). */
export interface GivenToolOutput {
  tool_call_id: string;
  output: string;
}

/** An owned row to insert together with the transition (its id is generated in the process). */
export interface SubObjectRows {
  requiredAction?: { id: string; calls: { rowId: string; id: string; name: string; arguments: string }[] };
  lastError?: { id: string; code: string; message: string };
  incompleteDetails?: { id: string; reason: string | null };
  usage?: { id: string; promptTokens: number; completionTokens: number; totalTokens: number };
}

const effectSql = (column: string, effect: TimestampEffect): string =>
  effect === 'now' ? 'clock_timestamp()' : effect === 'null' ? 'null' : `r.${column}`;

/**
 * The `set` list of `name`'s update: the target status and every column that moves with it,
 * each a `case` over `fromAlias` (the row's status before the update) when the targets differ.
 */
export function setClauses(name: TransitionName, fromAlias: string, rows: SubObjectRows = {}): { sql: string[]; params: unknown[] } {
  return setClausesOf(Object.entries(TRANSITIONS[name].moves) as [RunStatus, RunStatus][], fromAlias, rows);
}

/**
 * The `set` list of an update that makes `moves` (from → to), as `setClauses`; `fromAlias` is the
 * expression the `case`s switch on (a statement that picks the target itself passes it as `from`).
 */
export function setClausesOf(moves: [string, RunStatus][], fromAlias: string, rows: SubObjectRows = {}): { sql: string[]; params: unknown[] } {
  const targets = [...new Set(moves.map(([, target]) => target))];
  const byTarget = (value: (target: RunStatus) => string, column: string): string | null => {
    const values = moves.map(([from, target]) => [from, value(target)] as const);
    const distinct = [...new Set(values.map(([, v]) => v))];
    if (distinct.length === 1) return distinct[0] === `r.${column}` ? null : distinct[0];
    return `case ${fromAlias} ${values.map(([from, v]) => `when '${from}' then ${v}`).join(' ')} else r.${column} end`;
  };
  const sql: string[] = [];
  sql.push(`status = ${targets.length === 1 ? `'${targets[0]}'` : byTarget((t) => `'${t}'`, 'status')}`);
  for (const column of TIMESTAMP_COLUMNS) {
    const value = byTarget((t) => effectSql(column, ON_ENTRY[t][column]), column);
    if (value !== null) sql.push(`${column} = ${value}`);
  }
  const params: unknown[] = [];
  if (rows.requiredAction) {
    sql.push('required_action_id = ?::uuid');
    params.push(rows.requiredAction.id);
  } else {
    const value = byTarget((t) => (t === HOLDS_REQUIRED_ACTION ? 'r.required_action_id' : 'null'), 'required_action_id');
    if (value !== null) sql.push(`required_action_id = ${value}`);
  }
  if (rows.lastError) {
    sql.push('last_error_id = ?::uuid');
    params.push(rows.lastError.id);
  }
  if (rows.incompleteDetails) {
    sql.push('incomplete_details_id = ?::uuid');
    params.push(rows.incompleteDetails.id);
  }
  if (rows.usage) {
    sql.push('usage_id = ?::uuid');
    params.push(rows.usage.id);
  }
  return { sql, params };
}

/** The parts the statement inserts, read back from their insert CTEs' `returning *` (see `runGraphColumns`). */
function insertedSources(rows: SubObjectRows): PartSources {
  return {
    ...(rows.requiredAction ? { requiredAction: ['ins_action', 'ins_calls'] as const } : {}),
    ...(rows.lastError ? { lastError: 'ins_error' } : {}),
    ...(rows.incompleteDetails ? { incompleteDetails: 'ins_details' } : {}),
    ...(rows.usage ? { usage: 'ins_usage' } : {}),
  };
}

/** The inserts of the new owned rows, as CTEs that select from `upd` (so nothing is written unless the run moved). */
function subObjectInserts(rows: SubObjectRows): Statement {
  const ctes: string[] = [];
  const params: unknown[] = [];
  if (rows.requiredAction) {
    ctes.push(`ins_action as (insert into run_required_action (id, type) select ?::uuid, 'submit_tool_outputs' from upd returning *)`);
    params.push(rows.requiredAction.id);
    ctes.push(
      `ins_calls as (insert into run_tool_call (id, required_action_id, position, call_id, type, function_name, function_arguments) ` +
        `select (c.e->>'rowId')::uuid, ?::uuid, (c.o - 1)::int, c.e->>'id', 'function', c.e->>'name', c.e->>'arguments' ` +
        `from upd, jsonb_array_elements(?::jsonb) with ordinality as c(e, o) returning *)`,
    );
    params.push(rows.requiredAction.id, JSON.stringify(rows.requiredAction.calls));
  }
  if (rows.lastError) {
    ctes.push(`ins_error as (insert into run_last_error (id, code, message) select ?::uuid, ?, ? from upd returning *)`);
    params.push(rows.lastError.id, rows.lastError.code, rows.lastError.message);
  }
  if (rows.incompleteDetails) {
    ctes.push(`ins_details as (insert into run_incomplete_details (id, reason) select ?::uuid, ?::text from upd returning *)`);
    params.push(rows.incompleteDetails.id, rows.incompleteDetails.reason);
  }
  if (rows.usage) {
    ctes.push(`ins_usage as (insert into run_usage (id, prompt_tokens, completion_tokens, total_tokens) select ?::uuid, ?::int, ?::int, ?::int from upd returning *)`);
    params.push(rows.usage.id, rows.usage.promptTokens, rows.usage.completionTokens, rows.usage.totalTokens);
  }
  return { sql: ctes.map((c) => `, ${c}`).join(' '), params };
}

/**
 * One transition of one run, compare-and-set, with its new sub-object rows. Its single result row
 * carries `fromStatus` (the status the run had when it was locked) and `moved`, or there is no row
 * when the run does not exist. When the run moved, the row also carries the run's new graph
 * (`runGraphColumns` + `PART_ID_COLUMNS` + `staleColumn`, for `freshGraphRow`): the run's columns from the update's
 * `returning`, the parts it inserted from their CTEs' `returning`, the untouched parts from their
 * tables (a statement does not see its own writes, so the graph cannot be re-read from the tables).
 * With `toolOutputs` (submitToolOutputs) the update also requires that the given ids are exactly
 * the pending tool call ids, the row carries `pending` (those ids), and the same statement stores
 * each pending call with its output (`run_tool_output`, the run's attempt and the answered required
 * action's id), only if the run moved. A worker's transition (`WORKER_TRANSITIONS`) declares itself
 * to the history trigger (`actorCte`). With `lease` (a worker's
 * token) the update also requires that the token still holds the run — judged on the locked, newest
 * row version, in the same compare-and-set — and the row carries `leaseHeld`.
 */
export function transitionStatement(name: TransitionName, runId: string, rows: SubObjectRows = {}, toolOutputs?: readonly GivenToolOutput[], lease?: LeaseToken): Statement {
  const from = Object.keys(TRANSITIONS[name].moves) as RunStatus[];
  const set = setClauses(name, 'cur.status', rows);
  const inserts = subObjectInserts(rows);
  const p = new Params();
  const held = lease ? `, ${leaseHeld(p, lease)} as lease_held` : '';
  const params: unknown[] = [...p.values, runId];
  const attempt = toolOutputs ? ', attempt' : '';
  let sql = `with cur as materialized (select id, status, required_action_id${attempt}, ctid${held} from run_object where id = ? for update)`;
  let check = lease ? ' and cur.lease_held' : '';
  const worker = WORKER_TRANSITIONS.includes(name);
  if (worker) sql += `, ${actorCte('worker')}`;
  if (toolOutputs) {
    sql +=
      ', pending as materialized (select c.call_id from run_tool_call c join cur on c.required_action_id = cur.required_action_id)' +
      ", given as materialized (select g.e->>'tool_call_id' as call_id, g.e->>'output' as output from jsonb_array_elements(?::jsonb) as g(e))" +
      ', matches as (select exists (select 1 from pending)' +
      ' and not exists (select call_id from pending except select call_id from given)' +
      ' and not exists (select call_id from given except select call_id from pending) as ok)';
    params.push(JSON.stringify(toolOutputs.map((o) => ({ tool_call_id: o.tool_call_id, output: o.output }))));
    check += ' and (select ok from matches)';
  }
  sql += `, upd as (update run_object r set ${set.sql.join(', ')} from cur${worker ? ', actor' : ''} where r.id = cur.id and cur.status in (${statusList(from)})${check} returning r.*)`;
  params.push(...set.params);
  sql += inserts.sql;
  params.push(...inserts.params);
  if (toolOutputs) {
    sql +=
      ', ins_outputs as (insert into "run_tool_output" ("id", "run_id", "required_action_id", "attempt", "position", "call_id", "function_name", "function_arguments", "output", "submitted_at") ' +
      'select gen_random_uuid(), cur.id, cur.required_action_id, cur.attempt, c.position, c.call_id, c.function_name, c.function_arguments, g.output, (select clock_timestamp()) ' +
      'from upd join cur on cur.id = upd.id join "run_tool_call" c on c.required_action_id = cur.required_action_id join given g on g.call_id = c.call_id)';
  }
  sql += ' select cur.status as "fromStatus", r.id is not null as moved';
  if (toolOutputs) sql += `, (select coalesce(jsonb_agg(call_id), '[]'::jsonb) from pending) as pending`;
  if (lease) sql += ', cur.lease_held as "leaseHeld"';
  sql += `, ${runGraphColumns(insertedSources(rows))}, ${PART_ID_COLUMNS}, ${staleColumn('cur')} from cur left join upd r on true`;
  return { sql, params };
}
