/**
 * The published types, as a consumer compiles them: `strict` and `skipLibCheck: false` against the
 * built `dist/` declarations (ts-jest's own check of the sources cannot see what the .d.ts say).
 * And the repository is what MikroORM users expect: substitutable for `EntityRepository<RunObject>`,
 * its `create` both the ORM's builder and the store's creation.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { wrap } from '@mikro-orm/core';
import { RunObject } from '../../src';
import { createInput } from '../factories';
import { ensureBuilt, ROOT } from '../cli/support/cli';
import { useTestDatabase } from '../support/test-database';

const db = useTestDatabase();

const CONSUMER = `
import { EntityRepository, MikroORM } from '@mikro-orm/postgresql';
import { RunObject, RunRepository, runStoreConfig, RunStoreUnavailableError, type ApiRun } from '../../dist/src';

export async function main(): Promise<ApiRun> {
  const orm = await MikroORM.init(runStoreConfig({ clientUrl: 'postgresql://app@127.0.0.1/app' }, { statementTimeoutMs: 5000 }));
  const runs: RunRepository = orm.em.fork().getRepository(RunObject);
  const asBase: EntityRepository<RunObject> = runs;
  const built: RunObject = asBase.create({ id: 'run_x', threadId: 't', assistantId: 'a', model: 'm', status: 'queued', createdAt: new Date(), metadata: {} });
  const stored: RunObject = await runs.create({ thread_id: 't', assistant_id: 'a', model: 'm' });
  const unavailable: boolean = new RunStoreUnavailableError('connection_lost', true, true).outcomeUnknown;
  void built; void unavailable;
  return stored.toJSON();
}
`;

const TSCONFIG = {
  compilerOptions: { strict: true, skipLibCheck: false, noEmit: true, target: 'ES2022', module: 'commonjs', moduleResolution: 'node', esModuleInterop: true, types: ['node'] },
  files: ['consumer.ts'],
};

test('a strict consumer with skipLibCheck: false compiles against the published declarations', async () => {
  await ensureBuilt();
  const dir = path.join(ROOT, '.tmp', `types-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  try {
    writeFileSync(path.join(dir, 'consumer.ts'), CONSUMER);
    writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify(TSCONFIG));
    let output = '';
    try {
      execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', dir], { cwd: ROOT, stdio: 'pipe' });
    } catch (error) {
      output = String((error as { stdout?: Buffer }).stdout ?? error);
    }
    expect(output).toBe('');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 120_000);

test("create with entity data is MikroORM's builder; with the API's input it stores a run", async () => {
  const runs = db.runs();
  const built = runs.create({ id: 'run_built', threadId: 't', assistantId: 'a', model: 'm', status: 'queued', createdAt: new Date(), metadata: {} });
  expect(built).toBeInstanceOf(RunObject);
  expect(wrap(built, true).__managed).toBeFalsy();
  const stored = await runs.create(createInput());
  expect(stored.status).toBe('queued');
  expect(await db.sql('select id from run_object where id = $1', [stored.id])).toHaveLength(1);
  const viaName = await db.runs().createRun(createInput());
  expect(viaName.id).toMatch(/^run_/);
});
