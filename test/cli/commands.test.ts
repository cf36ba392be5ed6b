/**
 * `migrate`, `expire`, `stats`, `demo` and the one-line errors, each as a subprocess on a real
 * database (the file's fresh one, or an empty one made for the test).
 */
import { createServer } from 'node:net';
import { apiRunV2, uid } from '../factories';
import { createDatabase, dropDatabase, uniqueDatabaseName, withDatabase } from '../../src/dev/databases';
import { useTestDatabase } from '../support/test-database';
import { ensureBuilt, MIGRATION_NAMES, migrationsWord, runCli } from './support/cli';

const db = useTestDatabase();
const adminUrl = process.env.ARS_TEST_ADMIN_URL!;
const emptyDb = uniqueDatabaseName('ars_cli_empty');
const createdDb = uniqueDatabaseName('ars_cli_created');

beforeAll(async () => {
  await ensureBuilt();
  await createDatabase(adminUrl, emptyDb);
}, 120_000);
afterAll(async () => {
  await dropDatabase(adminUrl, emptyDb);
  await dropDatabase(adminUrl, createdDb);
});

describe('migrate', () => {
  it('applies the migrations to an empty database, then has nothing to do', async () => {
    const url = withDatabase(adminUrl, createdDb);
    const first = await runCli(['migrate'], { databaseUrl: url });
    expect(first).toMatchObject({ code: 0, stderr: '' });
    expect(first.stdout).toMatch(new RegExp(`^applied ${migrationsWord(MIGRATION_NAMES.length)} in \\d+ ms: ${MIGRATION_NAMES.join(', ')}\n$`));
    const again = await runCli(['migrate'], { databaseUrl: url });
    expect(again).toMatchObject({ code: 0, stdout: `nothing to apply: the database is up to date (${migrationsWord(MIGRATION_NAMES.length)} applied)\n` });
    const stats = await runCli(['export'], { databaseUrl: url });
    expect(stats).toMatchObject({ code: 0, stdout: '' });
  });
});

describe('errors are one clear line and a non-zero exit', () => {
  const freePort = () =>
    new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const { port } = s.address() as { port: number };
        s.close(() => resolve(port));
      });
    });

  it('an unreachable database', async () => {
    const r = await runCli(['stats'], { databaseUrl: `postgresql://postgres@127.0.0.1:${await freePort()}/x` });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^assistants-run-store stats: error: cannot reach PostgreSQL at 127\.0\.0\.1:\d+: connection refused \(is the server running, and is DATABASE_URL right\?\)\n$/);
  });

  it('a bad URL, a URL without a database, no URL at all', async () => {
    for (const [url, message] of [
      ['not a url', 'DATABASE_URL is not a valid URL: expected postgresql://user:password@host:5432/database'],
      ['mysql://u@h/d', 'DATABASE_URL must start with postgresql:// (got mysql://)'],
      ['postgresql://u@h:5432', 'DATABASE_URL names no database: add it as the path, e.g. postgresql://h:5432/mydb'],
    ]) {
      const r = await runCli(['expire'], { databaseUrl: url });
      expect([r.code, r.stderr]).toEqual([2, `assistants-run-store expire: error: ${message}\n`]);
    }
    const none = await runCli(['export'], { databaseUrl: null });
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/^assistants-run-store export: error: DATABASE_URL is not set: /);
  });

  it('a database that does not exist, and one without the tables (migrations not applied)', async () => {
    const missing = await runCli(['stats'], { databaseUrl: withDatabase(adminUrl, 'ars_no_such_database') });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^assistants-run-store stats: error: database "ars_no_such_database" does not exist on .*\n$/);
    const empty = await runCli(['expire'], { databaseUrl: withDatabase(adminUrl, emptyDb) });
    expect(empty.code).toBe(1);
    expect(empty.stderr).toMatch(/^assistants-run-store expire: error: the run store's tables are missing in this database \(.*\): apply the migrations first with `assistants-run-store migrate`\n$/);
  });

  it('stack traces only with --verbose; usage errors exit 2', async () => {
    const url = withDatabase(adminUrl, emptyDb);
    const verbose = await runCli(['export', '--verbose'], { databaseUrl: url });
    expect(verbose.stderr.split('\n').length).toBeGreaterThan(3);
    expect(verbose.stderr).toMatch(/\n\s+at /);
    const unknown = await runCli(['frobnicate'], { databaseUrl: url });
    expect([unknown.code, unknown.stderr]).toEqual([2, 'assistants-run-store frobnicate: error: unknown command \'frobnicate\' (commands: migrate, expire, recover, purge, stats, import, export, demo)\n']);
    const flag = await runCli(['stats', '--frob'], { databaseUrl: url });
    expect(flag.code).toBe(2);
    expect(flag.stderr).toContain("Unknown option '--frob'");
    const help = await runCli(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage: assistants-run-store <command> [options]');
  });
});

describe('expire', () => {
  it('moves the overdue active runs to expired and prints the count', async () => {
    const now = Math.floor(Date.now() / 1000);
    const overdue = [apiRunV2({ created_at: now - 700, expires_at: now - 100 }), apiRunV2({ created_at: now - 700, expires_at: now - 1, status: 'in_progress', started_at: now - 650 })];
    const fresh = apiRunV2({ created_at: now, expires_at: now + 600 });
    for (const run of [...overdue, fresh]) await db.runs().importRun(run);
    const r = await runCli(['expire'], { databaseUrl: db.url });
    expect(r).toMatchObject({ code: 0, stdout: 'expired 2 runs\n', stderr: '' });
    expect((await db.runs().getById(overdue[1].id)).status).toBe('expired');
    expect((await db.runs().getById(fresh.id)).status).toBe('queued');
    const later = await runCli(['expire', '--json', '--now', String(now + 601)], { databaseUrl: db.url });
    expect(later).toMatchObject({ code: 0, stdout: '{"expired":1}\n' });
  });
});

describe('stats', () => {
  const assistant = uid('asst');
  const thread = uid('thread');
  beforeAll(async () => {
    const usage = (n: number) => ({ prompt_tokens: n, completion_tokens: 10, total_tokens: n + 10 });
    const runs = [
      apiRunV2({ assistant_id: assistant, thread_id: thread, created_at: 1_700_000_000, status: 'completed', expires_at: null, usage: usage(100) }),
      apiRunV2({ assistant_id: assistant, thread_id: thread, created_at: 1_700_000_100, status: 'failed', expires_at: null, usage: usage(50), last_error: { code: 'server_error', message: 'x' } }),
      apiRunV2({ assistant_id: assistant, created_at: 1_700_000_200, status: 'queued', expires_at: 4_000_000_000 }),
      apiRunV2({ assistant_id: assistant, created_at: 1_700_000_300, status: 'completed', expires_at: null, usage: usage(1000) }),
    ];
    for (const run of runs) await db.runs().importRun(run);
  });

  it('prints counts by status and usage totals as tables', async () => {
    const r = await runCli(['stats', '--assistant', assistant], { databaseUrl: db.url });
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(r.stdout).toContain(`Runs by status (assistant ${assistant})`);
    expect(r.stdout).toMatch(/│ completed +│ +2 │/);
    expect(r.stdout).toMatch(/│ total +│ +4 │/);
    expect(r.stdout).toMatch(/│ +4 │ +1,150 │ +30 │ +1,180 │/);
  });

  it('--json, and the thread and time-window filters', async () => {
    const json = async (...args: string[]) => {
      const r = await runCli(['stats', '--json', ...args], { databaseUrl: db.url });
      expect(r.code).toBe(0);
      return JSON.parse(r.stdout);
    };
    const byThread = await json('--thread', thread);
    expect(byThread.counts).toEqual({ queued: 0, in_progress: 0, requires_action: 0, cancelling: 0, cancelled: 0, failed: 1, completed: 1, incomplete: 0, expired: 0 });
    expect(byThread.usage).toEqual({ runs: 2, prompt_tokens: 150, completion_tokens: 20, total_tokens: 170 });
    const window = await json('--assistant', assistant, '--since', '1700000100', '--until', '2023-11-14T22:18:20Z');
    expect(window.filter).toEqual({ thread_id: null, assistant_id: assistant, created_after: 1_700_000_100, created_before: 1_700_000_300 });
    expect(window.counts).toMatchObject({ failed: 1, queued: 1, completed: 0 });
    expect(window.usage).toEqual({ runs: 2, prompt_tokens: 50, completion_tokens: 10, total_tokens: 60 });
  });
});

describe('demo', () => {
  it('drives runs through the whole lifecycle and prints the lists and stats (on DATABASE_URL)', async () => {
    const r = await runCli(['demo'], { databaseUrl: db.url });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    for (const expected of [
      'requires_action',
      'submitToolOutputs',
      '→ cancelling',
      '→ cancelled',
      'expireOverdue() → 1 run expired',
      'claimNext → null: the queue is empty',
      'listByThread(',
      'Runs by status (assistant asst_demo_',
      'Usage totals',
    ]) {
      expect(r.stdout).toContain(expected);
    }
  });
});
