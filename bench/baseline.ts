/**
 * The baseline: the SQL a careful engineer would write by hand over `pg`, doing the same work as
 * the store in the fewest round trips. Same tables, same rows written (every part, tool, file id,
 * tool call), same object read back (the exact API JSON, built by the database). Parameterised
 * statements only. What it does NOT do: validate input (the store checks every field with zod
 * first), map errors to the package's classes, or keep an identity map.
 *
 * - create / import: ONE statement of data-modifying CTEs (the foreign keys are checked at the end
 *   of the statement, so parts and run go in together); a batch import is one such statement for
 *   the whole batch, preceded by the delete of stored runs with the same ids, in one transaction.
 * - a transition: ONE conditional UPDATE … WHERE status IN (…) RETURNING, with the new parts
 *   inserted by CTEs, and the run's API JSON built in the same statement.
 * - a read (by id, a keyset page, a claim): ONE statement, the API JSON aggregated in SQL.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { Pool, PoolClient, QueryResult } from 'pg';
import type { ApiRun, ApiRunInput, ApiToolCall, ApiUsage, CreateRunInput } from '../src/api/types';

type Row = Record<string, unknown>;

const epoch = (col: string) => `floor(extract(epoch from ${col}))::bigint`;

/** Where the API JSON finds the parts a statement has just inserted (invisible to its own snapshot). */
interface PartOverrides {
  requiredAction?: string;
  usage?: string;
}

/** The exact API object of run row `r`, as a JSON expression (file_ids as null when the run does not carry them). */
function apiJson(r: string, o: PartOverrides = {}): string {
  const requiredAction =
    o.requiredAction ??
    `(select json_build_object('type', a.type, 'submit_tool_outputs', json_build_object('tool_calls', coalesce((select json_agg(json_build_object(` +
      `'id', c.call_id, 'type', c.type, 'function', json_build_object('name', c.function_name, 'arguments', c.function_arguments)) order by c.position) ` +
      `from run_tool_call c where c.required_action_id = a.id), '[]'::json))) from run_required_action a where a.id = ${r}.required_action_id)`;
  const usage =
    o.usage ??
    `(select json_build_object('prompt_tokens', u.prompt_tokens, 'completion_tokens', u.completion_tokens, 'total_tokens', u.total_tokens) from run_usage u where u.id = ${r}.usage_id)`;
  return `json_build_object(
    'id', ${r}.id, 'object', 'thread.run', 'created_at', ${epoch(`${r}.created_at`)}, 'thread_id', ${r}.thread_id, 'assistant_id', ${r}.assistant_id, 'status', ${r}.status,
    'required_action', ${requiredAction},
    'last_error', (select json_build_object('code', e.code, 'message', e.message) from run_last_error e where e.id = ${r}.last_error_id),
    'expires_at', ${epoch(`${r}.expires_at`)}, 'started_at', ${epoch(`${r}.started_at`)}, 'cancelled_at', ${epoch(`${r}.cancelled_at`)},
    'failed_at', ${epoch(`${r}.failed_at`)}, 'completed_at', ${epoch(`${r}.completed_at`)},
    'incomplete_details', (select case when d.reason is null then '{}'::json else json_build_object('reason', d.reason) end from run_incomplete_details d where d.id = ${r}.incomplete_details_id),
    'model', ${r}.model, 'instructions', ${r}.instructions,
    'tools', coalesce((select json_agg(case t.type when 'function' then json_build_object('type', t.type, 'function', t.function)
        when 'file_search' then case when t.file_search is null then json_build_object('type', t.type) else json_build_object('type', t.type, 'file_search', t.file_search) end
        else json_build_object('type', t.type) end order by t.position) from run_tool t where t.run_id = ${r}.id), '[]'::json),
    'file_ids', case when ${r}.carries_file_ids then coalesce((select json_agg(f.file_id order by f.position) from run_file_id f where f.run_id = ${r}.id), '[]'::json) end,
    'metadata', ${r}.metadata, 'usage', ${usage}, 'temperature', ${r}.temperature, 'top_p', ${r}.top_p,
    'max_prompt_tokens', ${r}.max_prompt_tokens, 'max_completion_tokens', ${r}.max_completion_tokens,
    'truncation_strategy', (select case when s.has_last_messages then json_build_object('type', s.type, 'last_messages', s.last_messages) else json_build_object('type', s.type) end
        from run_truncation_strategy s where s.id = ${r}.truncation_strategy_id),
    'tool_choice', (select case when k.mode is not null then to_json(k.mode) when k.function_name is not null
        then json_build_object('type', k.type, 'function', json_build_object('name', k.function_name)) else json_build_object('type', k.type) end
        from run_tool_choice k where k.id = ${r}.tool_choice_id),
    'parallel_tool_calls', ${r}.parallel_tool_calls,
    'response_format', (select case p.type when 'auto' then to_json('auto'::text) when 'json_schema' then json_build_object('type', p.type, 'json_schema', p.json_schema)
        else json_build_object('type', p.type) end from run_response_format p where p.id = ${r}.response_format_id))`;
}

/** The API object from a row's `run` column (drops the `file_ids` key of a run that does not carry it). */
function apiRunOf(row: Row | undefined): ApiRun {
  if (!row) throw new Error('baseline: no row');
  const run = row.run as ApiRun & { file_ids?: string[] | null };
  if (run.file_ids === null) delete run.file_ids;
  return run;
}

// --- writing run graphs ---------------------------------------------------------------------

const RUN_COLUMNS =
  'id text, created_at timestamptz, thread_id text, assistant_id text, status text, required_action_id uuid, last_error_id uuid, expires_at timestamptz, ' +
  'started_at timestamptz, cancelled_at timestamptz, failed_at timestamptz, completed_at timestamptz, incomplete_details_id uuid, model text, instructions text, ' +
  'carries_file_ids boolean, metadata json, usage_id uuid, temperature float8, top_p float8, max_prompt_tokens int, max_completion_tokens int, ' +
  'truncation_strategy_id uuid, tool_choice_id uuid, parallel_tool_calls boolean, response_format_id uuid';
const runColumnNames = RUN_COLUMNS.split(', ').map((c) => c.split(' ')[0]).join(', ');

/**
 * ONE statement inserting every row of `runs` (API objects): parts, runs, tools, file ids, tool
 * calls, from one JSON parameter per table read with json_to_recordset (`json`, as the store: the
 * JSON columns keep their key order).
 */
export const INSERT_RUNS_SQL = `with
  ra as (insert into run_required_action (id, type) select id, 'submit_tool_outputs' from json_to_recordset($1::json) as x(id uuid)),
  tc as (insert into run_tool_call (id, required_action_id, position, call_id, type, function_name, function_arguments)
         select id, required_action_id, position, call_id, 'function', function_name, function_arguments
         from json_to_recordset($2::json) as x(id uuid, required_action_id uuid, position int, call_id text, function_name text, function_arguments text)),
  le as (insert into run_last_error (id, code, message) select * from json_to_recordset($3::json) as x(id uuid, code text, message text)),
  idt as (insert into run_incomplete_details (id, reason) select * from json_to_recordset($4::json) as x(id uuid, reason text)),
  us as (insert into run_usage (id, prompt_tokens, completion_tokens, total_tokens) select * from json_to_recordset($5::json) as x(id uuid, prompt_tokens int, completion_tokens int, total_tokens int)),
  ts as (insert into run_truncation_strategy (id, type, last_messages, has_last_messages) select * from json_to_recordset($6::json) as x(id uuid, type text, last_messages int, has_last_messages boolean)),
  tch as (insert into run_tool_choice (id, mode, type, function_name) select * from json_to_recordset($7::json) as x(id uuid, mode text, type text, function_name text)),
  rf as (insert into run_response_format (id, type, json_schema) select * from json_to_recordset($8::json) as x(id uuid, type text, json_schema json)),
  ro as (insert into run_object (${runColumnNames}) select * from json_to_recordset($9::json) as x(${RUN_COLUMNS})),
  tl as (insert into run_tool (id, run_id, position, type, function, file_search) select * from json_to_recordset($10::json) as x(id uuid, run_id text, position int, type text, function json, file_search json)),
  fi as (insert into run_file_id (id, run_id, position, file_id) select * from json_to_recordset($11::json) as x(id uuid, run_id text, position int, file_id text))
select 1`;

const ts = (seconds: number | null | undefined) => (seconds === null || seconds === undefined ? null : new Date(seconds * 1000).toISOString());

/** The eleven JSON parameters of INSERT_RUNS_SQL for `runs`. */
export function insertRunsParams(runs: readonly ApiRunInput[], exactTimes?: { createdAt: Date; expiresAt: Date }): string[] {
  const t: Row[][] = Array.from({ length: 11 }, () => []);
  for (const run of runs) {
    const raId = run.required_action ? randomUUID() : null;
    if (run.required_action) {
      t[0].push({ id: raId });
      run.required_action.submit_tool_outputs.tool_calls.forEach((c, position) =>
        t[1].push({ id: randomUUID(), required_action_id: raId, position, call_id: c.id, function_name: c.function.name, function_arguments: c.function.arguments }),
      );
    }
    const leId = run.last_error ? randomUUID() : null;
    if (run.last_error) t[2].push({ id: leId, code: run.last_error.code, message: run.last_error.message });
    const idId = run.incomplete_details ? randomUUID() : null;
    if (run.incomplete_details) t[3].push({ id: idId, reason: run.incomplete_details.reason ?? null });
    const usId = run.usage ? randomUUID() : null;
    if (run.usage) t[4].push({ id: usId, ...run.usage });
    const tsId = run.truncation_strategy ? randomUUID() : null;
    if (run.truncation_strategy) {
      const s = run.truncation_strategy;
      t[5].push({ id: tsId, type: s.type, last_messages: s.last_messages ?? null, has_last_messages: s.last_messages !== undefined });
    }
    const tcId = run.tool_choice ? randomUUID() : null;
    if (run.tool_choice) {
      const c = run.tool_choice;
      t[6].push(typeof c === 'string' ? { id: tcId, mode: c } : { id: tcId, type: c.type, function_name: c.function?.name ?? null });
    }
    const rfId = run.response_format ? randomUUID() : null;
    if (run.response_format) {
      const f = run.response_format;
      t[7].push(f === 'auto' ? { id: rfId, type: 'auto' } : { id: rfId, type: f.type, json_schema: f.type === 'json_schema' ? f.json_schema : null });
    }
    t[8].push({
      id: run.id, created_at: exactTimes?.createdAt.toISOString() ?? ts(run.created_at), thread_id: run.thread_id, assistant_id: run.assistant_id, status: run.status,
      required_action_id: raId, last_error_id: leId, expires_at: exactTimes?.expiresAt.toISOString() ?? ts(run.expires_at), started_at: ts(run.started_at), cancelled_at: ts(run.cancelled_at),
      failed_at: ts(run.failed_at), completed_at: ts(run.completed_at), incomplete_details_id: idId, model: run.model, instructions: run.instructions,
      carries_file_ids: run.file_ids !== undefined, metadata: run.metadata, usage_id: usId, temperature: run.temperature ?? null, top_p: run.top_p ?? null,
      max_prompt_tokens: run.max_prompt_tokens ?? null, max_completion_tokens: run.max_completion_tokens ?? null,
      truncation_strategy_id: tsId, tool_choice_id: tcId, parallel_tool_calls: run.parallel_tool_calls ?? true, response_format_id: rfId,
    });
    run.tools.forEach((tool, position) =>
      t[9].push({
        id: randomUUID(), run_id: run.id, position, type: tool.type,
        function: tool.type === 'function' ? tool.function : null,
        file_search: tool.type === 'file_search' ? (tool.file_search ?? null) : null,
      }),
    );
    (run.file_ids ?? []).forEach((file_id, position) => t[10].push({ id: randomUUID(), run_id: run.id, position, file_id }));
  }
  return t.map((rows) => JSON.stringify(rows));
}

/** The API object a `create` makes from its input (the defaults of the public API). */
export function newApiRun(input: CreateRunInput, id: string, ttlSeconds: number, now = Date.now()): ApiRunInput {
  const created = Math.floor(now / 1000);
  return {
    id, object: 'thread.run', created_at: created, thread_id: input.thread_id, assistant_id: input.assistant_id, status: 'queued',
    required_action: null, last_error: null, expires_at: Math.floor((now + ttlSeconds * 1000) / 1000), started_at: null, cancelled_at: null,
    failed_at: null, completed_at: null, incomplete_details: null, model: input.model, instructions: input.instructions ?? null,
    tools: input.tools ?? [], ...(input.file_ids !== undefined ? { file_ids: input.file_ids } : {}), metadata: input.metadata ?? {}, usage: null,
    temperature: input.temperature ?? null, top_p: input.top_p ?? null, max_prompt_tokens: input.max_prompt_tokens ?? null,
    max_completion_tokens: input.max_completion_tokens ?? null, truncation_strategy: input.truncation_strategy ?? { type: 'auto', last_messages: null },
    tool_choice: input.tool_choice ?? 'auto', parallel_tool_calls: input.parallel_tool_calls ?? true, response_format: input.response_format ?? 'auto',
  } as ApiRunInput;
}

const NAMES = new Map<string, string>();

export class Baseline {
  /** With `named`, every statement is a named (prepared) statement, as the store's are by default. */
  constructor(
    readonly pool: Pool,
    readonly ttlSeconds: number,
    readonly named = false,
  ) {}

  private query(text: string, values: unknown[]): Promise<QueryResult> {
    if (!this.named) return this.pool.query(text, values);
    let name = NAMES.get(text);
    if (name === undefined) NAMES.set(text, (name = `base_${createHash('sha1').update(text).digest('hex').slice(0, 32)}`));
    return this.pool.query({ name, text, values });
  }

  /** `create`: one statement; the API object is the one built in memory (as the store returns its entity). */
  async create(input: CreateRunInput, id: string): Promise<ApiRun> {
    const now = Date.now();
    const run = newApiRun(input, id, this.ttlSeconds, now);
    // the store keeps created_at to the millisecond (for keyset order)
    const params = insertRunsParams([run], { createdAt: new Date(now), expiresAt: new Date(now + this.ttlSeconds * 1000) });
    await this.query(INSERT_RUNS_SQL, params);
    return run as ApiRun;
  }

  /** A batch of `importRun`s: delete stored runs with those ids and insert the batch, in one transaction (4 round trips). */
  async importBatch(runs: readonly ApiRunInput[], client?: PoolClient): Promise<void> {
    const c = client ?? (await this.pool.connect());
    try {
      await c.query('begin');
      await c.query('delete from run_object where id = any($1::text[])', [runs.map((r) => r.id)]);
      await c.query(INSERT_RUNS_SQL, insertRunsParams(runs));
      await c.query('commit');
    } catch (error) {
      await c.query('rollback').catch(() => undefined);
      throw error;
    } finally {
      if (!client) c.release();
    }
  }

  /** `getById`: one statement. */
  async getById(id: string): Promise<ApiRun> {
    const { rows } = await this.query(`select ${apiJson('r')} as run from run_object r where r.id = $1`, [id]);
    return apiRunOf(rows[0]);
  }

  /** One transition as one statement: conditional update, new parts, the run's API JSON. */
  private async transition(sql: string, params: unknown[]): Promise<ApiRun> {
    const { rows } = await this.query(sql, params);
    return apiRunOf(rows[0]);
  }

  start(id: string): Promise<ApiRun> {
    return this.transition(
      `with r as (update run_object set status = 'in_progress', started_at = clock_timestamp() where id = $1 and status = 'queued' returning *) select ${apiJson('r')} as run from r`,
      [id],
    );
  }

  requireAction(id: string, calls: ApiToolCall[]): Promise<ApiRun> {
    const actionId = randomUUID();
    const rows = calls.map((c, position) => ({ id: randomUUID(), position, call_id: c.id, function_name: c.function.name, function_arguments: c.function.arguments }));
    return this.transition(
      `with r as (update run_object set status = 'requires_action', required_action_id = $2 where id = $1 and status = 'in_progress' returning *),
        a as (insert into run_required_action (id, type) select $2, 'submit_tool_outputs' from r),
        c as (insert into run_tool_call (id, required_action_id, position, call_id, type, function_name, function_arguments)
              select x.id, $2, x.position, x.call_id, 'function', x.function_name, x.function_arguments
              from r, json_to_recordset($3::json) as x(id uuid, position int, call_id text, function_name text, function_arguments text))
      select ${apiJson('r', { requiredAction: `json_build_object('type', 'submit_tool_outputs', 'submit_tool_outputs', json_build_object('tool_calls', $4::json))` })} as run from r`,
      [id, actionId, JSON.stringify(rows), JSON.stringify(calls)],
    );
  }

  /** Moves only when the outputs answer exactly the pending calls (checked in the same statement). */
  submitToolOutputs(id: string, callIds: string[]): Promise<ApiRun> {
    return this.transition(
      `with r as (update run_object o set status = 'queued', required_action_id = null where o.id = $1 and o.status = 'requires_action'
                  and (select array_agg(c.call_id order by c.call_id) from run_tool_call c where c.required_action_id = o.required_action_id)
                    = (select array_agg(g order by g) from unnest($2::text[]) g) returning *)
      select ${apiJson('r')} as run from r`,
      [id, callIds],
    );
  }

  complete(id: string, usage: ApiUsage): Promise<ApiRun> {
    return this.transition(
      `with r as (update run_object set status = 'completed', completed_at = clock_timestamp(), expires_at = null, usage_id = $2
                  where id = $1 and status in ('in_progress', 'cancelling') returning *),
        u as (insert into run_usage (id, prompt_tokens, completion_tokens, total_tokens) select $2, $3, $4, $5 from r)
      select ${apiJson('r', { usage: `json_build_object('prompt_tokens', $3::int, 'completion_tokens', $4::int, 'total_tokens', $5::int)` })} as run from r`,
      [id, randomUUID(), usage.prompt_tokens, usage.completion_tokens, usage.total_tokens],
    );
  }

  /**
   * `claimNext({ assistant_id, worker, leaseSeconds })`: the oldest free queued run, skip locked,
   * moved (with the worker's lease and the next attempt) and returned in one statement.
   */
  async claimNext(assistantId: string, worker: string, leaseSeconds: number): Promise<ApiRun | null> {
    const { rows } = await this.query(
      `with picked as materialized (select id from run_object where status = 'queued' and assistant_id = $1 and (expires_at is null or expires_at > statement_timestamp())
                                    order by created_at, id limit 1 for update skip locked),
        r as (update run_object o set status = 'in_progress', started_at = clock_timestamp(), attempt = o.attempt + 1,
                lease_owner = $2, lease_expires_at = clock_timestamp() + make_interval(secs => $3)
              from picked where o.id = picked.id and o.status = 'queued' returning o.*)
      select ${apiJson('r')} as run from r`,
      [assistantId, worker, leaseSeconds],
    );
    return rows.length === 0 ? null : apiRunOf(rows[0]);
  }

  /** `listByThread(thread, { limit, after })`, newest first: one keyset statement, the page's API JSON aggregated per row. */
  async listByThread(threadId: string, limit: number, after: string | null): Promise<{ object: 'list'; data: ApiRun[]; first_id: string | null; last_id: string | null; has_more: boolean }> {
    const { rows } = await this.query(
      `select ${apiJson('r')} as run from (
         select * from run_object o where o.thread_id = $1
           and ($2::text is null or (o.created_at, o.id) < (select c.created_at, c.id from run_object c where c.id = $2 and c.thread_id = $1))
         order by o.created_at desc, o.id desc limit $3) r
       order by r.created_at desc, r.id desc`,
      [threadId, after, limit + 1],
    );
    const hasMore = rows.length > limit;
    const data = rows.slice(0, limit).map(apiRunOf);
    return { object: 'list', data, first_id: data[0]?.id ?? null, last_id: data[data.length - 1]?.id ?? null, has_more: hasMore };
  }
}
