import { existsSync } from 'node:fs';
import { Client } from 'pg';
import { assertPgBinaries, useCluster, type ClusterHandle } from './pg-cluster';

async function connect(url: string): Promise<Client> {
  const client = new Client({ connectionString: url });
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

describe('private PostgreSQL clusters (test/support/pg-cluster.ts)', () => {
  const cluster = useCluster();

  it('names the missing binaries instead of skipping', () => {
    expect(() => assertPgBinaries('/nonexistent/pg/bin')).toThrow(/initdb, pg_ctl, postgres, pg_basebackup in \/nonexistent\/pg\/bin/);
  });

  it('runs on its own port, keeps acknowledged rows across a fast and an immediate restart', async () => {
    const pg = cluster();
    expect(pg.port).not.toBe(5432);
    const [{ port, fsync }] = await pg.query<{ port: string; fsync: string }>(`select current_setting('port') as port, current_setting('fsync') as fsync`);
    expect({ port: Number(port), fsync }).toEqual({ port: pg.port, fsync: 'off' });
    await pg.query('create table t (id int primary key)');
    await pg.query('insert into t values (1)');
    await pg.restart({ mode: 'fast' });
    await pg.query('insert into t values (2)');
    await pg.restart({ mode: 'immediate', downtimeMs: 50 });
    expect(await pg.query('select id from t order by id')).toEqual([{ id: 1 }, { id: 2 }]);
  });

  it('refuses connections while stopped and accepts them again after startServer()', async () => {
    const pg = cluster();
    await pg.stopServer('fast');
    await expect(connect(pg.url())).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    await pg.startServer();
    expect(await pg.query('select 1 as one')).toEqual([{ one: 1 }]);
  });

  it('terminates the chosen sessions only: by database, busy ones, a random pick', async () => {
    const pg = cluster();
    await pg.query('create database app');
    const idle = await connect(pg.url('app'));
    const inTransaction = await connect(pg.url('app'));
    const third = await connect(pg.url('app'));
    const bystander = await connect(pg.url());
    const pidOf = async (c: Client) => (await c.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0].pid;
    try {
      const [idlePid, busyPid, thirdPid] = [await pidOf(idle), await pidOf(inTransaction), await pidOf(third)];
      await inTransaction.query('begin');
      expect((await pg.backends({ database: 'app' })).map((b) => b.pid)).toEqual([idlePid, busyPid, thirdPid].sort((a, b) => a - b));
      expect(await pg.terminateBackends({ database: 'app', busy: true })).toEqual([
        { pid: busyPid, database: 'app', applicationName: '', state: 'idle in transaction' },
      ]);
      await expect(inTransaction.query('select 1')).rejects.toThrow();
      const picked = await pg.terminateBackends({ database: 'app', pick: 1 });
      expect(picked).toHaveLength(1);
      expect([idlePid, thirdPid]).toContain(picked[0].pid);
      // pg_terminate_backend signals and returns: the backend leaves pg_stat_activity a moment later
      const left = [idlePid, thirdPid].filter((p) => p !== picked[0].pid);
      let listed: number[] = [];
      for (let i = 0; i < 100; i++) {
        listed = (await pg.backends({ database: 'app' })).map((b) => b.pid);
        if (!listed.includes(picked[0].pid)) break;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(listed).toEqual(left);
      expect((await bystander.query('select 1 as one')).rows).toEqual([{ one: 1 }]);
    } finally {
      for (const c of [idle, inTransaction, third, bystander]) await c.end().catch(() => undefined);
    }
  });

  it('makes a streaming replica that sees the primary’s writes and refuses its own', async () => {
    const pg = cluster();
    await pg.query('create table r (id int primary key, v text)');
    const replica = await pg.startReplica();
    expect(replica.isReplica).toBe(true);
    expect(replica.port).not.toBe(pg.port);
    expect(await replica.query('select pg_is_in_recovery() as recovering')).toEqual([{ recovering: true }]);
    expect(await pg.query('select pg_is_in_recovery() as recovering')).toEqual([{ recovering: false }]);
    await pg.query(`insert into r values (1, 'written on the primary')`);
    await replica.catchUp();
    expect(await replica.query('select id, v from r')).toEqual([{ id: 1, v: 'written on the primary' }]);
    await expect(replica.query(`insert into r values (2, 'x')`)).rejects.toMatchObject({ code: '25006' });
    const [{ senders }] = await pg.query<{ senders: number }>(`select count(*)::int as senders from pg_stat_replication where state = 'streaming'`);
    expect(senders).toBe(1);
  });

  it('stop() ends the server and removes its folder', async () => {
    const pg = cluster();
    const replica: ClusterHandle = await pg.startReplica();
    await pg.stop();
    expect(existsSync(pg.root)).toBe(false);
    expect(existsSync(replica.root)).toBe(false);
    await expect(connect(pg.url())).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    await expect(connect(replica.url())).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });
});
