/**
 * The MikroORM CLI through the root mikro-orm.config.ts: from the repository (ts-node, the
 * TypeScript config and migrations) and from the build (the compiled config and migrations),
 * reading DATABASE_URL, on an empty database made for the test.
 */
import { cpSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { createDatabase, dropDatabase, uniqueDatabaseName, withDatabase } from '../../src/dev/databases';
import { ROOT, ensureBuilt, runNode } from './support/cli';

const MIKRO_ORM = path.join(ROOT, 'node_modules', '@mikro-orm', 'cli', 'cli');
const adminUrl = process.env.ARS_TEST_ADMIN_URL!;
const names = { ts: uniqueDatabaseName('ars_cli_orm_ts'), js: uniqueDatabaseName('ars_cli_orm_js') };
const dir = mkdtempSync(path.join(tmpdir(), 'ars-cli-migrations-'));

beforeAll(async () => {
  await ensureBuilt();
  await Promise.all(Object.values(names).map((n) => createDatabase(adminUrl, n)));
}, 120_000);
afterAll(async () => {
  await Promise.all(Object.values(names).map((n) => dropDatabase(adminUrl, n)));
  rmSync(dir, { recursive: true, force: true });
});

const plain = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, '');

function orm(mode: 'ts' | 'js', env: NodeJS.ProcessEnv = {}) {
  // No snapshot: after up/down the migrator would rewrite the repository's committed one from this database.
  const modeEnv = {
    MIKRO_ORM_MIGRATIONS_SNAPSHOT: 'false',
    ...(mode === 'js' ? { MIKRO_ORM_CLI_USE_TS_NODE: 'false', MIKRO_ORM_CLI_CONFIG: './dist/mikro-orm.config.js' } : {}),
  };
  return async (...args: string[]) => {
    const r = await runNode(MIKRO_ORM, args, { databaseUrl: withDatabase(adminUrl, names[mode]), env: { ...modeEnv, ...env, FORCE_COLOR: '0' } });
    return { ...r, out: plain(r.stdout + r.stderr) };
  };
}

describe.each(['ts', 'js'] as const)('npx mikro-orm migration:* (%s config)', (mode) => {
  it('list → up → list → check → down → up, on DATABASE_URL', async () => {
    const cli = orm(mode);
    const before = await cli('migration:list');
    expect(before).toMatchObject({ code: 0 });
    expect(before.out).toContain('No migrations executed yet');
    const pending = await cli('migration:pending');
    expect(pending.out).toMatch(/Migration\d+/);
    expect((await cli('migration:up')).out).toContain('Successfully migrated up to the latest version');
    const after = await cli('migration:list');
    expect(after.out).toMatch(/Migration\d+ .*│ \d{4}-\d\d-\d\dT/);
    const check = await cli('migration:check');
    expect(check).toMatchObject({ code: 0 });
    expect(check.out).toContain('No changes required');
    expect((await cli('migration:down', '--to', '0')).out).toContain('Successfully migrated down');
    expect((await cli('migration:list')).out).toContain('No migrations executed yet');
    expect((await cli('migration:up')).code).toBe(0);
  }, 90_000);
});

it('migration:check tells a json column from a jsonb one (the JSON parts must stay json to keep key order)', async () => {
  const cli = orm('ts');
  expect((await cli('migration:up')).code).toBe(0);
  const sql = async (text: string) => {
    const client = new Client({ connectionString: withDatabase(adminUrl, names.ts) });
    await client.connect();
    try {
      await client.query(text);
    } finally {
      await client.end();
    }
  };
  expect((await cli('migration:check')).out).toContain('No changes required');
  await sql('alter table run_object alter column metadata type jsonb');
  const drift = await cli('migration:check');
  expect(drift.code).not.toBe(0);
  expect(drift.out).toContain('Changes detected');
  await sql('alter table run_object alter column metadata type json');
  expect((await cli('migration:check')).out).toContain('No changes required');
}, 90_000);

it('npx mikro-orm migration:create writes a new migration beside the committed ones (into a copy here)', async () => {
  cpSync(path.join(ROOT, 'migrations'), dir, { recursive: true });
  const cli = orm('ts', { MIKRO_ORM_MIGRATIONS_PATH: dir, MIKRO_ORM_MIGRATIONS_PATH_TS: dir });
  const created = await cli('migration:create', '--blank');
  expect(created).toMatchObject({ code: 0 });
  expect(created.out).toMatch(/Migration\d+\.ts successfully created/);
  expect(readdirSync(dir).filter((f) => f.endsWith('.ts'))).toHaveLength(readdirSync(path.join(ROOT, 'migrations')).filter((f) => f.endsWith('.ts')).length + 1);
  const name = /(Migration\d+)\.ts successfully created/.exec(created.out)![1];
  expect((await cli('migration:pending')).out).toContain(name);
}, 90_000);
