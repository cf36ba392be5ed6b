/**
 * The store in a PostgreSQL schema of its own (MikroORM's `schema` option): the migrations create
 * everything there (tables, their trigger functions, MikroORM's table of applied migrations), every
 * operation of the repository, the ORM's own paths and the command line work there, and nothing
 * lands in `public`. Two schemas — `app` and `My App` (a name that needs quoting) — share one
 * database, and the connections' search path is the server's default (`"$user", public`, and
 * `public` holds none of the store's tables): a statement that named a table without its schema
 * would fail, or read the other store.
 */
import 'reflect-metadata';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { DefaultLogger, type LogContext } from '@mikro-orm/core';
import { MikroORM, type Options } from '@mikro-orm/postgresql';
import { Client } from 'pg';
import {
  InvalidRunTransitionError,
  RunObject,
  RunValidationError,
  ThreadHasActiveRunError,
  runStoreConfig,
  runStoreEntities,
  type ApiRun,
} from '../../src';
import { RUN_POPULATE } from '../../src/entities/run-object.entity';
import { closeListener } from '../../src/repositories/wakeups';
import { createDatabase, dropDatabase, uniqueDatabaseName, withDatabase } from '../../src/dev/databases';
import { inSchema, STORE_TABLES } from '../../src/sql/tables';
import { apiRunV2, apiRunWithEveryPart, createInput, uid } from '../factories';
import { ensureBuilt, runCli } from '../cli/support/cli';
import { CASES } from '../sql/cases';

const adminUrl = process.env.ARS_TEST_ADMIN_URL!;
const dbName = uniqueDatabaseName('ars_schema');
let url = '';
const orms: MikroORM[] = [];

async function sql<T extends Record<string, unknown> = Record<string, unknown>>(text: string, params: unknown[] = []): Promise<T[]> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(text, params)).rows as T[];
  } finally {
    await client.end();
  }
}

async function ormIn(schema: string | undefined, more: Options = {}): Promise<MikroORM> {
  const orm = await MikroORM.init(runStoreConfig({ clientUrl: url, pool: { min: 0, max: 4 }, migrations: { silent: true }, ...(schema ? { schema } : {}), ...more }));
  orms.push(orm);
  return orm;
}

/** Every table, function and trigger of the database, by schema (the store's and MikroORM's only). */
async function objectsIn(schema: string): Promise<{ tables: string[]; functions: string[]; triggers: string[] }> {
  const tables = await sql<{ n: string }>(`select table_name as n from information_schema.tables where table_schema = $1 order by 1`, [schema]);
  const functions = await sql<{ n: string }>(`select p.proname as n from pg_proc p join pg_namespace s on s.oid = p.pronamespace where s.nspname = $1 order by 1`, [schema]);
  const triggers = await sql<{ n: string }>(
    `select t.tgname as n from pg_trigger t join pg_class c on c.oid = t.tgrelid join pg_namespace s on s.oid = c.relnamespace where s.nspname = $1 and not t.tgisinternal order by 1`,
    [schema],
  );
  return { tables: tables.map((r) => r.n), functions: functions.map((r) => r.n), triggers: triggers.map((r) => r.n) };
}

/** What the migrations create without a schema (in public of a database of its own): the schema must hold the same. */
let STORE_OBJECTS: { tables: string[]; functions: string[]; triggers: string[] };
const NOTHING = { tables: [], functions: [], triggers: [] };

const referenceDb = uniqueDatabaseName('ars_schema_ref');

beforeAll(async () => {
  await createDatabase(adminUrl, referenceDb);
  url = withDatabase(adminUrl, referenceDb);
  const reference = await ormIn(undefined);
  await reference.getMigrator().up();
  STORE_OBJECTS = await objectsIn('public');
  expect(STORE_OBJECTS.tables).toEqual([...STORE_TABLES, 'run_store_migrations'].sort());
  expect(STORE_OBJECTS.functions).toContain('run_object_remove_parts');
  expect(STORE_OBJECTS.triggers).toContain('run_object_check_status');
  await createDatabase(adminUrl, dbName);
  url = withDatabase(adminUrl, dbName);
  await ensureBuilt();
}, 120_000);

afterAll(async () => {
  await Promise.all(orms.map((o) => o.close(true)));
  await dropDatabase(adminUrl, dbName);
  await dropDatabase(adminUrl, referenceDb);
});

const SCHEMAS = ['app', 'My App'] as const;

describe('the migrations', () => {
  it.each(SCHEMAS)('put every table, function and trigger in %j, and MikroORM records them there', async (schema) => {
    const orm = await ormIn(schema);
    await orm.getMigrator().up();
    expect(await objectsIn(schema)).toEqual(STORE_OBJECTS);
    const applied = await sql<{ name: string }>(`select name from ${inSchema('\u001d"run_store_migrations"', `"${schema}"`)} order by id`);
    expect(applied.map((r) => r.name)).toEqual(readdirSync(path.resolve(__dirname, '../../migrations')).filter((f) => /^Migration\d+\.ts$/.test(f)).map((f) => f.slice(0, -3)).sort());
    expect(await objectsIn('public')).toEqual(NOTHING);
    // a function that names a table finds it whatever the caller's search path: it keeps the migration's
    // (PostgreSQL quotes the value only where the name needs it)
    const functions = await sql<{ name: string; source: string; config: string[] | null }>(
      `select p.proname as name, p.prosrc as source, p.proconfig as config from pg_proc p join pg_namespace s on s.oid = p.pronamespace where s.nspname = $1 order by 1`,
      [schema],
    );
    const tables = (await objectsIn(schema)).tables;
    const namingTables = functions.filter((f) => tables.some((t) => new RegExp(`\\b(from|into|update|join)\\s+"?${t}\\b`, 'i').test(f.source)));
    expect(namingTables.map((f) => f.name)).toContain('run_object_remove_parts');
    for (const f of namingTables) expect({ name: f.name, config: f.config }).toEqual({ name: f.name, config: [`search_path=${schema === 'app' ? 'app' : `"${schema}"`}`] });
  });

  it('run down to nothing and up again, in the schema only', async () => {
    const orm = await ormIn('app');
    await orm.getMigrator().down({ to: 0 });
    expect(await objectsIn('app')).toEqual({ tables: ['run_store_migrations'], functions: [], triggers: [] });
    expect(await objectsIn('My App')).toEqual(STORE_OBJECTS);
    await orm.getMigrator().up();
    expect(await objectsIn('app')).toEqual(STORE_OBJECTS);
    expect(await objectsIn('public')).toEqual(NOTHING);
  });

  it('with a schema, refuse to run outside a transaction (the search path would not hold)', async () => {
    const orm = await ormIn('elsewhere', { migrations: { transactional: false, allOrNothing: false, silent: true } });
    const failure = await orm.getMigrator().up().catch((e: unknown) => e);
    // MikroORM's migrator (umzug) wraps whatever a migration throws in its MigrationError, with it as the cause
    expect((failure as { cause?: unknown }).cause).toBeInstanceOf(RunValidationError);
    expect((failure as { cause?: unknown }).cause).toMatchObject({ field: 'migrations.transactional' });
    expect((await objectsIn('elsewhere')).tables).toEqual(['run_store_migrations']);
    expect(await objectsIn('public')).toEqual(NOTHING);
  });

  it("the builders' tables are the entities' tables", async () => {
    const orm = await ormIn('app');
    const tables = runStoreEntities.map((entity) => orm.getMetadata().get(entity.name).tableName);
    expect(tables.sort()).toEqual([...STORE_TABLES].sort());
  });

  it("MikroORM's schema generator names the tables in the schema too (the index expressions included)", async () => {
    for (const schema of SCHEMAS) {
      const ddl = await (await ormIn(schema)).schema.getCreateSchemaSQL({ wrap: false });
      const onTables = [...ddl.matchAll(/ (?:on|table|references) ("[^"]+"(?:\."[^"]+")?)/g)].map((m) => m[1]);
      expect(onTables.length).toBeGreaterThan(40);
      expect(onTables.filter((t) => !t.startsWith(`"${schema}".`))).toEqual([]);
      expect(ddl).toContain(`create unique index "run_object_thread_active_key" on "${schema}"."run_object" ("thread_id") where`);
    }
    const unqualified = await (await ormIn(undefined)).schema.getCreateSchemaSQL({ wrap: false });
    expect(unqualified).toContain('create unique index "run_object_thread_active_key" on "run_object" ("thread_id") where');
    expect(unqualified).not.toMatch(/"public"\./);
  });

  it('every migration extends StoreMigration (one generated by the CLI must be changed to)', () => {
    const dir = path.resolve(__dirname, '../../migrations');
    for (const file of readdirSync(dir).filter((f) => /^Migration\d+\.ts$/.test(f))) {
      expect({ file, extendsStore: /extends StoreMigration \{/.test(readFileSync(path.join(dir, file), 'utf8')) }).toEqual({ file, extendsStore: true });
    }
  });
});

describe('every statement', () => {
  /** `prepare` parses and resolves every table of the text, with nothing executed. */
  async function prepareAll(schema: string | null): Promise<Record<string, string>> {
    const client = new Client({ connectionString: url });
    await client.connect();
    const failures: Record<string, string> = {};
    try {
      await client.query('set search_path to public');
      for (const [name, build] of Object.entries(CASES)) {
        let n = 0;
        const text = inSchema(build().sql, schema).replace(/\?/g, () => `$${++n}`);
        // only these can be prepared; another statement (a LISTEN) must name no table
        if (!/^(select|with|insert|update|delete) /.test(text)) {
          if (build().sql !== inSchema(build().sql, null)) failures[name] = 'names a table but cannot be prepared';
          continue;
        }
        try {
          await client.query(`prepare s as ${text}`);
          await client.query('deallocate s');
        } catch (error) {
          failures[name] = (error as { code?: string }).code ?? String(error);
        }
      }
    } finally {
      await client.end();
    }
    return failures;
  }

  it.each(SCHEMAS)('names its tables in the schema (each one prepared in %j, with public on the search path)', async (schema) => {
    expect(await prepareAll(`"${schema}"`)).toEqual({});
  });

  it('without the schema, fails there: the check above can fail', async () => {
    const failures = await prepareAll(null);
    // every statement that names a table (all but the clock's cutoff, …)
    const naming = Object.keys(CASES).filter((name) => CASES[name]().sql !== inSchema(CASES[name]().sql, null));
    expect(naming).not.toContain('purge-cutoff');
    expect(naming.length).toBeGreaterThan(40);
    expect(Object.keys(failures).sort()).toEqual(naming.sort());
    expect(new Set(Object.values(failures))).toEqual(new Set(['42P01']));
  });
});

describe.each(SCHEMAS)('the repository in %j', (schema) => {
  let orm: MikroORM;
  const runs = () => orm.em.fork().getRepository(RunObject);
  const other = SCHEMAS.find((s) => s !== schema)!;
  const countIn = async (s: string, table: string) => Number((await sql<{ n: string }>(`select count(*) as n from "${s}"."${table}"`))[0].n);

  beforeAll(async () => {
    orm = await ormIn(schema);
  });

  it('creates, moves, lists and reads runs, in both forms', async () => {
    const input = createInput();
    const run = await runs().create(input);
    expect(await countIn(schema, 'run_object')).toBeGreaterThanOrEqual(1);
    await runs().start(run.id);
    await runs().requireAction(run.id, [{ id: 'call_1', type: 'function', function: { name: 'f', arguments: '{}' } }]);
    await runs().submitToolOutputs(run.id, [{ tool_call_id: 'call_1', output: 'ok' }]);
    await runs().start(run.id);
    const done = await runs().complete(run.id, { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 });
    expect(done.status).toBe('completed');
    await runs().updateMetadata(run.id, { k: 'v' });
    // the history trigger wrote every change in the schema, with the tool outputs of the submit
    const history = await runs().history(run.id);
    expect(history.map((h) => h.to)).toEqual(['queued', 'in_progress', 'requires_action', 'queued', 'in_progress', 'completed']);
    expect(await countIn(schema, 'run_tool_output')).toBeGreaterThanOrEqual(1);
    const managed = await runs().getById(run.id);
    expect(JSON.stringify(await runs().api.getById(run.id))).toBe(JSON.stringify(managed));
    expect((await runs().getForThread(input.thread_id, run.id)).id).toBe(run.id);
    expect((await runs().listByThread(input.thread_id)).data.map((r) => r.id)).toEqual([run.id]);
    expect((await runs().api.listByAssistant(input.assistant_id)).data.map((r) => r.id)).toEqual([run.id]);
    expect((await runs().listByStatus(['completed'], { limit: 100 })).data.map((r) => r.id)).toContain(run.id);
    expect(await runs().countByStatus({ thread_id: input.thread_id })).toMatchObject({ completed: 1 });
    expect(await runs().usageTotals({ thread_id: input.thread_id })).toMatchObject({ runs: 1, total_tokens: 3 });
    const exported: ApiRun[] = [];
    for await (const r of runs().api.export({ thread_id: input.thread_id })) exported.push(r);
    expect(exported.map((r) => r.id)).toEqual([run.id]);
    // the other schema's store does not see it
    const there = (await ormIn(other)).em.fork().getRepository(RunObject);
    expect(await there.findById(run.id)).toBeNull();
  });

  it('keeps the thread lock and the status guard (their errors named in the schema)', async () => {
    const input = createInput();
    const first = await runs().create(input);
    const refused = await runs().create({ ...input }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ThreadHasActiveRunError);
    expect(refused).toMatchObject({ activeRunId: first.id });
    expect(await runs().findActiveForThread(input.thread_id)).toMatchObject({ id: first.id });
    const illegal = await runs().nativeUpdate({ id: first.id }, { status: 'completed' }).catch((e: unknown) => e);
    expect(illegal).toBeInstanceOf(InvalidRunTransitionError);
    await runs().cancel(first.id);
  });

  it('claims, heartbeats, recovers, expires and purges', async () => {
    const assistant = uid('asst');
    const a = await runs().create(createInput({ assistant_id: assistant }));
    const b = await runs().create(createInput({ assistant_id: assistant }));
    const claimed = (await runs().claimNext({ assistant_id: assistant, worker: 'w1', leaseSeconds: 30 }))!;
    expect(claimed.id).toBe(a.id);
    expect((await runs().history(a.id)).map((h) => h.actor)).toEqual(['caller', 'worker']);
    await runs().heartbeat(a.id, { worker: 'w1', attempt: claimed.attempt, leaseSeconds: 30 });
    await sql(`update "${schema}"."run_object" set lease_expires_at = clock_timestamp() - interval '1 second' where id = $1`, [a.id]);
    expect(await runs().recoverLapsed({ maxAttempts: 1 })).toEqual({ requeued: 0, failed: 1, cancelled: 0 });
    expect((await runs().api.getById(a.id)).last_error).toMatchObject({ code: 'server_error' });
    expect(await runs().expireOverdue(new Date(Date.now() + 3_600_000))).toBeGreaterThanOrEqual(1);
    expect((await runs().getById(b.id)).status).toBe('expired');
    const before = new Date(Date.now() + 3_600_000);
    expect(await runs().purgeRuns({ before, dryRun: true })).toBeGreaterThanOrEqual(2);
    const partsBefore = await countIn(schema, 'run_last_error');
    expect(await runs().purgeRuns({ before })).toBeGreaterThanOrEqual(2);
    expect(await runs().findById(a.id)).toBeNull();
    // the parts trigger, fired from a session whose search path is public, deleted a's last error in the schema
    expect(await countIn(schema, 'run_last_error')).toBeLessThan(partsBefore);
  });

  it('imports (insert and replace in place) and exports every part', async () => {
    const run = apiRunWithEveryPart({ id: uid('run'), thread_id: uid('thread'), status: 'completed' });
    await runs().importRun(run);
    await runs().importRun({ ...run, instructions: 'replaced' });
    expect(await runs().api.getById(run.id)).toMatchObject({ instructions: 'replaced' });
    expect(await runs().importRuns([apiRunV2({ id: uid('run'), thread_id: run.thread_id, status: 'failed' }), { ...run, model: 'batch' }])).toEqual([null, null]);
    const back = await runs().api.getById(run.id);
    expect(back).toMatchObject({ instructions: run.instructions, model: 'batch' });
    expect((await runs().api.listByThread(run.thread_id, { limit: 10 })).data).toHaveLength(2);
  });

  it("works through MikroORM's own paths: em.find, flush, em.remove", async () => {
    const input = createInput();
    const run = await runs().create(input);
    const em = orm.em.fork();
    const [loaded] = await em.find(RunObject, { threadId: input.thread_id }, { populate: RUN_POPULATE as never });
    expect(JSON.stringify(loaded)).toBe(JSON.stringify(await runs().getById(run.id)));
    loaded.instructions = 'by the ORM';
    await em.flush();
    expect((await runs().getById(run.id)).instructions).toBe('by the ORM');
    const partsBefore = await countIn(schema, 'run_truncation_strategy');
    em.remove(loaded);
    await em.flush();
    expect(await runs().findById(run.id)).toBeNull();
    expect(await countIn(schema, 'run_truncation_strategy')).toBe(partsBefore - 1);
  });

  it('wakes a waiting claim: the notification names the schema', async () => {
    const assistant = uid('asst');
    const waiting = runs().claimNext({ assistant_id: assistant, waitMs: 120_000 });
    // the listening connection is up, and the claim's check after listening (which would find the run without any notification) is over
    for (let i = 0; i < 200; i++) {
      const [{ n }] = await sql<{ n: number }>(`select count(*)::int as n from pg_stat_activity where datname = current_database() and query ilike 'listen %'`);
      if (n > 0) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
    const run = await runs().create(createInput({ assistant_id: assistant }));
    // woken, not at the end of its 120 s wait (the test's own limit is 30 s)
    expect((await waiting)?.id).toBe(run.id);
    await closeListener(orm.em);
  }, 30_000);

  it('leaves public empty', async () => {
    expect(await objectsIn('public')).toEqual(NOTHING);
  });
});

describe('the schema MikroORM resolves', () => {
  it("follows a fork's schema, with names of its own on one connection (prepared statements never mix schemas)", async () => {
    const orm = await ormIn(undefined, { entities: runStoreEntities, pool: { min: 0, max: 1 } });
    const inApp = orm.em.fork({ schema: 'app' }).getRepository(RunObject);
    const inMyApp = orm.em.fork({ schema: 'My App' }).getRepository(RunObject);
    const a = await inApp.create(createInput());
    const b = await inMyApp.create(createInput());
    expect((await inApp.findById(a.id))?.id).toBe(a.id);
    expect(await inMyApp.findById(a.id)).toBeNull();
    expect((await inMyApp.findById(b.id))?.id).toBe(b.id);
    expect(await inApp.findById(b.id)).toBeNull();
    // no schema at all: public, which has no tables here
    await expect(orm.em.fork().getRepository(RunObject).findById(a.id)).rejects.toMatchObject({ reason: 'not_migrated' });
  });

  it.each([['a.b'], [''], ['x"y'], ["it's"], ['pg_store'], ['back\\slash'], ['tab\there'], ['x'.repeat(64)], ['é'.repeat(32)]])('%j is refused with a RunValidationError on schema, before any SQL', async (bad) => {
    expect(() => runStoreConfig({ clientUrl: url, schema: bad })).toThrow(RunValidationError);
    const statements: string[] = [];
    const orm = await ormIn(undefined, {
      pool: { min: 0, max: 1 },
      debug: ['query'],
      loggerFactory: (options) =>
        new (class extends DefaultLogger {
          override logQuery(context: LogContext): void {
            statements.push(context.query ?? '');
          }
        })(options),
    });
    statements.length = 0; // MikroORM's own at init
    const refused = await orm.em.fork({ schema: bad }).getRepository(RunObject).findById('run_x').catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(RunValidationError);
    expect(refused).toMatchObject({ field: 'schema' });
    expect(statements).toEqual([]);
  });

  it("'public' and no schema are the unqualified statements", async () => {
    const orm = await ormIn('public');
    expect(orm.config.get('schema')).toBe('public');
    await expect(orm.em.fork().getRepository(RunObject).findById('run_x')).rejects.toMatchObject({ reason: 'not_migrated', code: '42P01' });
  });
});

describe('the command line', () => {
  const cli = (args: string[], input?: string) => runCli(args, { databaseUrl: url, input });

  it('migrate --schema, then every command in it; MIKRO_ORM_SCHEMA works the same', async () => {
    const migrated = await cli(['migrate', '--schema', 'cli store']);
    expect(migrated).toMatchObject({ code: 0, stderr: '' });
    expect(await objectsIn('cli store')).toEqual(STORE_OBJECTS);
    expect(await objectsIn('public')).toEqual(NOTHING);
    // what the app schema's store holds, exported and imported into the new schema
    const exported = await cli(['export', '--schema', 'app']);
    expect(exported.code).toBe(0);
    const lines = exported.stdout.trim().split('\n');
    expect(lines.length).toBeGreaterThan(2);
    const imported = await cli(['import', '-', '--schema', 'cli store', '--quiet'], exported.stdout);
    expect(imported).toMatchObject({ code: 0 });
    const again = await runCli(['export'], { databaseUrl: url, env: { MIKRO_ORM_SCHEMA: 'cli store' } });
    expect(again.stdout).toBe(exported.stdout);
    const stats = JSON.parse((await cli(['stats', '--json', '--schema', 'cli store'])).stdout) as { counts: Record<string, number> };
    expect(Object.values(stats.counts).reduce((a, b) => a + b, 0)).toBe(lines.length);
    expect(await cli(['expire', '--schema', 'cli store'])).toMatchObject({ code: 0 });
    expect(await cli(['recover', '--schema', 'cli store'])).toMatchObject({ code: 0, stdout: 'requeued 0, failed 0, cancelled 0\n' });
    const purge = await cli(['purge', '--before', '2999-01-01', '--dry-run', '--schema', 'cli store']);
    expect(purge).toMatchObject({ code: 0 });
    expect(purge.stdout).toMatch(/would purge \d+ runs?/);
    expect(await objectsIn('public')).toEqual(NOTHING);
  });

  it('demo --schema drives its runs there', async () => {
    const demo = await cli(['demo', '--schema', 'demo space']);
    expect(demo).toMatchObject({ code: 0 });
    expect(await objectsIn('demo space')).toEqual(STORE_OBJECTS);
    expect(Number((await sql<{ n: string }>(`select count(*) as n from "demo space"."run_object"`))[0].n)).toBeGreaterThan(3);
    expect(await objectsIn('public')).toEqual(NOTHING);
  });

  it('says so when the schema has no tables, and refuses a bad name', async () => {
    const missing = await cli(['stats', '--schema', 'nowhere']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/the run store's tables are missing in this database \(.*, schema nowhere\): apply the migrations first/);
    const bad = await cli(['stats', '--schema', 'a.b']);
    expect(bad).toMatchObject({ code: 2, stderr: 'assistants-run-store stats: error: --schema must not contain dots, quotes, backslashes or control characters\n' });
  });
});
