/**
 * The hand-written read path of `findById` (and of the transitions' reload): a run with every
 * part in ONE statement — the run's columns, each to-one part as a JSON object and each ordered
 * collection as a JSON array built by a correlated subquery — instead of the ORM's joined select
 * plus one select-in statement per collection (`tools`, `file_ids`, tool calls). The row is keyed
 * by property names and handed to MikroORM's entity factory, exactly as the ORM hydrates the rows
 * of a joined load, so the result is a managed entity graph in the caller's identity map.
 */
import { Collection, EntityHelper } from '@mikro-orm/core';
import type { EntityManager, Platform } from '@mikro-orm/postgresql';
import { RunObject } from '../../entities/run-object.entity';
import { RunFileId, RunTool } from '../../entities/collections.entity';
import {
  RunIncompleteDetails,
  RunLastError,
  RunRequiredAction,
  RunResponseFormat,
  RunToolCall,
  RunToolChoice,
  RunTruncationStrategy,
  RunUsage,
} from '../../entities/parts.entity';
import { markLoaded, registerManaged } from './managed';

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
      `from "run_tool_call" c where c."required_action_id" = a."id"), '[]'::json)) ` +
      `from "run_required_action" a where a."id" = r."required_action_id") as "requiredAction"`;
  const from = (part: Exclude<WrittenPart, 'requiredAction'>, table: string, alias: string, column: string) =>
    sources[part] ? `${sources[part]} ${alias}` : `"${table}" ${alias} where ${alias}."id" = r."${column}"`;
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
      `'function', t."function", 'fileSearch', t."file_search") order by t."position") from "run_tool" t where t."run_id" = r."id"), '[]'::json) as "tools"`,
    `coalesce((select json_agg(json_build_object('id', f."id", 'run', f."run_id", 'position', f."position", 'fileId', f."file_id") order by f."position") ` +
      `from "run_file_id" f where f."run_id" = r."id"), '[]'::json) as "fileIds"`,
    'r."carries_file_ids" as "carriesFileIds"',
    'r."metadata"',
    `(select json_build_object('id', u."id", 'promptTokens', u."prompt_tokens", 'completionTokens', u."completion_tokens", 'totalTokens', u."total_tokens") ` +
      `from ${from('usage', 'run_usage', 'u', 'usage_id')}) as "usage"`,
    'r."temperature"',
    'r."top_p" as "topP"',
    'r."max_prompt_tokens" as "maxPromptTokens"',
    'r."max_completion_tokens" as "maxCompletionTokens"',
    `(select json_build_object('id', s."id", 'type', s."type", 'lastMessages', s."last_messages", 'hasLastMessages', s."has_last_messages") ` +
      `from "run_truncation_strategy" s where s."id" = r."truncation_strategy_id") as "truncationStrategy"`,
    `(select json_build_object('id', k."id", 'mode', k."mode", 'type', k."type", 'functionName', k."function_name") ` +
      `from "run_tool_choice" k where k."id" = r."tool_choice_id") as "toolChoice"`,
    'r."parallel_tool_calls" as "parallelToolCalls"',
    `(select json_build_object('id', p."id", 'type', p."type", 'jsonSchema', p."json_schema") from "run_response_format" p where p."id" = r."response_format_id") as "responseFormat"`,
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
type PartName = keyof typeof PART_ID_COLUMN;
const PART_NAMES = Object.keys(PART_ID_COLUMN) as PartName[];
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
 * The graph row of a result row of `runGraphColumns` + `PART_ID_COLUMNS` (and any `extra` keys,
 * dropped), or `null` when a part the run references is missing from it (read before the writer
 * that inserted it committed): the caller then reloads the run instead.
 */
export function freshGraphRow(row: Record<string, unknown>, extra: readonly string[] = []): Record<string, unknown> | null {
  const graph = { ...row };
  for (const part of PART_NAMES) {
    const key = idKey(part);
    if (graph[key] !== null && graph[part] === null) return null;
    delete graph[key];
  }
  for (const key of extra) delete graph[key];
  return graph;
}

/** One statement: the run with id `?` and all its parts, or no row. */
export const SELECT_RUN_BY_ID = `select ${RUN_GRAPH_COLUMNS} from "run_object" r where r."id" = ?`;

type Row = Record<string, unknown>;

/** The run's `timestamptz` properties. */
const DATE_PROPERTIES = ['createdAt', 'expiresAt', 'startedAt', 'cancelledAt', 'failedAt', 'completedAt'] as const satisfies readonly (keyof RunObject)[];
type PartRow = Record<string, unknown> | null;

/**
 * An entity of `cls` holding the row's values, made as MikroORM's entity factory makes a loaded
 * entity: no constructor call (its defaults would be set, then overwritten), the instance's
 * change-tracking accessors defined in one go (`ensurePropagation`), then the values set.
 */
function entityOf<T extends object>(cls: new () => T, row: Row): T {
  const entity = Object.create(cls.prototype) as T;
  EntityHelper.ensurePropagation(entity);
  return Object.assign(entity, row);
}

function partOf<T extends object>(cls: new () => T, row: unknown): T | null {
  return row === null || row === undefined ? null : entityOf(cls, row as Row);
}

/** The `prop` collection of `owner`, loaded with `items` (whose own side already points at `owner`). */
function collectionOf<T extends object>(owner: object, prop: string, items: T[]): Collection<T> {
  const collection = Collection.create<T, object>(owner, prop as never, undefined, true);
  collection.hydrate(items);
  return collection;
}

/**
 * The entity graph of one row of `RUN_GRAPH_COLUMNS`, built directly: the row's keys are the
 * properties' names and its values already the properties' values (the driver parses the JSON
 * parts and numbers), except the timestamps, which MikroORM's connection leaves as PostgreSQL's
 * text for the platform to parse. This is what the ORM's entity factory builds from the same row,
 * without what makes the factory slow on such rows: a recursive create per part, each with
 * identity-map lookups, merge handling and the compiled hydrator's custom-type conversions.
 */
function buildRunGraph(row: Row, platform: Platform): RunObject {
  const { requiredAction, lastError, incompleteDetails, usage, truncationStrategy, toolChoice, responseFormat, tools, fileIds, ...columns } = row;
  for (const key of DATE_PROPERTIES) {
    const value = columns[key];
    if (typeof value === 'string') columns[key] = platform.parseDate(value);
  }
  const run = entityOf(RunObject, columns);
  if (requiredAction) {
    const { toolCalls, ...action } = requiredAction as Row;
    const built = entityOf(RunRequiredAction, action);
    collectionOf(built, 'toolCalls', (toolCalls as Row[]).map((call) => entityOf(RunToolCall, { ...call, requiredAction: built })));
    run.requiredAction = built;
  } else {
    run.requiredAction = null;
  }
  run.lastError = partOf(RunLastError, lastError);
  run.incompleteDetails = partOf(RunIncompleteDetails, incompleteDetails);
  run.usage = partOf(RunUsage, usage);
  run.truncationStrategy = partOf(RunTruncationStrategy, truncationStrategy);
  run.toolChoice = partOf(RunToolChoice, toolChoice);
  run.responseFormat = partOf(RunResponseFormat, responseFormat);
  collectionOf(run, 'tools', (tools as Row[]).map((tool) => entityOf(RunTool, { ...tool, run })));
  collectionOf(run, 'fileIds', (fileIds as Row[]).map((file) => entityOf(RunFileId, { ...file, run })));
  return run;
}

/** Whether the unit of work already holds the row's run or one of its to-one parts. */
function heldByRow(uow: ReturnType<EntityManager['getUnitOfWork']>, row: Row): boolean {
  if (uow.getById(RunObject.name, row.id as string)) return true;
  for (const part of PART_NAMES) {
    const data = row[part] as PartRow;
    if (data && uow.getById(PART_CLASS[part].name, data.id as string)) return true;
  }
  return false;
}

const PART_CLASS = {
  requiredAction: RunRequiredAction,
  lastError: RunLastError,
  incompleteDetails: RunIncompleteDetails,
  usage: RunUsage,
  truncationStrategy: RunTruncationStrategy,
  toolChoice: RunToolChoice,
  responseFormat: RunResponseFormat,
} as const satisfies Record<PartName, new () => object>;

/**
 * Managed entities for rows of `RUN_GRAPH_COLUMNS`, in `em`'s identity map. A run that the unit of
 * work does not hold yet (the common case: a fork per request) is built directly and registered
 * as loaded; one it holds (or whose parts it holds) goes through the entity factory, which
 * refreshes the held entities in place, parts and collections included.
 */
export function hydrateRuns(em: EntityManager, rows: Record<string, unknown>[]): RunObject[] {
  const uow = em.getUnitOfWork();
  const factory = em.getEntityFactory();
  const platform = em.getPlatform();
  return rows.map((row) => {
    if (!heldByRow(uow, row)) {
      const run = buildRunGraph(row, platform);
      registerManaged(em, run);
      return run;
    }
    const run = factory.create(RunObject, row as never, { merge: true, refresh: true, convertCustomTypes: true });
    markLoaded(em, run);
    return run;
  });
}

/** The run, fully loaded, in one round trip; `null` when there is none. */
export async function selectRunGraph(em: EntityManager, id: string): Promise<RunObject | null> {
  const rows = await em.getConnection().execute<Record<string, unknown>[]>(SELECT_RUN_BY_ID, [id], 'all', em.getTransactionContext());
  return rows.length === 0 ? null : hydrateRuns(em, rows)[0];
}
