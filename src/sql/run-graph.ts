/**
 * The run graph as one statement's columns: the run's columns, each to-one part as a JSON object and
 * each ordered collection as a JSON array built by a correlated subquery, keyed by property names
 * (the unit-of-work bridge, repositories/unit-of-work.ts, turns such a row into a managed graph).
 * Used by `findById`, the list pages and every statement that writes a run and returns it.
 * The `json` columns (metadata, a tool's function and file-search options, a JSON schema) are
 * embedded as they are: `json_build_object` keeps their text, key order included (never cast
 * them to `jsonb`, which sorts keys).
 *
 * A read gives its runs in one of two forms (`RunForm`), from the same statement but for its select
 * list: `graph`, these columns, which become managed entities; or `api`, the API object itself,
 * built by PostgreSQL (sql/api-run.ts).
 */
import { API_RUN_COLUMNS } from './api-run';
import type { Statement } from './statement';
import { TABLE, type StoreTable } from './tables';

/** The to-one parts a transition may write in the same statement that reads the graph. */
export type WrittenPart = 'requiredAction' | 'lastError' | 'incompleteDetails' | 'usage';

/**
 * Where a written part's rows come from instead of its table: a data-modifying CTE of the same
 * statement, with `returning *` (a statement does not see its own writes in the tables). For
 * `requiredAction`, `[action CTE, tool calls CTE]`.
 */
export type PartSources = Partial<Record<Exclude<WrittenPart, 'requiredAction'>, string>> & { requiredAction?: readonly [string, string] };

const toolCallJson =
  `json_agg(json_build_object('id', c."id", 'requiredAction', c."required_action_id", 'position', c."position", 'callId', c."call_id", 'type', c."type", ` +
  `'functionName', c."function_name", 'functionArguments', c."function_arguments") order by c."position")`;

/**
 * The run row `r` with all its parts, keyed by property name. Subqueries use the (…, position)
 * unique indexes. With `sources`, the named parts are read from the statement's own insert CTEs.
 */
export function runGraphColumns(sources: PartSources = {}): string {
  const action = sources.requiredAction
    ? `(select json_build_object('id', a."id", 'type', a."type", 'toolCalls', coalesce((select ${toolCallJson} from ${sources.requiredAction[1]} c), '[]'::json)) ` +
      `from ${sources.requiredAction[0]} a) as "requiredAction"`
    : `(select json_build_object('id', a."id", 'type', a."type", 'toolCalls', coalesce((select ${toolCallJson} ` +
      `from ${TABLE.run_tool_call} c where c."required_action_id" = a."id"), '[]'::json)) ` +
      `from ${TABLE.run_required_action} a where a."id" = r."required_action_id") as "requiredAction"`;
  const from = (part: Exclude<WrittenPart, 'requiredAction'>, table: StoreTable, alias: string, column: string) =>
    sources[part] ? `${sources[part]} ${alias}` : `${TABLE[table]} ${alias} where ${alias}."id" = r."${column}"`;
  return [
    'r."id"',
    'r."object"',
    'r."created_at" as "createdAt"',
    'r."thread_id" as "threadId"',
    'r."assistant_id" as "assistantId"',
    'r."status"',
    action,
    `(select json_build_object('id', e."id", 'code', e."code", 'message', e."message") from ${from('lastError', 'run_last_error', 'e', 'last_error_id')}) as "lastError"`,
    'r."expires_at" as "expiresAt"',
    'r."started_at" as "startedAt"',
    'r."cancelled_at" as "cancelledAt"',
    'r."failed_at" as "failedAt"',
    'r."completed_at" as "completedAt"',
    `(select json_build_object('id', d."id", 'reason', d."reason") from ${from('incompleteDetails', 'run_incomplete_details', 'd', 'incomplete_details_id')}) as "incompleteDetails"`,
    'r."model"',
    'r."instructions"',
    `coalesce((select json_agg(json_build_object('id', t."id", 'run', t."run_id", 'position', t."position", 'type', t."type", ` +
      `'function', t."function", 'fileSearch', t."file_search") order by t."position") from ${TABLE.run_tool} t where t."run_id" = r."id"), '[]'::json) as "tools"`,
    `coalesce((select json_agg(json_build_object('id', f."id", 'run', f."run_id", 'position', f."position", 'fileId', f."file_id") order by f."position") ` +
      `from ${TABLE.run_file_id} f where f."run_id" = r."id"), '[]'::json) as "fileIds"`,
    'r."carries_file_ids" as "carriesFileIds"',
    'r."metadata"',
    `(select json_build_object('id', u."id", 'promptTokens', u."prompt_tokens", 'completionTokens', u."completion_tokens", 'totalTokens', u."total_tokens") ` +
      `from ${from('usage', 'run_usage', 'u', 'usage_id')}) as "usage"`,
    'r."temperature"',
    'r."top_p" as "topP"',
    'r."max_prompt_tokens" as "maxPromptTokens"',
    'r."max_completion_tokens" as "maxCompletionTokens"',
    `(select json_build_object('id', s."id", 'type', s."type", 'lastMessages', s."last_messages", 'hasLastMessages', s."has_last_messages") ` +
      `from ${TABLE.run_truncation_strategy} s where s."id" = r."truncation_strategy_id") as "truncationStrategy"`,
    `(select json_build_object('id', k."id", 'mode', k."mode", 'type', k."type", 'functionName', k."function_name") ` +
      `from ${TABLE.run_tool_choice} k where k."id" = r."tool_choice_id") as "toolChoice"`,
    'r."parallel_tool_calls" as "parallelToolCalls"',
    `(select json_build_object('id', p."id", 'type', p."type", 'jsonSchema', p."json_schema") from ${TABLE.run_response_format} p where p."id" = r."response_format_id") as "responseFormat"`,
    'r."lease_owner" as "leaseOwner"',
    'r."lease_expires_at" as "leaseExpiresAt"',
    'r."attempt"',
  ].join(', ');
}

/** The run row `r` with all its parts (every part read from its table), keyed by property name. */
export const RUN_GRAPH_COLUMNS = runGraphColumns();

/** Each to-one part's foreign key column on `run_object`. */
const PART_ID_COLUMN = {
  requiredAction: 'required_action_id',
  lastError: 'last_error_id',
  incompleteDetails: 'incomplete_details_id',
  usage: 'usage_id',
  truncationStrategy: 'truncation_strategy_id',
  toolChoice: 'tool_choice_id',
  responseFormat: 'response_format_id',
} as const;
export type PartName = keyof typeof PART_ID_COLUMN;
export const PART_NAMES = Object.keys(PART_ID_COLUMN) as PartName[];
const idKey = (part: PartName) => `${part}Id` as const;

/**
 * The run's part ids (`requiredActionId`, …), selected beside `runGraphColumns` by statements that
 * write the run and return its graph in one go. Such a statement reads the run row fresh (its
 * update's `returning`, after waiting for the row lock) but the parts' tables as of the statement's
 * snapshot, which a writer that committed while the statement waited is not part of: a part that
 * writer inserted would read as missing. The ids tell (`freshGraphRow`).
 */
export const PART_ID_COLUMNS = PART_NAMES.map((part) => `r."${PART_ID_COLUMN[part]}" as "${idKey(part)}"`).join(', ');

/**
 * `"stale"`: whether the run row that `locked` (a CTE of `select id, ctid … for update`) holds is
 * not the version this statement's snapshot sees, i.e. another writer committed a change to the run
 * while the statement waited for its lock. The statement's own writes are judged on the locked
 * (newest) row, but what it reads from the tables — the parts, the tools, the file ids, which a
 * replace (`importRun`) rewrites — is as of the snapshot: such a graph is reloaded (`freshGraphRow`).
 */
export const staleColumn = (locked: string): string =>
  `(select snap.ctid from ${TABLE.run_object} snap where snap."id" = ${locked}."id") is distinct from ${locked}."ctid" as "stale"`;

/**
 * The graph row of a result row of `runGraphColumns` + `PART_ID_COLUMNS` + `staleColumn` (and any
 * `extra` keys, dropped), or `null` when the statement read the run's tables before a writer that
 * changed the run committed (`stale`, or a part the run references is missing from it): the caller
 * then reloads the run instead.
 */
export function freshGraphRow(row: Record<string, unknown>, extra: readonly string[] = []): Record<string, unknown> | null {
  const { stale, ...graph } = row;
  if (stale === true) return null;
  for (const part of PART_NAMES) {
    const key = idKey(part);
    if (graph[key] !== null && graph[part] === null) return null;
    delete graph[key];
  }
  for (const key of extra) delete graph[key];
  return graph;
}

/** The two forms a read gives its runs in: `graph` (the run graph's columns) or `api` (the API object, sql/api-run.ts). */
export type RunForm = 'graph' | 'api';

/** The select list over run row `r` of each form. */
export const RUN_COLUMNS: Readonly<Record<RunForm, string>> = { graph: RUN_GRAPH_COLUMNS, api: API_RUN_COLUMNS };

/** The run with id `runId` and all its parts: one row, or none. */
export function selectRunStatement(runId: string, form: RunForm): Statement {
  return { sql: `select ${RUN_COLUMNS[form]} from ${TABLE.run_object} r where r."id" = ?`, params: [runId] };
}
