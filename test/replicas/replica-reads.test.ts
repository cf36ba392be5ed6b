/**
 * Reads on replicas: with `replicas` configured, the reads that show (a run, lists, counts, usage)
 * go to a read connection, everything that writes or decides to the primary, a transaction stays
 * on its connection, and `withPrimaryReads()` reads the primary (read-your-writes). Shown by the
 * logger's connection and by each server's own statement log, on a private primary and a real
 * streaming replica (`pg_basebackup -R`).
 */
import 'reflect-metadata';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { DefaultLogger, type LogContext } from '@mikro-orm/core';
import { MikroORM } from '@mikro-orm/postgresql';
import { RunObject, runStoreConfig } from '../../src';
import { createInput, uid } from '../factories';
import { useCluster, type ClusterHandle } from '../support/pg-cluster';

const primary = useCluster({ settings: { log_statement: 'all' } });
let replica: ClusterHandle;
let orm: MikroORM;
const logged: { type: string; name: string; query: string }[] = [];

beforeAll(async () => {
  await primary().query('create database app');
  replica = await primary().startReplica();
  orm = await MikroORM.init(
    runStoreConfig({
      clientUrl: primary().url('app'),
      replicas: [{ name: 'replica-1', clientUrl: replica.url('app') }],
      migrations: { silent: true },
      debug: ['query'],
      loggerFactory: (options) =>
        new (class extends DefaultLogger {
          override logQuery(context: LogContext): void {
            logged.push({ type: context.connection?.type ?? '?', name: context.connection?.name ?? '?', query: context.query ?? '' });
          }
        })(options),
    }),
  );
  await orm.getMigrator().up();
  await replica.catchUp();
}, 120_000);

afterAll(async () => {
  await orm?.close(true);
});

const serverLog = (cluster: ClusterHandle) => readFileSync(path.join(cluster.root, 'server.log'), 'utf8');
const count = (text: string, fragment: string) => text.split(fragment).length - 1;
/** The connection type of the store's statements logged while `fn` ran. */
async function connectionsOf(fn: () => Promise<unknown>): Promise<string[]> {
  logged.length = 0;
  await fn();
  return logged.filter((l) => !/^(begin|commit|rollback|savepoint|release)/i.test(l.query)).map((l) => `${l.type}:${l.name}`);
}

test('showing reads go to the replica, writes and decisions to the primary (logger and server logs agree)', async () => {
  const runs = orm.em.fork().getRepository(RunObject);
  const thread = uid('thread');
  const run = await runs.create(createInput({ thread_id: thread }));
  await replica.catchUp();
  const marker = `${run.id}`;
  const before = { primary: count(serverLog(primary()), marker), replica: count(serverLog(replica), marker) };

  const reads = orm.em.fork().getRepository(RunObject);
  expect(await connectionsOf(() => reads.findById(run.id))).toEqual(['read:replica-1']);
  expect(await connectionsOf(() => reads.listByThread(thread))).toEqual(['read:replica-1']);
  expect(await connectionsOf(() => reads.countByStatus({ thread_id: thread }))).toEqual(['read:replica-1']);
  expect(await connectionsOf(() => reads.usageTotals({ thread_id: thread }))).toEqual(['read:replica-1']);
  const afterReads = { primary: count(serverLog(primary()), marker), replica: count(serverLog(replica), marker) };
  // findById's parameter is the run id: it reached the replica's server, not the primary's
  expect(afterReads.replica).toBeGreaterThan(before.replica);
  expect(afterReads.primary).toBe(before.primary);

  const writes = orm.em.fork().getRepository(RunObject);
  const started = await connectionsOf(() => writes.start(run.id));
  expect(started.every((c) => c.startsWith('write:'))).toBe(true);
  expect(await connectionsOf(() => writes.claimNext({ assistant_id: uid('asst') }))).toEqual([expect.stringMatching(/^write:/)]);
  expect(await connectionsOf(() => writes.findActiveForThread(thread))).toEqual([expect.stringMatching(/^write:/)]);
  expect(count(serverLog(primary()), marker)).toBeGreaterThan(afterReads.primary);
});

test('read-your-writes: withPrimaryReads() sees a run the lagging replica does not have yet', async () => {
  await replica.query('select pg_wal_replay_pause()');
  try {
    const runs = orm.em.fork().getRepository(RunObject);
    const run = await runs.create(createInput());
    expect(await orm.em.fork().getRepository(RunObject).findById(run.id)).toBeNull();
    const primaryReads = orm.em.fork().getRepository(RunObject).withPrimaryReads();
    expect(await connectionsOf(async () => expect((await primaryReads.findById(run.id))?.id).toBe(run.id))).toEqual([expect.stringMatching(/^write:/)]);
  } finally {
    await replica.query('select pg_wal_replay_resume()');
  }
});

test("inside the caller's transaction every statement stays on its connection", async () => {
  const thread = uid('thread');
  const used = await connectionsOf(() =>
    orm.em.fork().transactional(async (em) => {
      const runs = em.getRepository(RunObject);
      const run = await runs.create(createInput({ thread_id: thread }));
      await runs.findById(run.id);
      await runs.listByThread(thread);
      await runs.countByStatus({ thread_id: thread });
    }),
  );
  expect(used.length).toBeGreaterThanOrEqual(4);
  expect(used.every((c) => c.startsWith('write:'))).toBe(true);
});

test('waits listen on the primary and check there: a waiting server and a waiting worker of an ORM with replicas are woken by the primary', async () => {
  const listenersOn = async (cluster: ClusterHandle) => (await cluster.query(`select count(*)::int as n from pg_stat_activity where datname = 'app' and query ilike 'listen %'`))[0].n;
  const runs = orm.em.fork().getRepository(RunObject);
  const run = await runs.create(createInput());
  const assistant = uid('asst');
  logged.length = 0;
  const server = runs.api.waitForStatus(run.id, 'cancelled', { timeoutMs: 20_000 });
  const worker = orm.em.fork().getRepository(RunObject).claimNext({ assistant_id: assistant, waitMs: 20_000 });
  const deadline = Date.now() + 10_000;
  while ((await listenersOn(primary())) !== 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  expect({ primary: await listenersOn(primary()), replica: await listenersOn(replica) }).toEqual({ primary: 1, replica: 0 });
  await runs.cancel(run.id);
  const created = await runs.create(createInput({ assistant_id: assistant }));
  expect((await server).status).toBe('cancelled');
  expect((await worker)!.id).toBe(created.id);
  // every statement of the waits went to the primary (no replica lag can hide what the notification announced)
  expect(logged.filter((l) => l.type !== 'write')).toEqual([]);
});
