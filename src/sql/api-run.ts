import { TABLE } from './tables';
/**
 * The API object of a run, built by PostgreSQL: one `json` value per run row, with exactly the
 * keys, values and key order of `toApiRun` (api/mapping.ts) applied to the managed graph of the
 * same row — `JSON.stringify` of the one equals `JSON.stringify` of the other, byte for byte.
 *
 * Built with the `json` functions only (`json_build_object`, `json_agg`), never `jsonb`: `json`
 * keeps the order in which keys are written, and embeds the open-ended JSON columns (metadata, a
 * function's definition, a JSON schema) as they are stored, whether those columns are `json` or
 * `jsonb`. Each mapping rule of `toApiRun` appears here once:
 * - times: whole unix seconds (`floor`, as `Math.floor` of the milliseconds), `null` when unset;
 * - `incomplete_details`: `{}` when its reason is null;
 * - a tool: `{type}`, plus `function` for a function and `file_search` when a file search has options;
 * - `truncation_strategy`: `last_messages` only when the object had the key;
 * - `tool_choice`: the mode string, or `{type}` plus `function: {name}` when it names one;
 * - `response_format`: the string `auto`, or `{type}` plus `json_schema` for a JSON schema;
 * - `file_ids`: the last key, only on runs that carry it (`carries_file_ids`): see `API_RUN_COLUMNS`.
 */

const seconds = (column: string) => `floor(extract(epoch from ${column}))::bigint`;

/** A correlated subquery's JSON array, `[]` when it has no rows. */
const arrayOf = (subquery: string) => `coalesce((${subquery}), '[]'::json)`;

/** The API object's keys of run row `r`, in `toApiRun`'s order, as `json_build_object` arguments (without `file_ids`). */
const API_RUN_PAIRS: readonly (readonly [string, string])[] = [
  ['id', 'r."id"'],
  ['object', `'thread.run'`],
  ['created_at', seconds('r."created_at"')],
  ['thread_id', 'r."thread_id"'],
  ['assistant_id', 'r."assistant_id"'],
  ['status', 'r."status"'],
  [
    'required_action',
    `(select json_build_object('type', a."type", 'submit_tool_outputs', json_build_object('tool_calls', ` +
      arrayOf(
        `select json_agg(json_build_object('id', c."call_id", 'type', c."type", 'function', ` +
          `json_build_object('name', c."function_name", 'arguments', c."function_arguments")) order by c."position") ` +
          `from ${TABLE.run_tool_call} c where c."required_action_id" = a."id"`,
      ) +
      `)) from ${TABLE.run_required_action} a where a."id" = r."required_action_id")`,
  ],
  ['last_error', `(select json_build_object('code', e."code", 'message', e."message") from ${TABLE.run_last_error} e where e."id" = r."last_error_id")`],
  ['expires_at', seconds('r."expires_at"')],
  ['started_at', seconds('r."started_at"')],
  ['cancelled_at', seconds('r."cancelled_at"')],
  ['failed_at', seconds('r."failed_at"')],
  ['completed_at', seconds('r."completed_at"')],
  [
    'incomplete_details',
    `(select case when d."reason" is null then '{}'::json else json_build_object('reason', d."reason") end ` +
      `from ${TABLE.run_incomplete_details} d where d."id" = r."incomplete_details_id")`,
  ],
  ['model', 'r."model"'],
  ['instructions', 'r."instructions"'],
  [
    'tools',
    arrayOf(
      `select json_agg(case t."type" when 'function' then json_build_object('type', t."type", 'function', t."function") ` +
        `when 'file_search' then case when t."file_search" is null then json_build_object('type', t."type") ` +
        `else json_build_object('type', t."type", 'file_search', t."file_search") end ` +
        `else json_build_object('type', t."type") end order by t."position") from ${TABLE.run_tool} t where t."run_id" = r."id"`,
    ),
  ],
  ['metadata', 'r."metadata"'],
  [
    'usage',
    `(select json_build_object('prompt_tokens', u."prompt_tokens", 'completion_tokens', u."completion_tokens", 'total_tokens', u."total_tokens") ` +
      `from ${TABLE.run_usage} u where u."id" = r."usage_id")`,
  ],
  ['temperature', 'r."temperature"'],
  ['top_p', 'r."top_p"'],
  ['max_prompt_tokens', 'r."max_prompt_tokens"'],
  ['max_completion_tokens', 'r."max_completion_tokens"'],
  [
    'truncation_strategy',
    `(select case when s."has_last_messages" then json_build_object('type', s."type", 'last_messages', s."last_messages") ` +
      `else json_build_object('type', s."type") end from ${TABLE.run_truncation_strategy} s where s."id" = r."truncation_strategy_id")`,
  ],
  [
    'tool_choice',
    `(select case when k."mode" is not null then to_json(k."mode") ` +
      `when k."function_name" is not null then json_build_object('type', k."type", 'function', json_build_object('name', k."function_name")) ` +
      `else json_build_object('type', k."type") end from ${TABLE.run_tool_choice} k where k."id" = r."tool_choice_id")`,
  ],
  ['parallel_tool_calls', 'r."parallel_tool_calls"'],
  [
    'response_format',
    `(select case p."type" when 'auto' then to_json(p."type") ` +
      `when 'json_schema' then json_build_object('type', p."type", 'json_schema', p."json_schema") ` +
      `else json_build_object('type', p."type") end from ${TABLE.run_response_format} p where p."id" = r."response_format_id")`,
  ],
];

const FILE_IDS = arrayOf(`select json_agg(f."file_id" order by f."position") from ${TABLE.run_file_id} f where f."run_id" = r."id"`);

const objectOf = (pairs: readonly (readonly [string, string])[]) => `json_build_object(${pairs.map(([key, value]) => `'${key}', ${value}`).join(', ')})`;

/**
 * The select list of a read in the API form, two columns: `run`, the API object of run row `r`
 * without `file_ids`, and `file_ids`, the run's file ids when it carries them (else null), which
 * the reader appends as the object's last key (`API` in repositories/reads.ts) — where `toApiRun` puts it. (`json_build_object`
 * cannot leave a key out; building the object twice, with and without the key, as two arms of a
 * `case` doubled the text PostgreSQL parses and plans, and cost a third more per unnamed call.)
 */
export const API_RUN_COLUMNS = `${objectOf(API_RUN_PAIRS)} as "run", case when r."carries_file_ids" then ${FILE_IDS} end as "file_ids"`;
