/**
 * `npm run bench`: the store against hand-written SQL (bench/baseline.ts), on the same PostgreSQL
 * (DATABASE_URL — a server where the user may create databases — else an embedded one), in the
 * same run, each iteration alternating which of the two goes first. Not part of `npm test`.
 *
 * Writes a table to stdout, bench/results/latest.json (+ a dated copy) and the table between the
 * markers of the README's "Benchmark" section. ARS_BENCH_QUICK=1 runs a short smoke version
 * (fewer iterations, 10k instead of 1M, 5k imports) whose results are not saved.
 */
import 'reflect-metadata';
import { execFile } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { cpus, freemem, loadavg, totalmem } from 'node:os';
import path from 'node:path';
import { deepStrictEqual } from 'node:assert';
import { MikroORM } from '@mikro-orm/postgresql';
import { Client, Pool } from 'pg';
import { runStoreConfig } from '../src/config';
import { RunObject, RUN_POPULATE } from '../src/entities/run-object.entity';
import type { RunRepository } from '../src/repositories/run.repository';
import { newRunId } from '../src/repositories/writes';
import { createRunSchema, parseOrThrow } from '../src/api/schema';
import { fillRunFromApi } from '../src/api/to-entities';
import { startEmbeddedPostgres } from '../src/dev/embedded-postgres';
import type { ApiRun, ApiRunInput } from '../src/api/types';
import { Baseline, newApiRun } from './baseline';
import { fill, fillThreads, isFilled } from './fill';
import { fullApiRun, fullCreateInput, queuedApiRun, TOOL_CALLS, uid, USAGE } from './fixtures';
import { adminQuery, withDatabase } from '../src/dev/databases';

const QUICK = process.env.ARS_BENCH_QUICK === '1';
const POOL_MAX = 10;
const TTL = 600;
const ROOT = findRoot();
const RESULTS = path.join(ROOT, 'bench', 'results');

function findRoot(): string {
  // bench/.build/bench/main.js → the repository root is three levels up; bench/main.ts (ts-node) → one.
  return __dirname.includes(`${path.sep}.build${path.sep}`) ? path.resolve(__dirname, '..', '..', '..') : path.resolve(__dirname, '..');
}

const log = (line: string) => process.stderr.write(`${line}\n`);

// --- timing ---------------------------------------------------------------------------------

interface Sample {
  ms: number[];
  totalMs: number;
}
const sample = (): Sample => ({ ms: [], totalMs: 0 });

async function timed(s: Sample, fn: () => Promise<unknown>): Promise<void> {
  const t = process.hrtime.bigint();
  await fn();
  const ms = Number(process.hrtime.bigint() - t) / 1e6;
  s.ms.push(ms);
  s.totalMs += ms;
}

function pct(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/** Runs `iterations` of each side after `warmup`, alternating which side goes first. */
async function alternate(iterations: number, warmup: number, store: (i: number) => Promise<unknown>, base: (i: number) => Promise<unknown>): Promise<{ store: Sample; base: Sample }> {
  for (let i = 0; i < warmup; i++) {
    await store(-1 - i);
    await base(-1 - i);
  }
  const s = sample();
  const b = sample();
  for (let i = 0; i < iterations; i++) {
    if (i % 2 === 0) {
      await timed(s, () => store(i));
      await timed(b, () => base(i));
    } else {
      await timed(b, () => base(i));
      await timed(s, () => store(i));
    }
  }
  return { store: s, base: b };
}

// --- results --------------------------------------------------------------------------------

interface CaseResult {
  name: string;
  store_p50_ms: number | null;
  store_p95_ms: number | null;
  baseline_p50_ms: number | null;
  baseline_p95_ms: number | null;
  ratio: number | null;
  store_ops_s: number;
  baseline_ops_s: number;
  target: string;
  met: boolean | null;
  notes: string;
}

const round = (x: number, d = 3) => Math.round(x * 10 ** d) / 10 ** d;

function fromSamples(name: string, r: { store: Sample; base: Sample }, target: string, maxRatio: number | null, notes: string): CaseResult {
  const sp50 = pct(r.store.ms, 50);
  const bp50 = pct(r.base.ms, 50);
  const ratio = sp50 / bp50;
  return {
    name,
    store_p50_ms: round(sp50),
    store_p95_ms: round(pct(r.store.ms, 95)),
    baseline_p50_ms: round(bp50),
    baseline_p95_ms: round(pct(r.base.ms, 95)),
    ratio: round(ratio, 2),
    store_ops_s: round((r.store.ms.length / r.store.totalMs) * 1000, 1),
    baseline_ops_s: round((r.base.ms.length / r.base.totalMs) * 1000, 1),
    target,
    met: maxRatio === null ? null : ratio <= maxRatio,
    notes,
  };
}

function table(cases: CaseResult[]): string {
  const head = ['case', 'store p50 ms', 'store p95 ms', 'base p50 ms', 'base p95 ms', 'ops/s store', 'ops/s base', 'ratio', 'target', 'met'];
  const fmt = (x: number | null, d = 2) => (x === null ? '–' : x.toFixed(d));
  const rows = cases.map((c) => [
    c.name, fmt(c.store_p50_ms, 3), fmt(c.store_p95_ms, 3), fmt(c.baseline_p50_ms, 3), fmt(c.baseline_p95_ms, 3),
    fmt(c.store_ops_s, 0), fmt(c.baseline_ops_s, 0), fmt(c.ratio), c.target, c.met === null ? '' : c.met ? 'yes' : 'NO',
  ]);
  const lines = [head, head.map(() => '---'), ...rows].map((r) => `| ${r.join(' | ')} |`);
  return lines.join('\n');
}

// --- databases ------------------------------------------------------------------------------

async function migrate(url: string): Promise<void> {
  const orm = await MikroORM.init(runStoreConfig({ clientUrl: url, migrations: { silent: true } }));
  try {
    await orm.getMigrator().up();
  } finally {
    await orm.close(true);
  }
}

async function freshDatabase(adminUrl: string, name: string): Promise<string> {
  await adminQuery(adminUrl, `drop database if exists "${name}" with (force)`);
  await adminQuery(adminUrl, `create database "${name}"`);
  const url = withDatabase(adminUrl, name);
  await migrate(url);
  return url;
}

interface Side {
  orm: MikroORM;
  pool: Pool;
  baseline: Baseline;
  close(): Promise<void>;
}

async function open(url: string): Promise<Side> {
  const orm = await MikroORM.init(runStoreConfig({ clientUrl: url, pool: { min: 0, max: POOL_MAX } }, { runTtlSeconds: TTL }));
  const pool = new Pool({ connectionString: url, max: POOL_MAX });
  return { orm, pool, baseline: new Baseline(pool, TTL), close: async () => { await orm.close(true); await pool.end(); } };
}

const repo = (orm: MikroORM): RunRepository => orm.em.fork().getRepository(RunObject);

// --- equivalence checks (run once, outside the timings) ---------------------------------------

const mismatches: string[] = [];

/** The store's API object and the baseline's must be the same object (up to the fields that differ by run). */
function check(what: string, store: unknown, base: unknown, ignore: string[] = []): void {
  const strip = (o: unknown) => {
    const copy = JSON.parse(JSON.stringify(o)) as Record<string, unknown>;
    for (const k of ignore) delete copy[k];
    return copy;
  };
  try {
    deepStrictEqual(strip(store), strip(base));
  } catch (error) {
    mismatches.push(what);
    log(`!! ${what}: the store's and the baseline's objects differ\n${(error as Error).message.slice(0, 2000)}`);
  }
}

const VARYING = ['id', 'thread_id', 'created_at', 'expires_at', 'started_at', 'completed_at'];

// --- the cases ------------------------------------------------------------------------------

async function caseCreate(side: Side, n: number): Promise<CaseResult[]> {
  const assistant = uid('asst_create');
  const s = await repo(side.orm).create(fullCreateInput(uid('thread'), assistant));
  const b = await side.baseline.create(fullCreateInput(uid('thread'), assistant), newRunId());
  check('create', s.toJSON(), b, VARYING);
  check('create (stored)', (await repo(side.orm).getById(s.id)).toJSON(), await side.baseline.getById(b.id), VARYING);
  const r = await alternate(
    n,
    20,
    async () => (await repo(side.orm).create(fullCreateInput(uid('thread'), assistant))).toJSON(),
    () => side.baseline.create(fullCreateInput(uid('thread'), assistant), newRunId()),
  );
  // The store's write path before this benchmark (kept here to show the difference): validate,
  // build the graph, em.persist + flush in em.transactional (BEGIN, one INSERT per table, COMMIT).
  const before = await alternate(
    Math.min(n, 100),
    10,
    async () => {
      const em = side.orm.em.fork();
      const data = parseOrThrow(createRunSchema, fullCreateInput(uid('thread'), assistant));
      const run = fillRunFromApi(new RunObject(), newApiRun(data, newRunId(), TTL));
      await em.transactional(async (tem) => tem.persist(run));
      return run.toJSON();
    },
    () => side.baseline.create(fullCreateInput(uid('thread'), assistant), newRunId()),
  );
  return [
    fromSamples('1. create (all parts)', r, 'ratio ≤ 1.5', 1.5, 'store: validation (zod) + 1 INSERT statement of CTEs; baseline: the same statement, no validation'),
    fromSamples('1b. create via ORM flush (before)', before, 'reference', null, 'em.persist + flush: BEGIN, 6 INSERTs, COMMIT (8 round trips)'),
  ];
}

async function caseLifecycle(side: Side, n: number): Promise<CaseResult[]> {
  const assistant = uid('asst_life');
  const outputs = TOOL_CALLS.map((c) => ({ tool_call_id: c.id, output: 'sunny' }));
  const store = async () => {
    const created = await repo(side.orm).create(fullCreateInput(uid('thread'), assistant));
    const id = created.id;
    created.toJSON();
    (await repo(side.orm).start(id)).toJSON();
    (await repo(side.orm).requireAction(id, TOOL_CALLS)).toJSON();
    (await repo(side.orm).submitToolOutputs(id, outputs)).toJSON();
    (await repo(side.orm).start(id)).toJSON();
    return (await repo(side.orm).complete(id, USAGE)).toJSON();
  };
  const base = async () => {
    const b = side.baseline;
    const { id } = await b.create(fullCreateInput(uid('thread'), assistant), newRunId());
    await b.start(id);
    await b.requireAction(id, TOOL_CALLS);
    await b.submitToolOutputs(id, outputs.map((o) => o.tool_call_id));
    await b.start(id);
    return b.complete(id, USAGE);
  };
  check('lifecycle (completed run)', await store(), await base(), VARYING);
  const r = await alternate(n, 10, store, base);
  return [fromSamples('2. lifecycle (6 calls)', r, 'ratio ≤ 1.5', 1.5, 'create, start, requireAction (2 calls), submitToolOutputs, start, complete with usage; each call returns the fresh API object')];
}

async function caseGetById(side: Side, n: number): Promise<CaseResult[]> {
  const assistant = uid('asst_get');
  const runs: ApiRunInput[] = Array.from({ length: n }, (_, i) => fullApiRun(newRunId(), uid('thread'), assistant, 1_716_000_000 + i));
  await side.baseline.importBatch(runs);
  const ids = runs.map((r) => r.id);
  check('getById', (await repo(side.orm).getById(ids[0])).toJSON(), await side.baseline.getById(ids[0]));
  check('getById (imported object)', (await repo(side.orm).getById(ids[0])).toJSON(), runs[0]);
  const at = (i: number) => ids[(i + n) % n];
  const r = await alternate(n, 20, async (i) => (await repo(side.orm).getById(at(i))).toJSON(), (i) => side.baseline.getById(at(i)));
  const before = await alternate(
    n,
    20,
    async (i) => (await side.orm.em.fork().findOneOrFail(RunObject, { id: at(i) }, { populate: RUN_POPULATE })).toJSON(),
    (i) => side.baseline.getById(at(i)),
  );
  return [
    fromSamples('3. getById (fully hydrated)', r, 'ratio ≤ 1.5', 1.5, 'run with 3 tools, 2 file ids, 2 pending tool calls, usage, truncation, tool choice, json_schema format; store: 1 statement (JSON-aggregated parts → entity factory)'),
    fromSamples('3b. getById via ORM populate (before)', before, 'reference', null, 'findOne + populate: to-ones joined, tools/file_ids/tool calls select-in (4 statements)'),
  ];
}

async function caseList(side: Side, runs: number, label: string, pages: number): Promise<{ result: CaseResult; p50: number }> {
  const threads = fillThreads(runs, pages);
  const cursors = new Map<number, string | null>();
  // even pages: the thread's newest 20; odd pages: the next 20, after the previous page's last run
  const after = (i: number) => (i % 2 === 0 ? null : (cursors.get(i - 1) ?? null));
  const thread = (i: number) => threads[Math.floor(Math.abs(i) / 2) % threads.length];
  const first = await repo(side.orm).listByThread(thread(0), { limit: 20 });
  const firstBase = await side.baseline.listByThread(thread(0), 20, null);
  check(`listByThread ${label}`, { ...first, data: first.data.map((d) => d.toJSON()) }, firstBase);
  if (firstBase.data.length !== 20) throw new Error(`list ${label}: a page of ${firstBase.data.length} runs, expected 20`);
  const r = await alternate(
    pages,
    10,
    async (i) => {
      const page = await repo(side.orm).listByThread(thread(i), { limit: 20, ...(after(i) ? { after: after(i)! } : {}) });
      return page.data.map((d) => d.toJSON());
    },
    async (i) => {
      const page = await side.baseline.listByThread(thread(i), 20, after(i));
      if (i >= 0) cursors.set(i, page.last_id);
      return page;
    },
  );
  return {
    result: fromSamples(`4. listByThread, page of 20, ${label} runs`, r, 'ratio ≤ 1.3', 1.3, `${pages} pages over ${Math.min(pages, threads.length)} threads of 100 runs (first page / next page after a cursor)`),
    p50: pct(r.store.ms, 50),
  };
}

async function caseClaim(side: Side, queued: number, rounds: number): Promise<CaseResult[]> {
  const results: { workers: number; side: 'store' | 'base'; runs: number; ms: number; latencies: number[] }[] = [];
  const fillQueued = async (assistant: string) => {
    const now = Math.floor(Date.now() / 1000) - 3600;
    const runs = Array.from({ length: queued }, (_, n) => queuedApiRun(n, assistant, now));
    for (let i = 0; i < runs.length; i += 500) await side.baseline.importBatch(runs.slice(i, i + 500));
  };
  const drain = async (workers: number, who: 'store' | 'base') => {
    const assistant = uid(`asst_claim_${who}${workers}`);
    await fillQueued(assistant);
    const claimed: string[] = [];
    const latencies: number[] = [];
    const t = process.hrtime.bigint();
    await Promise.all(
      Array.from({ length: workers }, async () => {
        const em = side.orm.em.fork();
        for (;;) {
          const t0 = process.hrtime.bigint();
          let id: string | null;
          if (who === 'store') {
            em.clear();
            const run = await em.getRepository(RunObject).claimNext({ assistant_id: assistant });
            id = run ? run.toJSON().id : null;
          } else {
            id = (await side.baseline.claimNext(assistant))?.id ?? null;
          }
          if (id === null) break;
          latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
          claimed.push(id);
        }
      }),
    );
    const ms = Number(process.hrtime.bigint() - t) / 1e6;
    const unique = new Set(claimed);
    if (claimed.length !== queued || unique.size !== queued) {
      throw new Error(`claim (${who}, ${workers} workers): ${claimed.length} claims of ${unique.size} distinct runs, ${queued} queued — a double or lost claim`);
    }
    results.push({ workers, side: who, runs: queued, ms, latencies });
  };
  await drain(1, 'store'); // warm-up
  await drain(1, 'base');
  results.length = 0;
  for (let round = 0; round < rounds; round++) {
    for (const workers of [1, 4]) {
      if (round % 2 === 0) {
        await drain(workers, 'store');
        await drain(workers, 'base');
      } else {
        await drain(workers, 'base');
        await drain(workers, 'store');
      }
    }
  }
  const agg = (workers: number, who: 'store' | 'base') => {
    const rs = results.filter((r) => r.workers === workers && r.side === who);
    const lat = rs.flatMap((r) => r.latencies);
    const runs = rs.reduce((a, r) => a + r.runs, 0);
    const ms = rs.reduce((a, r) => a + r.ms, 0);
    return { p50: pct(lat, 50), p95: pct(lat, 95), ops: (runs / ms) * 1000 };
  };
  const out: CaseResult[] = [];
  const one = agg(1, 'store');
  for (const workers of [1, 4]) {
    const s = agg(workers, 'store');
    const b = agg(workers, 'base');
    const scale = s.ops / one.ops;
    out.push({
      name: `5. claimNext, ${workers} worker${workers > 1 ? 's' : ''}`,
      store_p50_ms: round(s.p50), store_p95_ms: round(s.p95), baseline_p50_ms: round(b.p50), baseline_p95_ms: round(b.p95),
      ratio: round(s.p50 / b.p50, 2), store_ops_s: round(s.ops, 1), baseline_ops_s: round(b.ops, 1),
      target: workers === 4 ? 'store ≥ 1.5× 1 worker' : '–',
      met: workers === 4 ? scale >= 1.5 : null,
      notes:
        `${rounds}×${queued} queued runs drained per side; each claimed exactly once (checked)` +
        (workers === 4 ? `; store scales ${scale.toFixed(2)}× over 1 worker (baseline ${(b.ops / agg(1, 'base').ops).toFixed(2)}×)` : '') +
        '; ops/s = runs claimed per second; p50/p95 per claim',
    });
  }
  return out;
}

function child(args: string[]): Promise<{ runs: number; seconds: number; runs_s: number; peak_rss_mb: number }> {
  const script = path.join(__dirname, 'import-child.js');
  const file = script.endsWith('.js') && __filename.endsWith('.js') ? process.execPath : 'npx';
  const argv = __filename.endsWith('.js') ? [script, ...args] : ['ts-node', '--transpile-only', path.join(__dirname, 'import-child.ts'), ...args];
  return new Promise((resolve, reject) => {
    execFile(file, argv, { maxBuffer: 1 << 24 }, (error, stdout, stderr) => {
      if (error) return reject(new Error(`${error.message}\n${stderr}`));
      resolve(JSON.parse(stdout.trim().split('\n').pop()!));
    });
  });
}

async function caseImport(url: string, count: number): Promise<CaseResult> {
  await child(['store', url, String(Math.min(count, 2000)), 'warm']); // warm the server's caches and plans
  const base = await child(['baseline', url, String(count), 'imp_base']);
  const store = await child(['store', url, String(count), 'imp_store']);
  return {
    name: `6. importRun × ${count.toLocaleString('en')} (batches of 500)`,
    store_p50_ms: null, store_p95_ms: null, baseline_p50_ms: null, baseline_p95_ms: null,
    ratio: round(base.runs_s / store.runs_s, 2),
    store_ops_s: round(store.runs_s, 0), baseline_ops_s: round(base.runs_s, 0),
    target: '≥ 5,000 runs/s, peak RSS ≤ 300 MB',
    met: store.runs_s >= 5000 && store.peak_rss_mb <= 300,
    notes: `each side in its own process; store: the CLI import path (importRuns → RunRepository#importRuns); peak RSS store ${store.peak_rss_mb} MB, baseline ${base.peak_rss_mb} MB; ratio = time ratio (baseline runs/s ÷ store runs/s)`,
  };
}

// --- main -----------------------------------------------------------------------------------

async function serverVersion(url: string): Promise<string> {
  const c = new Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query<{ server_version: string }>('show server_version')).rows[0].server_version;
  } finally {
    await c.end();
  }
}

async function gitCommit(): Promise<string> {
  return new Promise((resolve) => execFile('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT }, (e, out) => resolve(e ? 'unknown' : out.trim())));
}

async function updateReadme(markdown: string): Promise<void> {
  const readme = path.join(ROOT, 'README.md');
  const text = await readFile(readme, 'utf8');
  const start = '<!-- bench:start -->';
  const end = '<!-- bench:end -->';
  const a = text.indexOf(start);
  const b = text.indexOf(end);
  if (a < 0 || b < a) return;
  await writeFile(readme, `${text.slice(0, a + start.length)}\n${markdown}\n${text.slice(b)}`);
}

async function main(): Promise<void> {
  const started = Date.now();
  const load0 = loadavg()[0];
  let adminUrl = process.env.DATABASE_URL;
  let stopServer = async () => undefined as void;
  let serverKind = 'DATABASE_URL';
  if (!adminUrl) {
    log('no DATABASE_URL: starting an embedded PostgreSQL (fsync=off, synchronous_commit=off)');
    const server = await startEmbeddedPostgres();
    adminUrl = server.adminUrl;
    stopServer = server.stop;
    serverKind = 'embedded (embedded-postgres, fsync=off, synchronous_commit=off)';
  }
  const cases: CaseResult[] = [];
  const fills: Record<string, string> = {};
  try {
    const mainDb = `ars_bench_${process.pid}`;
    const url = await freshDatabase(adminUrl, mainDb);
    const side = await open(url);
    const it = QUICK ? 30 : 200;
    try {
      log('case 1: create');
      cases.push(...(await caseCreate(side, it)));
      log('case 2: lifecycle');
      cases.push(...(await caseLifecycle(side, QUICK ? 15 : 100)));
      log('case 3: getById');
      cases.push(...(await caseGetById(side, it)));
      log('case 5: claimNext');
      cases.push(...(await caseClaim(side, QUICK ? 300 : 1000, QUICK ? 1 : 2)));
    } finally {
      await side.close();
    }

    const sizes: [number, string][] = QUICK ? [[10_000, '10k']] : [[10_000, '10k'], [1_000_000, '1M']];
    const listP50: Record<string, number> = {};
    for (const [n, label] of sizes) {
      const name = `ars_bench_${label.toLowerCase()}`;
      const dbUrl = withDatabase(adminUrl, name);
      let reused = false;
      try {
        reused = await isFilled(dbUrl, n);
      } catch {
        reused = false;
      }
      if (!reused) {
        log(`case 4: filling ${name} with ${label} runs`);
        await freshDatabase(adminUrl, name);
        const seconds = await fill(dbUrl, n, log);
        fills[label] = `filled in ${seconds.toFixed(1)} s`;
      } else {
        fills[label] = 'reused from an earlier run';
      }
      log(`case 4: listByThread on ${label} (${fills[label]})`);
      const listSide = await open(dbUrl);
      try {
        const { result, p50 } = await caseList(listSide, n, label, QUICK ? 30 : 100);
        result.notes += `; table ${fills[label]}`;
        listP50[label] = p50;
        cases.push(result);
      } finally {
        await listSide.close();
      }
    }
    if (listP50['1M'] !== undefined) {
      const growth = listP50['1M'] / listP50['10k'];
      cases.push({
        name: '4b. listByThread latency, 1M vs 10k',
        store_p50_ms: round(listP50['1M']), store_p95_ms: null, baseline_p50_ms: round(listP50['10k']), baseline_p95_ms: null,
        ratio: round(growth, 2), store_ops_s: 0, baseline_ops_s: 0, target: '≤ 1.2', met: growth <= 1.2,
        notes: 'store p50 at 1M ÷ store p50 at 10k (the "baseline" column here is the store at 10k)',
      });
    }

    log('case 6: importRun');
    const importDb = await freshDatabase(adminUrl, `ars_bench_import_${process.pid}`);
    cases.push(await caseImport(importDb, QUICK ? 5000 : 100_000));

    await adminQuery(adminUrl, `drop database if exists "${mainDb}" with (force)`);
    await adminQuery(adminUrl, `drop database if exists "ars_bench_import_${process.pid}" with (force)`);

    const load1 = loadavg()[0];
    const env = {
      date: new Date().toISOString(),
      commit: await gitCommit(),
      node: process.version,
      postgres: await serverVersion(adminUrl),
      server: serverKind,
      cpu: `${cpus()[0]?.model ?? 'unknown'} × ${cpus().length}`,
      memory_gb: round(totalmem() / 2 ** 30, 1),
      free_memory_gb_at_end: round(freemem() / 2 ** 30, 1),
      pool_max: POOL_MAX,
      load_average_start_end: [round(load0, 2), round(load1, 2)],
      busy: load0 > 1 || load1 > 1.5 ? 'the machine was busy (load average above 1): absolute times are noisy, ratios alternate store/baseline and stay comparable' : 'quiet',
      quick: QUICK,
      equivalence: mismatches.length === 0 ? 'every store object checked equals the baseline object' : `MISMATCH: ${mismatches.join(', ')}`,
      list_fill: fills,
      seconds: round((Date.now() - started) / 1000, 1),
    };
    const markdown = `${table(cases)}\n\n${env.date.slice(0, 10)}, commit ${env.commit}, Node ${env.node}, PostgreSQL ${env.postgres} (${env.server}), ${env.cpu}; load ${env.load_average_start_end.join(' → ')}; ${env.seconds} s.`;
    process.stdout.write(`\n${markdown}\n\n`);
    for (const c of cases) process.stdout.write(`- ${c.name}: ${c.notes}\n`);
    if (!QUICK) {
      await mkdir(RESULTS, { recursive: true });
      const json = JSON.stringify({ cases, env }, null, 2) + '\n';
      await writeFile(path.join(RESULTS, 'latest.json'), json);
      await writeFile(path.join(RESULTS, `${env.date.replace(/[:]/g, '-').slice(0, 19)}.json`), json);
      await updateReadme(markdown);
      log(`results: bench/results/latest.json, README.md (Benchmark)`);
    }
  } finally {
    await stopServer();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
