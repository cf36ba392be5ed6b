/**
 * The list case's tables, filled straight in SQL (INSERT … SELECT generate_series), one statement
 * per table, in a database of their own (`ars_bench_10k`, `ars_bench_1m`). A database is reused
 * by the next run when its migrations and fill recipe match (the `bench_fill` table says so);
 * otherwise it is dropped and filled again.
 *
 * Shape: N completed runs over N/100 threads (`thread_fill_<k>`: 100 runs each, interleaved
 * through the table, one second apart), 50 assistants, metadata. The runs of the 50 threads the
 * pages walk (5,000 runs) also carry the parts a created run has — truncation strategy, tool
 * choice, response format — plus usage and 2 tools (a code interpreter and a function with
 * parameters), so each page is 20 fully hydrated runs; the other runs carry none (filling parts
 * for all 1M runs would not fit the benchmark's time budget on an embedded server). The tables are
 * then vacuumed and analyzed, and a checkpoint is asked for (where the role may), so that the
 * timed pages read settled tables.
 */
import { Client } from 'pg';

/** Bump when the recipe below changes: an older filled database is then refilled. */
const FILL_VERSION = 3;
/** The threads whose runs carry every part (the threads the pages walk). */
export const FULL_THREADS = 50;
export const RUNS_PER_THREAD = 100;

const FUNCTION_TOOL = JSON.stringify({
  name: 'get_weather',
  description: 'The current weather at a location.',
  parameters: { type: 'object', properties: { location: { type: 'string' } }, required: ['location'] },
});

export function fillStatements(n: number): string[] {
  const threads = Math.max(1, Math.floor(n / RUNS_PER_THREAD));
  const g = `generate_series(1, ${n}) g`;
  // the runs of the first FULL_THREADS threads: the ones the pages return
  const full = `${g} where g % ${threads} < ${FULL_THREADS}`;
  const part = (prefix: string) => `case when g % ${threads} < ${FULL_THREADS} then md5('${prefix}' || g)::uuid end`;
  return [
    `insert into run_truncation_strategy (id, type, last_messages, has_last_messages) select md5('ts' || g)::uuid, 'last_messages', 10, true from ${full}`,
    `insert into run_tool_choice (id, mode) select md5('tc' || g)::uuid, 'auto' from ${full}`,
    `insert into run_response_format (id, type) select md5('rf' || g)::uuid, 'auto' from ${full}`,
    `insert into run_usage (id, prompt_tokens, completion_tokens, total_tokens) select md5('us' || g)::uuid, 800, 100, 900 from ${full}`,
    `insert into run_object (id, created_at, thread_id, assistant_id, status, started_at, completed_at, model, instructions, carries_file_ids,
        metadata, usage_id, temperature, top_p, max_prompt_tokens, max_completion_tokens, truncation_strategy_id, tool_choice_id, parallel_tool_calls, response_format_id)
      select 'run_fill_' || g, timestamptz '2024-01-01 00:00:00+00' + g * interval '1 second', 'thread_fill_' || (g % ${threads}), 'asst_fill_' || (g % 50),
        'completed', timestamptz '2024-01-01 00:00:01+00' + g * interval '1 second', timestamptz '2024-01-01 00:00:09+00' + g * interval '1 second',
        'gpt-4o', 'You are a weather bot.', false, json_build_object('n', g::text), ${part('us')}, 0.7, 1, 2000, 1000,
        ${part('ts')}, ${part('tc')}, true, ${part('rf')}
      from ${g}`,
    `insert into run_tool (id, run_id, position, type, function)
      select md5('t0' || g)::uuid, 'run_fill_' || g, 0, 'code_interpreter', null from ${full}
      union all select md5('t1' || g)::uuid, 'run_fill_' || g, 1, 'function', '${FUNCTION_TOOL}'::json from ${full}`,
    // Vacuumed, not only analyzed: the first reads after a bulk load would otherwise set the hint
    // bits of every page they touch (writes during the measurement), and autovacuum would start
    // on the new rows while the pages are timed.
    'vacuum (analyze)',
  ];
}

/** The thread ids a page walks (threads that exist in a table of `n` runs). */
export function fillThreads(n: number, count: number): string[] {
  const threads = Math.max(1, Math.floor(n / RUNS_PER_THREAD));
  return Array.from({ length: Math.min(count, FULL_THREADS, threads) }, (_, i) => `thread_fill_${i}`);
}

/** The recipe's fingerprint: the fill version, the size and the migrations applied. */
async function fingerprint(client: Client, n: number): Promise<string> {
  const { rows } = await client.query<{ name: string }>('select name from run_store_migrations order by name');
  return JSON.stringify({ version: FILL_VERSION, n, migrations: rows.map((r) => r.name) });
}

/** Whether `url`'s database holds a complete fill of `n` runs by this recipe and these migrations. */
export async function isFilled(url: string, n: number): Promise<boolean> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ fingerprint: string }>(
      `select fingerprint from bench_fill where exists (select 1 from pg_tables where tablename = 'bench_fill')`,
    ).catch(() => ({ rows: [] as { fingerprint: string }[] }));
    return rows.length === 1 && rows[0].fingerprint === (await fingerprint(client, n));
  } finally {
    await client.end();
  }
}

/** Fills a freshly migrated database with `n` runs; returns the seconds it took. */
export async function fill(url: string, n: number, log: (line: string) => void): Promise<number> {
  const client = new Client({ connectionString: url });
  await client.connect();
  const started = process.hrtime.bigint();
  try {
    await client.query('set synchronous_commit = off');
    for (const sql of fillStatements(n)) {
      const t = process.hrtime.bigint();
      await client.query(sql);
      log(`  ${sql.trim().split(/\s+/).slice(0, 3).join(' ')}: ${(Number(process.hrtime.bigint() - t) / 1e9).toFixed(1)} s`);
    }
    // pg_checkpoint (or superuser) may be missing on a user's server: then the checkpoint is skipped
    await client.query('checkpoint').catch(() => undefined);
    await client.query('create table bench_fill (fingerprint text not null)');
    await client.query('insert into bench_fill values ($1)', [await fingerprint(client, n)]);
  } finally {
    await client.end();
  }
  return Number(process.hrtime.bigint() - started) / 1e9;
}
