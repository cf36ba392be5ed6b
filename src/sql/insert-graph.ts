/**
 * The hand-written write path of `create`, `importRun` and `importRuns`: a whole run graph (or a
 * batch of them) written by ONE statement of data-modifying CTEs, one `insert … select from
 * jsonb_array_elements(?)` per table that has rows. The ORM's flush writes the same rows with one
 * INSERT per table inside BEGIN … COMMIT (about ten round trips for a run with all its parts);
 * one statement is atomic on its own, costs one round trip and needs no transaction.
 *
 * The `json` columns (metadata, a function, file-search options, a JSON schema) keep the caller's
 * key order, and `jsonb` sorts the keys of every object in it: so their values travel in the
 * `jsonb` parameter as JSON *strings* holding their text (`jsonText`). A `jsonb` string is kept as
 * it is; `(x->>i)::json` gives that text back and stores it unchanged. (A `json` parameter would
 * keep the text too, but `x->>i` on `json` re-reads the row from its start for every column.)
 *
 * The foreign keys are checked at the end of the statement, so the parts and the run can be
 * inserted by sibling CTEs. Ids are the ones the entities already carry (generated in the process).
 *
 * A replace (`importRun` of a stored id) is the same statement with the run row upserted in place
 * (`on conflict ("id") do update`): the run never stops existing, so a transition waiting for its
 * row lock finds it. The run row then points at its new parts, and the migrations' trigger deletes
 * the parts it pointed at before; its old tools and file ids are deleted by the statement. It
 * takes any status (a mirror takes the API's word): it tells the status trigger so first
 * (`REPLACING_SETTING`, read by the upsert's select).
 */
import { randomUUID } from 'node:crypto';
import type { RunObject } from '../entities/run-object.entity';
import type { ApiRunInput } from '../api/types';
import type { Statement } from './statement';

interface TableSpec {
  table: string;
  /** `column type` pairs, in the order of the rows' values. */
  columns: readonly (readonly [string, string])[];
}

const TABLES = {
  requiredAction: { table: 'run_required_action', columns: [['id', 'uuid'], ['type', 'text']] },
  toolCall: {
    table: 'run_tool_call',
    columns: [['id', 'uuid'], ['required_action_id', 'uuid'], ['position', 'int'], ['call_id', 'text'], ['type', 'text'], ['function_name', 'text'], ['function_arguments', 'text']],
  },
  lastError: { table: 'run_last_error', columns: [['id', 'uuid'], ['code', 'text'], ['message', 'text']] },
  incompleteDetails: { table: 'run_incomplete_details', columns: [['id', 'uuid'], ['reason', 'text']] },
  usage: { table: 'run_usage', columns: [['id', 'uuid'], ['prompt_tokens', 'int'], ['completion_tokens', 'int'], ['total_tokens', 'int']] },
  truncationStrategy: { table: 'run_truncation_strategy', columns: [['id', 'uuid'], ['type', 'text'], ['last_messages', 'int'], ['has_last_messages', 'boolean']] },
  toolChoice: { table: 'run_tool_choice', columns: [['id', 'uuid'], ['mode', 'text'], ['type', 'text'], ['function_name', 'text']] },
  responseFormat: { table: 'run_response_format', columns: [['id', 'uuid'], ['type', 'text'], ['json_schema', 'json']] },
  run: {
    table: 'run_object',
    columns: [
      ['id', 'text'], ['object', 'text'], ['created_at', 'timestamptz'], ['thread_id', 'text'], ['assistant_id', 'text'], ['status', 'text'],
      ['required_action_id', 'uuid'], ['last_error_id', 'uuid'], ['expires_at', 'timestamptz'], ['started_at', 'timestamptz'],
      ['cancelled_at', 'timestamptz'], ['failed_at', 'timestamptz'], ['completed_at', 'timestamptz'], ['incomplete_details_id', 'uuid'],
      ['model', 'text'], ['instructions', 'text'], ['carries_file_ids', 'boolean'], ['metadata', 'json'], ['usage_id', 'uuid'],
      ['temperature', 'float8'], ['top_p', 'float8'], ['max_prompt_tokens', 'int'], ['max_completion_tokens', 'int'],
      ['truncation_strategy_id', 'uuid'], ['tool_choice_id', 'uuid'], ['parallel_tool_calls', 'boolean'], ['response_format_id', 'uuid'],
    ],
  },
  tool: { table: 'run_tool', columns: [['id', 'uuid'], ['run_id', 'text'], ['position', 'int'], ['type', 'text'], ['function', 'json'], ['file_search', 'json']] },
  fileId: { table: 'run_file_id', columns: [['id', 'uuid'], ['run_id', 'text'], ['position', 'int'], ['file_id', 'text']] },
} as const satisfies Record<string, TableSpec>;

type TableName = keyof typeof TABLES;
/**
 * Rows as arrays of values (column order of TABLES), which keeps the JSON parameter small; a
 * `json` column's value is its JSON text (`jsonText`).
 */
export type InsertRows = Record<TableName, unknown[][]>;

const iso = (d: Date | null): string | null => (d === null ? null : d.toISOString());

/** A `json` column's value as the JSON text to store (`null` stays SQL `NULL`). */
const jsonText = (value: unknown): string | null => (value === null || value === undefined ? null : JSON.stringify(value));

/** No rows yet, in every table. */
export function emptyRows(): InsertRows {
  return {
    requiredAction: [], toolCall: [], lastError: [], incompleteDetails: [], usage: [],
    truncationStrategy: [], toolChoice: [], responseFormat: [], run: [], tool: [], fileId: [],
  };
}

/** The rows of every table for `runs`, read from their entity graphs. */
function rowsOf(runs: readonly RunObject[]): InsertRows {
  const rows = emptyRows();
  for (const r of runs) {
    const a = r.requiredAction;
    if (a) {
      rows.requiredAction.push([a.id, a.type]);
      for (const c of a.toolCalls.getItems(false)) rows.toolCall.push([c.id, a.id, c.position, c.callId, c.type, c.functionName, c.functionArguments]);
    }
    if (r.lastError) rows.lastError.push([r.lastError.id, r.lastError.code, r.lastError.message]);
    if (r.incompleteDetails) rows.incompleteDetails.push([r.incompleteDetails.id, r.incompleteDetails.reason]);
    if (r.usage) rows.usage.push([r.usage.id, r.usage.promptTokens, r.usage.completionTokens, r.usage.totalTokens]);
    const t = r.truncationStrategy;
    if (t) rows.truncationStrategy.push([t.id, t.type, t.lastMessages, t.hasLastMessages]);
    const c = r.toolChoice;
    if (c) rows.toolChoice.push([c.id, c.mode, c.type, c.functionName]);
    const f = r.responseFormat;
    if (f) rows.responseFormat.push([f.id, f.type, jsonText(f.jsonSchema)]);
    rows.run.push([
      r.id, r.object, iso(r.createdAt), r.threadId, r.assistantId, r.status,
      a?.id ?? null, r.lastError?.id ?? null, iso(r.expiresAt), iso(r.startedAt),
      iso(r.cancelledAt), iso(r.failedAt), iso(r.completedAt), r.incompleteDetails?.id ?? null,
      r.model, r.instructions, r.carriesFileIds, jsonText(r.metadata), r.usage?.id ?? null,
      r.temperature, r.topP, r.maxPromptTokens, r.maxCompletionTokens,
      t?.id ?? null, c?.id ?? null, r.parallelToolCalls, f?.id ?? null,
    ]);
    for (const tool of r.tools.getItems(false)) rows.tool.push([tool.id, r.id, tool.position, tool.type, jsonText(tool.function), jsonText(tool.fileSearch)]);
    for (const file of r.fileIds.getItems(false)) rows.fileId.push([file.id, r.id, file.position, file.fileId]);
  }
  return rows;
}

/** Unix seconds → the ISO text of `fromUnixSeconds(s).toISOString()`. */
const isoOfSeconds = (s: number | null | undefined): string | null => (s === null || s === undefined ? null : new Date(s * 1000).toISOString());

/**
 * Appends the rows of one validated API run object to `rows`: exactly the rows that
 * `rowsOf([fillRunFromApi(new RunObject(), api)])` gives (same values, fresh part ids), without
 * building the entity graph — for `importRuns`, which never hands the runs out as entities.
 * Keep in step with `fillRunFromApi` (src/api/mapping.ts) and the entities' defaults.
 * `createdAtOffsetMs` (0 to 999) is added to `created_at`: the place `prepareRunImport` gives a run
 * among the runs of its second.
 */
export function appendApiRunRows(rows: InsertRows, api: ApiRunInput, createdAtOffsetMs = 0): void {
  let actionId: string | null = null;
  if (api.required_action) {
    actionId = randomUUID();
    rows.requiredAction.push([actionId, 'submit_tool_outputs']);
    const calls = api.required_action.submit_tool_outputs.tool_calls;
    for (let i = 0; i < calls.length; i++) {
      const c = calls[i];
      rows.toolCall.push([randomUUID(), actionId, i, c.id, 'function', c.function.name, c.function.arguments]);
    }
  }
  let lastErrorId: string | null = null;
  if (api.last_error) {
    lastErrorId = randomUUID();
    rows.lastError.push([lastErrorId, api.last_error.code, api.last_error.message]);
  }
  let detailsId: string | null = null;
  if (api.incomplete_details) {
    detailsId = randomUUID();
    rows.incompleteDetails.push([detailsId, api.incomplete_details.reason ?? null]);
  }
  let usageId: string | null = null;
  if (api.usage) {
    usageId = randomUUID();
    rows.usage.push([usageId, api.usage.prompt_tokens, api.usage.completion_tokens, api.usage.total_tokens]);
  }
  let truncationId: string | null = null;
  const t = api.truncation_strategy;
  if (t) {
    truncationId = randomUUID();
    rows.truncationStrategy.push([truncationId, t.type, t.last_messages ?? null, t.last_messages !== undefined]);
  }
  let choiceId: string | null = null;
  const c = api.tool_choice;
  if (c) {
    choiceId = randomUUID();
    if (typeof c === 'string') rows.toolChoice.push([choiceId, c, null, null]);
    else rows.toolChoice.push([choiceId, null, c.type, c.function?.name ?? null]);
  }
  let formatId: string | null = null;
  const f = api.response_format;
  if (f) {
    formatId = randomUUID();
    if (f === 'auto') rows.responseFormat.push([formatId, 'auto', null]);
    else rows.responseFormat.push([formatId, f.type, f.type === 'json_schema' ? jsonText(f.json_schema) : null]);
  }
  rows.run.push([
    api.id, 'thread.run', new Date(api.created_at * 1000 + createdAtOffsetMs).toISOString(), api.thread_id, api.assistant_id, api.status,
    actionId, lastErrorId, isoOfSeconds(api.expires_at), isoOfSeconds(api.started_at),
    isoOfSeconds(api.cancelled_at), isoOfSeconds(api.failed_at), isoOfSeconds(api.completed_at), detailsId,
    api.model, api.instructions, api.file_ids !== undefined, jsonText(api.metadata), usageId,
    api.temperature ?? null, api.top_p ?? null, api.max_prompt_tokens ?? null, api.max_completion_tokens ?? null,
    truncationId, choiceId, api.parallel_tool_calls ?? true, formatId,
  ]);
  const tools = api.tools;
  for (let i = 0; i < tools.length; i++) {
    const tool = tools[i];
    const fn = tool.type === 'function' ? tool.function : null;
    const fileSearch = tool.type === 'file_search' && tool.file_search !== undefined ? tool.file_search : null;
    rows.tool.push([randomUUID(), api.id, i, tool.type, jsonText(fn), jsonText(fileSearch)]);
  }
  const fileIds = api.file_ids;
  if (fileIds) for (let i = 0; i < fileIds.length; i++) rows.fileId.push([randomUUID(), api.id, i, fileIds[i]]);
}

/**
 * The setting by which the replace statement tells the status trigger (`run_object_check_status`,
 * migration 20261201092000) that it may set any status: the statement sets it, transaction-locally,
 * to its own `statement_timestamp()`, which no other statement shares.
 */
const REPLACING_SETTING = 'assistants_run_store.replacing';

/** The value of column `i` of a row array `x`, as its column's type (a `json` column's text included). */
const valueOf = (type: string, i: number): string => `(x->>${i})::${type}`;

/**
 * `insert into <table> (…) select x->>0 …` from a JSON array of row arrays; `values` replaces
 * columns' values by name, `from` adds to the `from` list, `alias` names the table.
 */
function insertFrom(spec: TableSpec, { values = {}, from = '', alias = '' }: { values?: Record<string, string>; from?: string; alias?: string } = {}): string {
  const cols = spec.columns.map(([name]) => `"${name}"`).join(', ');
  const selected = spec.columns.map(([name, type], i) => values[name] ?? valueOf(type, i)).join(', ');
  return `insert into "${spec.table}"${alias && ` as ${alias}`} (${cols}) select ${selected} from jsonb_array_elements(?::jsonb) as x${from}`;
}

/** How a graph statement writes its runs (default: new runs only, with the times the rows carry). */
export interface GraphWrite {
  /** Replace the stored run of the same id in place (see the top of this file); else a stored id is a unique violation. */
  readonly replace?: boolean;
  /**
   * `create`: the run's `created_at` is the database's clock (`clock_timestamp()`, the clock of every
   * transition) and its `expires_at` that plus these seconds, whatever the run row says.
   */
  readonly stampTtlSeconds?: number;
}

/**
 * Per parts table: the row value (its index in the row) that must be among the written runs'
 * column in `i_run`, so that a replace the guard skipped (see `runInsert`) writes none of its parts.
 */
const WRITTEN_RUN_KEY: Record<Exclude<TableName, 'run'>, readonly [number, string]> = {
  requiredAction: [0, 'required_action_id'],
  toolCall: [1, 'required_action_id'],
  lastError: [0, 'last_error_id'],
  incompleteDetails: [0, 'incomplete_details_id'],
  usage: [0, 'usage_id'],
  truncationStrategy: [0, 'truncation_strategy_id'],
  toolChoice: [0, 'tool_choice_id'],
  responseFormat: [0, 'response_format_id'],
  tool: [1, 'id'],
  fileId: [1, 'id'],
};

/**
 * The run's columns that the API object does not carry (a worker's lease): a replaced run gets
 * them as a new run would, so a lease on the run it replaced no longer holds it.
 */
const NOT_IN_THE_API_OBJECT = ['"lease_owner" = null', '"lease_expires_at" = null', '"attempt" = 0'];

/** The collections a replace empties first: the run's rows of them are keyed by (run, position). */
const COLLECTIONS = ['tool', 'fileId'] as const;

/**
 * The run rows' insert (CTE `i_run`), returning each written run's id, times and part ids. With
 * `replace`, a stored run is updated in place, but only if the version this statement's snapshot
 * holds is still the newest once the row is locked: a concurrent writer that committed meanwhile
 * (a replace, a transition) left parts and tools this statement cannot see, so the run is then
 * left as it is (still locked) and not returned; the caller sends the statement again.
 */
function runInsert(write: GraphWrite): { sql: string; params: unknown[] } {
  const spec = TABLES.run;
  const params: unknown[] = [];
  let values: Record<string, string> = {};
  let from = '';
  if (write.stampTtlSeconds !== undefined) {
    values = { created_at: 'n.at', expires_at: 'n.at + make_interval(secs => ?::float8)' };
    params.push(write.stampTtlSeconds);
    from = ', (select clock_timestamp() as at) as n';
  }
  if (write.replace) from += ', replacing';
  let sql = insertFrom(spec, { values, from, alias: 'r' });
  if (write.replace) {
    const set = spec.columns.filter(([name]) => name !== 'id').map(([name]) => `"${name}" = excluded."${name}"`);
    set.push(...NOT_IN_THE_API_OBJECT);
    sql += ` on conflict ("id") do update set ${set.join(', ')} where r.ctid = (select s.ctid from "${spec.table}" s where s."id" = excluded."id")`;
  }
  const keys = [...new Set(Object.values(WRITTEN_RUN_KEY).map(([, column]) => column))].filter((c) => c !== 'id');
  sql += ` returning "id", "created_at", "expires_at", ${keys.map((c) => `"${c}"`).join(', ')}`;
  return { sql, params };
}

/**
 * One statement that inserts `runs` with all their parts (or replaces them, see `GraphWrite`). `?`
 * placeholders, to be sent with the parameters bound (knex's `raw(sql, params)`: one JSON text per
 * table, never spliced into the SQL). Result: one row per written run, `{ id, createdAt, expiresAt }`.
 */
export function insertGraphStatement(runs: readonly RunObject[], write: GraphWrite = {}): Statement {
  return insertRowsStatement(rowsOf(runs), write);
}

/** One statement that writes `rows` (see `appendApiRunRows`, `insertGraphStatement`); at most one run row per id. */
export function insertRowsStatement(rows: InsertRows, write: GraphWrite = {}): Statement {
  const run = runInsert(write);
  const ctes = [`i_run as (${run.sql})`];
  if (write.replace) {
    // evaluated once, before the upsert's first row (its select reads it), so before the status trigger fires
    ctes.unshift(`replacing as materialized (select set_config('${REPLACING_SETTING}', statement_timestamp()::text, true) as at)`);
  }
  const params: unknown[] = [...run.params, JSON.stringify(rows.run)];
  for (const name of Object.keys(WRITTEN_RUN_KEY) as (keyof typeof WRITTEN_RUN_KEY)[]) {
    const collection = write.replace && (COLLECTIONS as readonly string[]).includes(name);
    if (collection) ctes.push(`d_${name} as (delete from "${TABLES[name].table}" t using i_run where t."run_id" = i_run."id" returning 1)`);
    if (rows[name].length === 0) continue;
    let sql = insertFrom(TABLES[name]);
    if (write.replace) {
      const [index, column] = WRITTEN_RUN_KEY[name];
      sql += ` where ${valueOf(TABLES[name].columns[index][1], index)} in (select "${column}" from i_run)`;
      // the old rows go first: the delete must be over before the first new row meets the (run, position) key
      if (collection) sql += ` and (select count(*) from d_${name}) >= 0`;
    }
    ctes.push(`i_${name} as (${sql})`);
    params.push(JSON.stringify(rows[name]));
  }
  return { sql: `with ${ctes.join(', ')} select "id", "created_at" as "createdAt", "expires_at" as "expiresAt" from i_run`, params };
}
