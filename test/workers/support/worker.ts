/**
 * A worker in its own process (the built package, dist/), driven line by line over stdin:
 *
 *   claim <assistant_id> <n> <leaseSeconds>  → {"claimed":[{"id","attempt"},…]}
 *   complete <id> <attempt>                   → {"id","outcome":"completed"|"LeaseLostError"|…}
 *
 * The test kills it (SIGKILL) or pauses it (SIGSTOP/SIGCONT) while it holds runs.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ROOT } from '../../cli/support/cli';

const SCRIPT = `
const { MikroORM } = require(${JSON.stringify(path.join(ROOT, 'node_modules', '@mikro-orm', 'postgresql'))});
const store = require(${JSON.stringify(path.join(ROOT, 'dist', 'src'))});
const readline = require('node:readline');
(async () => {
  const orm = await MikroORM.init(store.runStoreConfig({ clientUrl: process.env.DATABASE_URL, pool: { min: 1, max: 4 } }));
  const worker = process.env.WORKER_NAME;
  const out = (o) => process.stdout.write(JSON.stringify(o) + '\\n');
  out({ ready: process.pid });
  for await (const line of readline.createInterface({ input: process.stdin })) {
    const [cmd, a, b, c] = line.split(' ');
    const runs = orm.em.fork().getRepository(store.RunObject);
    if (cmd === 'claim') {
      const claimed = [];
      for (let i = 0; i < Number(b); i++) {
        const run = await runs.claimNext({ assistant_id: a, worker, leaseSeconds: Number(c) });
        if (!run) break;
        claimed.push({ id: run.id, attempt: run.attempt });
      }
      out({ claimed });
    } else if (cmd === 'complete') {
      try {
        await runs.complete(a, undefined, { worker, attempt: Number(b) });
        out({ id: a, outcome: 'completed' });
      } catch (e) {
        out({ id: a, outcome: e.name });
      }
    }
  }
  await orm.close(true);
})();
`;

export interface WorkerProcess {
  readonly child: ChildProcessWithoutNullStreams;
  /** Sends one command and resolves with its one-line JSON answer. */
  send<T>(line: string): Promise<T>;
  /** Resolves when the process has exited (with the signal that ended it, if any). */
  readonly exited: Promise<NodeJS.Signals | null>;
}

let scriptFile: string | undefined;

/** Starts a worker process named `name` on `databaseUrl`; resolves once it is connected. */
export async function startWorker(databaseUrl: string, name: string): Promise<WorkerProcess> {
  scriptFile ??= path.join(mkdtempSync(path.join(tmpdir(), 'ars-worker-')), 'worker.js');
  writeFileSync(scriptFile, SCRIPT);
  const child = spawn(process.execPath, [scriptFile], { env: { ...process.env, DATABASE_URL: databaseUrl, WORKER_NAME: name }, stdio: ['pipe', 'pipe', 'pipe'] });
  let buffer = '';
  const waiting: ((line: string) => void)[] = [];
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    buffer += d;
    for (let i = buffer.indexOf('\n'); i >= 0; i = buffer.indexOf('\n')) {
      const line = buffer.slice(0, i);
      buffer = buffer.slice(i + 1);
      waiting.shift()?.(line);
    }
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
  const next = () =>
    new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`worker ${name} did not answer: ${stderr}`)), 15_000);
      waiting.push((line) => {
        clearTimeout(timer);
        resolve(line);
      });
    });
  const ready = next();
  await ready;
  return {
    child,
    exited,
    async send<T>(line: string): Promise<T> {
      const answer = next();
      child.stdin.write(`${line}\n`);
      return JSON.parse(await answer) as T;
    },
  };
}
