/**
 * Private PostgreSQL clusters for the tests that kill backends, restart the server or need a
 * streaming replica — never the machine's shared server. Each cluster is `initdb`'d into its own
 * temporary folder and listens on 127.0.0.1 on a free port of its own, trust authentication,
 * `fsync = off` (commits still reach the OS before they are acknowledged: `synchronous_commit`
 * stays on, so an immediate shutdown loses no acknowledged write).
 *
 * Binaries: Debian's PostgreSQL 15 (`/usr/lib/postgresql/15/bin`, or `ARS_PG_BIN_DIR`). They are
 * required: a test that asks for a cluster fails with a clear message where they are missing.
 * PostgreSQL refuses to run as root, so as root every binary runs as the `postgres` OS user.
 *
 * In a jest file, `useCluster()` starts one for the file and removes it after (test failures
 * included); `startCluster()` is the bare form (call `stop()` yourself).
 */
import { execFile, spawnSync } from 'node:child_process';
import { accessSync, constants as fsConstants, readFileSync, rmSync } from 'node:fs';
import { appendFile, chown, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Pool } from 'pg';
import { freePort } from '../../src/dev/embedded-postgres';

export const PG_BIN_DIR = process.env.ARS_PG_BIN_DIR || '/usr/lib/postgresql/15/bin';
const BINARIES = ['initdb', 'pg_ctl', 'postgres', 'pg_basebackup'] as const;

/** The `application_name` of the helper's own connections (never among `backends()`). */
export const CLUSTER_ADMIN_APP = 'ars-pg-cluster-admin';

/** How a server stops: `fast` (sessions ended with 57P01, clean checkpoint) or `immediate` (a crash: recovery at the next start). */
export type StopMode = 'fast' | 'immediate';

export interface ClusterOptions {
  /** Extra `postgresql.conf` settings (e.g. `{ max_connections: 50 }`). */
  settings?: Record<string, string | number | boolean>;
}

export interface Backend {
  pid: number;
  database: string | null;
  applicationName: string;
  /** `active`, `idle`, `idle in transaction`, … */
  state: string | null;
}

export interface BackendFilter {
  /** Only sessions on this database. */
  database?: string;
  /** Only sessions with this `application_name` (or one of these). */
  applicationName?: string | readonly string[];
  /** Only these process ids. */
  pids?: readonly number[];
  /** Only sessions that are not `idle` (running a statement, or inside a transaction). */
  busy?: boolean;
  /** At most this many of the matching sessions, chosen at random by the server. */
  pick?: number;
}

export interface ClusterHandle {
  readonly port: number;
  /** `true` for a streaming replica made by `startReplica()`. */
  readonly isReplica: boolean;
  /** The folder holding the data directory and the server log (removed by `stop()`). */
  readonly root: string;
  /** A superuser URL to `database` (default `postgres`). */
  url(database?: string): string;
  /** One statement as superuser on `database` (default `postgres`), on the helper's own small pool. */
  query<T extends Record<string, unknown> = Record<string, unknown>>(sql: string, params?: unknown[], database?: string): Promise<T[]>;
  /** Client sessions other than the helper's own. */
  backends(filter?: BackendFilter): Promise<Backend[]>;
  /** `pg_terminate_backend` on every session `backends(filter)` lists, in one statement; returns the sessions it ended. */
  terminateBackends(filter?: BackendFilter): Promise<Backend[]>;
  /** `pg_ctl stop -m mode` (the data stays). */
  stopServer(mode?: StopMode): Promise<void>;
  /** `pg_ctl start`, waiting until it accepts connections (a replica: until it is a hot standby). */
  startServer(): Promise<void>;
  /** `stopServer(mode)`, `downtimeMs` with no server, then `startServer()`. */
  restart(options?: { mode?: StopMode; downtimeMs?: number }): Promise<void>;
  /** A streaming replica of this cluster (`pg_basebackup -R`), started; stopped with this one. */
  startReplica(): Promise<ClusterHandle>;
  /** Waits until this replica has replayed everything its primary had written when called. */
  catchUp(timeoutMs?: number): Promise<void>;
  /** Stops the server (and its replicas) and removes the folder. Idempotent. */
  stop(): Promise<void>;
}

/** Throws a clear error when the PostgreSQL binaries the clusters need are missing. */
export function assertPgBinaries(binDir = PG_BIN_DIR): void {
  const missing = BINARIES.filter((name) => {
    try {
      accessSync(path.join(binDir, name), fsConstants.X_OK);
      return false;
    } catch {
      return true;
    }
  });
  if (missing.length > 0) {
    throw new Error(
      `private PostgreSQL clusters need ${missing.join(', ')} in ${binDir} ` +
        `(Debian: apt-get install postgresql-15; or set ARS_PG_BIN_DIR to a PostgreSQL bin folder)`,
    );
  }
}

const asRoot = process.getuid?.() === 0;
let postgresIds: { uid: number; gid: number } | undefined;

function postgresUser(): { uid: number; gid: number } {
  if (!postgresIds) {
    const id = (flag: string) => Number(spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' }).stdout.trim());
    postgresIds = { uid: id('-u'), gid: id('-g') };
    if (!Number.isInteger(postgresIds.uid) || postgresIds.uid <= 0) {
      throw new Error('running as root, private PostgreSQL clusters need a `postgres` OS user');
    }
  }
  return postgresIds;
}

const shellQuote = (arg: string): string => `'${arg.replace(/'/g, `'\\''`)}'`;

/** The command line that runs a PostgreSQL binary: as the `postgres` user when we are root. */
function commandFor(binary: string, args: string[]): [string, string[]] {
  const file = path.join(PG_BIN_DIR, binary);
  if (!asRoot) return [file, args];
  try {
    accessSync('/usr/sbin/runuser', fsConstants.X_OK);
    return ['/usr/sbin/runuser', ['-u', 'postgres', '--', file, ...args]];
  } catch {
    return ['su', ['postgres', '-s', '/bin/sh', '-c', [file, ...args].map(shellQuote).join(' ')]];
  }
}

function runPg(binary: string, args: string[], timeoutMs = 120_000): Promise<void> {
  const [file, argv] = commandFor(binary, args);
  return new Promise((resolve, reject) => {
    execFile(file, argv, { timeout: timeoutMs, encoding: 'utf8' }, (error, _stdout, stderr) => {
      if (error) reject(new Error(`${binary} ${args.join(' ')} failed: ${stderr.trim() || error.message}`));
      else resolve();
    });
  });
}

/** A temporary folder owned by the user the server runs as (as root, mkdtemp's 0700 folder is chowned). */
async function ownedTempDir(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'ars-pg-cluster-'));
  if (asRoot) {
    const { uid, gid } = postgresUser();
    await chown(dir, uid, gid);
  }
  return dir;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function confLines(settings: Record<string, string | number | boolean>): string {
  return (
    '\n# ars pg-cluster\n' +
    Object.entries(settings)
      .map(([key, value]) => `${key} = ${typeof value === 'string' ? `'${value.replace(/'/g, "''")}'` : String(value)}`)
      .join('\n') +
    '\n'
  );
}

/** Every cluster not yet stopped, for the exit-time fallback. */
const live = new Set<Cluster>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Last resort when a test process ends without `stop()` (afterAll skipped by a crash).
  process.once('exit', () => {
    for (const cluster of live) cluster.stopSync();
  });
}

class Cluster implements ClusterHandle {
  private running = false;
  private stopped = false;
  private readonly replicas: Cluster[] = [];
  private readonly adminPools = new Map<string, Pool>();

  constructor(
    readonly root: string,
    readonly port: number,
    readonly isReplica: boolean,
    private readonly primary: Cluster | null,
  ) {}

  get dataDir(): string {
    return path.join(this.root, 'data');
  }

  get logFile(): string {
    return path.join(this.root, 'server.log');
  }

  url(database = 'postgres'): string {
    return `postgresql://postgres@127.0.0.1:${this.port}/${encodeURIComponent(database)}`;
  }

  async query<T extends Record<string, unknown>>(sql: string, params: unknown[] = [], database = 'postgres'): Promise<T[]> {
    return (await this.adminPool(database).query(sql, params)).rows as T[];
  }

  /** Superuser connections per database, reused (the kill loop's round trips stay short); a broken one is dropped by the pool. */
  private adminPool(database: string): Pool {
    let pool = this.adminPools.get(database);
    if (!pool) {
      pool = new Pool({ connectionString: this.url(database), application_name: CLUSTER_ADMIN_APP, max: 3, idleTimeoutMillis: 5_000 });
      pool.on('error', () => undefined);
      this.adminPools.set(database, pool);
    }
    return pool;
  }

  private async closeAdminPools(): Promise<void> {
    const pools = [...this.adminPools.values()];
    this.adminPools.clear();
    await Promise.all(pools.map((p) => p.end().catch(() => undefined)));
  }

  /** The sessions `filter` selects, as a sub-select of pg_stat_activity. */
  private sessions(filter: BackendFilter): { sql: string; params: unknown[] } {
    const params: unknown[] = [CLUSTER_ADMIN_APP];
    let where = `backend_type = 'client backend' and pid <> pg_backend_pid() and application_name <> $1`;
    if (filter.database !== undefined) {
      params.push(filter.database);
      where += ` and datname = $${params.length}`;
    }
    if (filter.applicationName !== undefined) {
      params.push(typeof filter.applicationName === 'string' ? [filter.applicationName] : [...filter.applicationName]);
      where += ` and application_name = any($${params.length}::text[])`;
    }
    if (filter.pids !== undefined) {
      params.push([...filter.pids]);
      where += ` and pid = any($${params.length}::int[])`;
    }
    if (filter.busy) where += ` and state is distinct from 'idle'`;
    let sql = `select pid, datname as database, application_name as "applicationName", state from pg_stat_activity where ${where}`;
    if (filter.pick !== undefined) {
      params.push(filter.pick);
      sql += ` order by random() limit $${params.length}`;
    }
    return { sql, params };
  }

  async backends(filter: BackendFilter = {}): Promise<Backend[]> {
    const { sql, params } = this.sessions(filter);
    return this.query<Backend & Record<string, unknown>>(`with s as materialized (${sql}) select * from s order by pid`, params);
  }

  async terminateBackends(filter: BackendFilter = {}): Promise<Backend[]> {
    const { sql, params } = this.sessions(filter);
    return this.query<Backend & Record<string, unknown>>(`with s as materialized (${sql}) select pid, database, "applicationName", state from s where pg_terminate_backend(pid)`, params);
  }

  async startServer(): Promise<void> {
    try {
      await runPg('pg_ctl', ['-D', this.dataDir, '-l', this.logFile, '-w', '-t', '60', 'start']);
    } catch (error) {
      throw new Error(`${(error as Error).message}\n--- server log (tail) ---\n${this.logTail()}`);
    }
    this.running = true;
  }

  async stopServer(mode: StopMode = 'fast'): Promise<void> {
    await this.closeAdminPools();
    await runPg('pg_ctl', ['-D', this.dataDir, '-m', mode, '-w', '-t', '60', 'stop']);
    this.running = false;
  }

  async restart(options: { mode?: StopMode; downtimeMs?: number } = {}): Promise<void> {
    await this.stopServer(options.mode ?? 'fast');
    if (options.downtimeMs) await sleep(options.downtimeMs);
    await this.startServer();
  }

  async startReplica(): Promise<ClusterHandle> {
    if (!this.running) throw new Error('startReplica(): the primary is not running');
    const replica = new Cluster(await ownedTempDir(), await freePort(), true, this);
    live.add(replica);
    this.replicas.push(replica);
    try {
      await runPg('pg_basebackup', ['-h', '127.0.0.1', '-p', String(this.port), '-U', 'postgres', '-D', replica.dataDir, '-R', '-X', 'stream', '-c', 'fast', '--no-sync']);
      // Later lines win: the copied postgresql.conf still names the primary's port and socket folder.
      await appendFile(replica.dataDir + '/postgresql.conf', confLines({ port: replica.port, unix_socket_directories: replica.root, hot_standby: 'on' }));
      await replica.startServer();
    } catch (error) {
      await replica.stop();
      throw error;
    }
    return replica;
  }

  async catchUp(timeoutMs = 10_000): Promise<void> {
    if (!this.primary) throw new Error('catchUp(): not a replica');
    const [{ lsn }] = await this.primary.query<{ lsn: string }>('select pg_current_wal_lsn()::text as lsn');
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const [{ done }] = await this.query<{ done: boolean }>('select coalesce(pg_last_wal_replay_lsn() >= $1::pg_lsn, false) as done', [lsn]);
      if (done) return;
      if (Date.now() > deadline) throw new Error(`replica on port ${this.port} did not replay ${lsn} within ${timeoutMs} ms`);
      await sleep(20);
    }
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const replica of this.replicas) await replica.stop();
    await this.closeAdminPools();
    try {
      if (this.running) await this.stopServer('immediate');
    } finally {
      live.delete(this);
      await rm(this.root, { recursive: true, force: true });
    }
  }

  /** `stop()` without promises, for the process's exit hook. */
  stopSync(): void {
    if (this.stopped) return;
    this.stopped = true;
    if (this.running) {
      const [file, argv] = commandFor('pg_ctl', ['-D', this.dataDir, '-m', 'immediate', '-w', 'stop']);
      spawnSync(file, argv, { stdio: 'ignore', timeout: 30_000 });
    }
    rmSync(this.root, { recursive: true, force: true });
    live.delete(this);
  }

  private logTail(): string {
    try {
      return readFileSync(this.logFile, 'utf8').split('\n').slice(-20).join('\n');
    } catch {
      return '(no log)';
    }
  }
}

/** A new private cluster, started. Call `stop()` when done (or use `useCluster()` in a jest file). */
export async function startCluster(options: ClusterOptions = {}): Promise<ClusterHandle> {
  assertPgBinaries();
  installExitHook();
  const cluster = new Cluster(await ownedTempDir(), await freePort(), false, null);
  live.add(cluster);
  try {
    await runPg('initdb', ['-D', cluster.dataDir, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--no-locale', '--no-sync', '--no-instructions']);
    await appendFile(
      cluster.dataDir + '/postgresql.conf',
      confLines({
        port: cluster.port,
        listen_addresses: '127.0.0.1',
        unix_socket_directories: cluster.root,
        fsync: 'off',
        shared_buffers: '32MB',
        max_connections: 100,
        ...options.settings,
      }),
    );
    await cluster.startServer();
  } catch (error) {
    await cluster.stop();
    throw error;
  }
  return cluster;
}

/**
 * One private cluster for the calling jest file: started in `beforeAll`, stopped and removed in
 * `afterAll` (whatever the tests did). Returns an accessor for it.
 */
export function useCluster(options: ClusterOptions = {}): () => ClusterHandle {
  let cluster: ClusterHandle | undefined;
  beforeAll(async () => {
    cluster = await startCluster(options);
  });
  afterAll(async () => {
    await cluster?.stop();
  });
  return () => {
    if (!cluster) throw new Error('useCluster(): the cluster is not started (used outside a test?)');
    return cluster;
  };
}
