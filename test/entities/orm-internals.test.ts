/**
 * The MikroORM internals that repositories/unit-of-work.ts relies on (no semver range protects an
 * `@internal` API): this file fails when the installed @mikro-orm packages are not a version they
 * were verified against (`VERIFIED_MIKRO_ORM`, the package's peer range), and exercises each
 * internal for the behaviour the bridge needs, so that an upgrade that changes one fails here by name.
 */
import { ArrayCollection, Collection, EntityHelper, helper, type EventArgs, type EventSubscriber } from '@mikro-orm/core';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { RunObject } from '../../src/entities/run-object.entity';
import { RunTool } from '../../src/entities/collections.entity';
import { VERIFIED_MIKRO_ORM } from '../../src/repositories/unit-of-work';
import { useTestDatabase } from '../support/test-database';

const loaded: object[] = [];
class OnLoad implements EventSubscriber {
  async onLoad(args: EventArgs<object>): Promise<void> {
    loaded.push(args.entity);
  }
}
const db = useTestDatabase({ subscribers: [new OnLoad()] });

const ROOT = path.resolve(__dirname, '..', '..');
const versionOf = (name: string) => (JSON.parse(readFileSync(require.resolve(`${name}/package.json`, { paths: [ROOT] }), 'utf8')) as { version: string }).version;

/** Whether `version` is in a `~M.m.p` range (>= M.m.p, < M.(m+1).0). */
function inTildeRange(version: string, range: string): boolean {
  const [, major, minor, patch] = /^~(\d+)\.(\d+)\.(\d+)$/.exec(range)!.map(Number);
  const [v0, v1, v2] = version.split(/[.-]/).map(Number);
  return v0 === major && v1 === minor && v2 >= patch && !version.includes('-');
}

it('the installed @mikro-orm packages are a version the internals were verified against, and the peer range says the same', () => {
  const manifest = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { peerDependencies: Record<string, string> };
  for (const name of ['@mikro-orm/core', '@mikro-orm/postgresql', '@mikro-orm/migrations']) {
    expect([name, manifest.peerDependencies[name]]).toEqual([name, VERIFIED_MIKRO_ORM]);
    expect([name, versionOf(name), inTildeRange(versionOf(name), VERIFIED_MIKRO_ORM)]).toEqual([name, versionOf(name), true]);
  }
  expect(inTildeRange('6.6.16', '~6.6.16')).toBe(true);
  expect(inTildeRange('6.7.0', '~6.6.16')).toBe(false);
  expect(inTildeRange('6.6.15', '~6.6.16')).toBe(false);
});

it('EntityHelper.ensurePropagation: an instance made without its constructor tracks its properties', () => {
  const run = Object.create(RunObject.prototype) as RunObject;
  EntityHelper.ensurePropagation(run);
  run.status = 'queued';
  expect(helper(run).__data.status).toBe('queued'); // the accessor stores into the wrapped entity's data
  expect(Object.keys(run)).toContain('status'); // enumerable, as a loaded entity's
});

it('ArrayCollection#hydrate and #takeSnapshot: a collection loaded with items, clean', () => {
  const run = Object.create(RunObject.prototype) as RunObject;
  EntityHelper.ensurePropagation(run);
  const tool = Object.create(RunTool.prototype) as RunTool;
  EntityHelper.ensurePropagation(tool);
  const tools = Collection.create<RunTool, RunObject>(run, 'tools', undefined, true);
  expect(typeof ArrayCollection.prototype.hydrate).toBe('function');
  tools.hydrate([tool]);
  expect([tools.isInitialized(), tools.getItems(), tools.isDirty()]).toEqual([true, [tool], false]);
  tools.takeSnapshot();
  expect(tools.getSnapshot()).toEqual([tool]);
});

it('UnitOfWork#register (loaded) and #dispatchOnLoadEvent; the snapshot __originalEntityData and __touched', async () => {
  const em = db.em();
  const uow = em.getUnitOfWork();
  const run = Object.assign(Object.create(RunObject.prototype) as RunObject, {});
  EntityHelper.ensurePropagation(run);
  Object.assign(run, { id: 'run_internals', status: 'queued', metadata: null });
  const snapshot = { id: 'run_internals', status: 'queued', metadata: null };
  uow.register(run, snapshot as never, { loaded: true });
  expect(uow.getById(RunObject.name, 'run_internals')).toBe(run);
  const wrapped = helper(run);
  expect([wrapped.__managed, wrapped.__originalEntityData, wrapped.__loadedProperties.has('status')]).toEqual([true, snapshot, true]);
  expect(typeof wrapped.__touched).toBe('boolean');
  loaded.length = 0;
  await uow.dispatchOnLoadEvent();
  expect(loaded).toEqual([run]);
  await uow.dispatchOnLoadEvent(); // once only
  expect(loaded).toEqual([run]);
});
