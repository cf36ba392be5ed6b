/**
 * Running the built command line as a subprocess, the way a service or a cron job runs it.
 * `ensureBuilt()` builds dist/ when it is missing or older than the sources (CI builds first, so
 * there it is a no-op); a lock directory keeps two jest workers from building at once.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';

export const ROOT = path.resolve(__dirname, '..', '..', '..');
export const CLI = path.join(ROOT, 'dist', 'src', 'cli', 'main.js');

function newestMtime(target: string): number {
  const s = statSync(target);
  if (!s.isDirectory()) return s.mtimeMs;
  return Math.max(s.mtimeMs, ...readdirSync(target).map((name) => newestMtime(path.join(target, name))));
}

function isStale(): boolean {
  if (!existsSync(CLI)) return true;
  const built = statSync(CLI).mtimeMs;
  const sources = ['src', 'migrations', 'mikro-orm.config.ts', 'tsconfig.json', 'tsconfig.build.json'].map((p) => path.join(ROOT, p));
  return sources.some((p) => existsSync(p) && newestMtime(p) > built);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Builds the package (npm run build) unless dist/ is up to date. */
export async function ensureBuilt(): Promise<void> {
  if (!isStale()) return;
  const lock = path.join(ROOT, 'node_modules', '.ars-build-lock');
  for (let waited = 0; ; waited += 200) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      if (waited > 120_000) rmSync(lock, { recursive: true, force: true });
      await sleep(200);
    }
  }
  try {
    if (isStale()) execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'pipe' });
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** DATABASE_URL for the child; `null` removes it. */
  databaseUrl?: string | null;
  env?: NodeJS.ProcessEnv;
  /** Written to the child's stdin. */
  input?: string;
  cwd?: string;
  timeoutMs?: number;
}

/** Runs `node <file> ...args` and collects its output. */
export function runNode(file: string, args: string[], options: RunOptions = {}): Promise<CliResult> {
  const env: NodeJS.ProcessEnv = { ...process.env, ...options.env };
  delete env.DATABASE_URL;
  if (options.databaseUrl) env.DATABASE_URL = options.databaseUrl;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [file, ...args], { cwd: options.cwd ?? ROOT, env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 110_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(options.input ?? '');
  });
}

/** Runs the built `assistants-run-store` binary. */
export function runCli(args: string[], options: RunOptions = {}): Promise<CliResult> {
  return runNode(CLI, args, options);
}

/** The package's migrations, by name, in order (what `migrate` applies to an empty database). */
export const MIGRATION_NAMES = readdirSync(path.join(ROOT, 'migrations'))
  .filter((f) => /^Migration\d+\.ts$/.test(f))
  .map((f) => f.replace(/\.ts$/, ''))
  .sort();

/** `N migration(s)` as the CLI words it. */
export const migrationsWord = (n: number): string => `${n} migration${n === 1 ? '' : 's'}`;
