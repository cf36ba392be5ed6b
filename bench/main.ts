/**
 * `npm run bench`: the store against hand-written SQL (bench/baseline.ts), on the same PostgreSQL
 * (DATABASE_URL — a server where the user may create databases — else an embedded one), in the
 * same run, each iteration rotating which side goes first. Not part of `npm test`.
 *
 * Honest on a noisy machine: every case runs in ROUNDS rounds (5), the sides alternating inside
 * each round; a ratio is the median of the rounds' ratios (p50 ÷ p50), printed with its spread
 * (min–max), and a target says in how many rounds it was met. The p50/p95 columns pool the rounds.
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
/** Workers' claims hold a lease this long (the worker loop's claim, README "The worker loop"). */
const CLAIM_LEASE_SECONDS = 300;
/**
 * ARS_BENCH_ONLY=create,claim,… runs only these cases (create, lifecycle, get, claim, list,
 * import, wakeup); such a partial run prints its table and saves nothing.
 */
const ONLY = process.env.ARS_BENCH_ONLY ? new Set(process.env.ARS_BENCH_ONLY.split(',').map((s) => s.trim())) : null;
const CASE_KEYS = ['create', 'lifecycle', 'get', 'claim', 'list', 'import', 'wakeup'];
if (ONLY) for (const key of ONLY) if (!CASE_KEYS.includes(key)) throw new Error(`ARS_BENCH_ONLY: unknown case '${key}' (one of ${CASE_KEYS.join(', ')})`);
const wanted = (key: string) => ONLY === null || ONLY.has(key);
/** Results are saved (bench/results, the README's table) only for a full, not quick, run. */
const SAVE = !QUICK && ONLY === null;
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

const ROUNDS = QUICK ? 3 : 5;

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

type Op = (i: number) => Promise<unknown>;

/**
 * `ROUNDS` rounds; in each, `warmup` then `iterations` of every side, the side that goes first
 * rotating every iteration. Returns each side's samples, one per round.
 */
async function alternate<K extends string>(iterations: number, warmup: number, sides: Record<K, Op>): Promise<Record<K, Sample[]>> {
  const names = Object.keys(sides) as K[];
  const out = Object.fromEntries(names.map((k) => [k, [] as Sample[]])) as Record<K, Sample[]>;
  for (let round = 0; round < ROUNDS; round++) {
    for (let i = 0; i < warmup; i++) for (const k of names) await sides[k](-1 - i);
    const samples = names.map(() => sample());
    for (let i = 0; i < iterations; i++) {
      for (let j = 0; j < names.length; j++) {
        const at = (i + j) % names.length;
        await timed(samples[at], () => sides[names[at]](round * iterations + i));
      }
    }
    names.forEach((k, at) => out[k].push(samples[at]));
  }
  return out;
}

// --- results --------------------------------------------------------------------------------

interface CaseResult {
  name: string;
  store_p50_ms: number | null;
  store_p95_ms: number | null;
  baseline_p50_ms: number | null;
  baseline_p95_ms: number | null;
  /** The median of the rounds' ratios. */
  ratio: number | null;
  ratio_min: number | null;
  ratio_max: number | null;
  store_ops_s: number;
  baseline_ops_s: number;
  target: string;
  /** Whether the median ratio meets the target. */
  met: boolean | null;
  /** In how many of `rounds` rounds the target was met. */
  met_rounds: number | null;
  rounds: number;
  notes: string;
}

const round = (x: number, d = 3) => Math.round(x * 10 ** d) / 10 ** d;
const median = (xs: number[]) => pct(xs, 50);

/**
 * A case's row from per-round ratios: the median, its spread and the rounds that met `meets`
 * (null: a reference row without a target).
 */
function fromRatios(
  row: Omit<CaseResult, 'ratio' | 'ratio_min' | 'ratio_max' | 'met' | 'met_rounds' | 'rounds'>,
  ratios: number[],
  meets: ((ratio: number) => boolean) | null,
): CaseResult {
  const ratio = median(ratios);
  return {
    ...row,
    ratio: round(ratio, 2),
    ratio_min: round(Math.min(...ratios), 2),
    ratio_max: round(Math.max(...ratios), 2),
    met: meets === null ? null : meets(ratio),
    met_rounds: meets === null ? null : ratios.filter(meets).length,
    rounds: ratios.length,
  };
}

/** A row comparing `store` with `base`, round by round (p50 ÷ p50 in each round). */
function fromSamples(name: string, store: Sample[], base: Sample[], target: string, maxRatio: number | null, notes: string): CaseResult {
  const all = (xs: Sample[]) => xs.flatMap((x) => x.ms);
  const ops = (xs: Sample[]) => (xs.reduce((a, x) => a + x.ms.length, 0) / xs.reduce((a, x) => a + x.totalMs, 0)) * 1000;
  const ratios = store.map((s, r) => pct(s.ms, 50) / pct(base[r].ms, 50));
  return fromRatios(
    {
      name,
      store_p50_ms: round(pct(all(store), 50)),
      store_p95_ms: round(pct(all(store), 95)),
      baseline_p50_ms: round(pct(all(base), 50)),
      baseline_p95_ms: round(pct(all(base), 95)),
      store_ops_s: round(ops(store), 1),
      baseline_ops_s: round(ops(base), 1),
      target,
      notes,
    },
    ratios,
    maxRatio === null ? null : (ratio) => ratio <= maxRatio,
  );
}

function table(cases: CaseResult[]): string {
  const head = ['case', 'store p50 ms', 'store p95 ms', 'base p50 ms', 'base p95 ms', 'ops/s store', 'ops/s base', 'ratio (min–max)', 'target', 'met (rounds)'];
  const fmt = (x: number | null, d = 2) => (x === null ? '–' : x.toFixed(d));
  const rows = cases.map((c) => [
    c.name, fmt(c.store_p50_ms, 3), fmt(c.store_p95_ms, 3), fmt(c.baseline_p50_ms, 3), fmt(c.baseline_p95_ms, 3),
    fmt(c.store_ops_s, 0), fmt(c.baseline_ops_s, 0),
    c.ratio === null ? '–' : c.rounds > 1 ? `${fmt(c.ratio)} (${fmt(c.ratio_min)}–${fmt(c.ratio_max)})` : fmt(c.ratio),
    c.target,
    c.met === null ? '' : `${c.met ? 'yes' : 'NO'} (${c.met_rounds}/${c.rounds})`,
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
  /** The store as shipped (named statements on, the default). */
  orm: MikroORM;
  /** The store with `namedStatements: false`: every statement parsed and planned on every call. */
  ormUnnamed: MikroORM;
  pool: Pool;
  baseline: Baseline;
  /** The baseline with named statements (a reference: the floor with parse and plan cached). */
  baselineNamed: Baseline;
  close(): Promise<void>;
}

async function open(url: string): Promise<Side> {
  const config = (namedStatements: boolean) => runStoreConfig({ clientUrl: url, pool: { min: 0, max: POOL_MAX } }, { runTtlSeconds: TTL, namedStatements });
  const orm = await MikroORM.init(config(true));
  const ormUnnamed = await MikroORM.init(config(false));
  const pool = new Pool({ connectionString: url, max: POOL_MAX });
  const poolNamed = new Pool({ connectionString: url, max: POOL_MAX });
  return {
    orm,
    ormUnnamed,
    pool,
    baseline: new Baseline(pool, TTL),
    baselineNamed: new Baseline(poolNamed, TTL, true),
    close: async () => {
      await orm.close(true);
      await ormUnnamed.close(true);
      await pool.end();
      await poolNamed.end();
    },
  };
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

/** The API form must give the managed run's JSON byte for byte. */
function checkBytes(what: string, api: unknown, managed: unknown): void {
  if (JSON.stringify(api) !== JSON.stringify(managed)) {
    mismatches.push(what);
    log(`!! ${what}: the API form's JSON is not the managed JSON`);
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
  const base = () => side.baseline.create(fullCreateInput(uid('thread'), assistant), newRunId());
  const r = await alternate(n, 20, {
    store: async () => (await repo(side.orm).create(fullCreateInput(uid('thread'), assistant))).toJSON(),
    base,
    // zod's share of create: the baseline plus the store's validation of the same input
    validated: async () => {
      const input = fullCreateInput(uid('thread'), assistant);
      parseOrThrow(createRunSchema, input);
      return side.baseline.create(input, newRunId());
    },
  });
  // The store's write path before this benchmark (kept here to show the difference): validate,
  // build the graph, em.persist + flush in em.transactional (BEGIN, one INSERT per table, COMMIT).
  const before = await alternate(Math.min(n, 100), 10, {
    store: async () => {
      const em = side.orm.em.fork();
      const data = parseOrThrow(createRunSchema, fullCreateInput(uid('thread'), assistant));
      const run = fillRunFromApi(new RunObject(), newApiRun(data, newRunId(), TTL));
      await em.transactional(async (tem) => tem.persist(run));
      return run.toJSON();
    },
    base,
  });
  return [
    fromSamples('1. create (all parts)', r.store, r.base, 'ratio ≤ 1.25', 1.25, 'store: validation (zod) + 1 INSERT statement of CTEs; baseline: the same statement, no validation'),
    fromSamples('1c. baseline + the store\'s validation', r.validated, r.base, 'reference', null, 'the baseline create after parseOrThrow(createRunSchema) of its input: validation\'s share of the store\'s create'),
    fromSamples('1b. create via ORM flush (before)', before.store, before.base, 'reference', null, 'em.persist + flush: BEGIN, 6 INSERTs, COMMIT (8 round trips)'),
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
  const r = await alternate(n, 10, { store, base });
  return [fromSamples('2. lifecycle (6 calls)', r.store, r.base, 'ratio ≤ 1.5', 1.5, 'create, start, requireAction (2 calls), submitToolOutputs, start, complete with usage; each call returns the fresh API object')];
}

const NAMING_NOTE = 'named statements: the store as shipped names its statements (PostgreSQL parses and plans each text once per connection); "unnamed" is `namedStatements: false`; the baseline never names its statements, except in the "baseline, named" reference row';

async function caseGetById(side: Side, n: number): Promise<CaseResult[]> {
  const assistant = uid('asst_get');
  const runs: ApiRunInput[] = Array.from({ length: n }, (_, i) => fullApiRun(newRunId(), uid('thread'), assistant, 1_716_000_000 + i));
  await side.baseline.importBatch(runs);
  const ids = runs.map((r) => r.id);
  const managed = await repo(side.orm).getById(ids[0]);
  check('getById', managed.toJSON(), await side.baseline.getById(ids[0]));
  check('getById (imported object)', managed.toJSON(), runs[0]);
  checkBytes('getById, API form', await repo(side.orm).api.getById(ids[0]), managed);
  checkBytes('getById, API form unnamed', await repo(side.ormUnnamed).api.getById(ids[0]), managed);
  check('getById, baseline named', await side.baselineNamed.getById(ids[0]), await side.baseline.getById(ids[0]));
  const at = (i: number) => ids[(i + n) % n];
  const r = await alternate(n, 20, {
    managed: async (i) => JSON.stringify(await repo(side.orm).getById(at(i))),
    api: async (i) => JSON.stringify(await repo(side.orm).api.getById(at(i))),
    managedUnnamed: async (i) => JSON.stringify(await repo(side.ormUnnamed).getById(at(i))),
    apiUnnamed: async (i) => JSON.stringify(await repo(side.ormUnnamed).api.getById(at(i))),
    baseNamed: async (i) => JSON.stringify(await side.baselineNamed.getById(at(i))),
    base: async (i) => JSON.stringify(await side.baseline.getById(at(i))),
  });
  const before = await alternate(n, 20, {
    store: async (i) => JSON.stringify(await side.orm.em.fork().findOneOrFail(RunObject, { id: at(i) }, { populate: RUN_POPULATE })),
    base: async (i) => JSON.stringify(await side.baseline.getById(at(i))),
  });
  const what = 'run with 3 tools, 2 file ids, 2 pending tool calls, usage, truncation, tool choice, json_schema format; each side serialises what it gets (JSON.stringify)';
  return [
    fromSamples('3. getById, managed (RunObject)', r.managed, r.base, 'ratio ≤ 1.2', 1.2, `${what}; store: 1 statement (JSON-aggregated parts → managed graph)`),
    fromSamples('3a. getById, API form (runs.api)', r.api, r.base, 'ratio ≤ 1.1', 1.1, `${what}; store: 1 statement building the API object`),
    fromSamples('3c. getById, managed, unnamed statements', r.managedUnnamed, r.base, 'reference', null, NAMING_NOTE),
    fromSamples('3d. getById, API form, unnamed statements', r.apiUnnamed, r.base, 'reference', null, NAMING_NOTE),
    fromSamples('3e. getById, baseline, named statements', r.baseNamed, r.base, 'reference', null, 'the baseline with named statements ÷ the baseline'),
    fromSamples('3b. getById via ORM populate (before)', before.store, before.base, 'reference', null, 'findOne + populate: to-ones joined, tools/file_ids/tool calls select-in (4 statements)'),
  ];
}

async function caseList(side: Side, runs: number, label: string, pages: number): Promise<{ results: CaseResult[]; p50s: number[]; p50: number }> {
  const threads = fillThreads(runs, pages);
  // even pages: the thread's newest 20; odd pages: the next 20, after the thread's 20th run
  const second = new Map<string, string>();
  for (const t of threads) second.set(t, (await side.baseline.listByThread(t, 20, null)).last_id!);
  const thread = (i: number) => threads[Math.floor(Math.abs(i) / 2) % threads.length];
  const query = (i: number) => (i % 2 === 0 ? { limit: 20 } : { limit: 20, after: second.get(thread(i))! });
  const first = await repo(side.orm).listByThread(thread(0), { limit: 20 });
  const firstBase = await side.baseline.listByThread(thread(0), 20, null);
  check(`listByThread ${label}`, first, firstBase);
  checkBytes(`listByThread ${label}, API form`, await repo(side.orm).api.listByThread(thread(1), query(1)), await repo(side.orm).listByThread(thread(1), query(1)));
  if (firstBase.data.length !== 20) throw new Error(`list ${label}: a page of ${firstBase.data.length} runs, expected 20`);
  const base = (b: Baseline) => async (i: number) => JSON.stringify(await b.listByThread(thread(i), 20, query(i).after ?? null));
  const r = await alternate(pages, 10, {
    managed: async (i) => JSON.stringify(await repo(side.orm).listByThread(thread(i), query(i))),
    api: async (i) => JSON.stringify(await repo(side.orm).api.listByThread(thread(i), query(i))),
    managedUnnamed: async (i) => JSON.stringify(await repo(side.ormUnnamed).listByThread(thread(i), query(i))),
    apiUnnamed: async (i) => JSON.stringify(await repo(side.ormUnnamed).api.listByThread(thread(i), query(i))),
    baseNamed: base(side.baselineNamed),
    base: base(side.baseline),
  });
  const what = `${pages} pages per round over ${Math.min(pages, threads.length)} threads of 100 runs (first page / next page after a cursor); each side serialises the page`;
  const name = (form: string) => `4${form}. listByThread, page of 20, ${label} runs`;
  return {
    results: [
      fromSamples(name(''), r.managed, r.base, 'ratio ≤ 1.8', 1.8, `managed RunObjects; ${what}`),
      fromSamples(`${name('a')}, API form`, r.api, r.base, 'ratio ≤ 1.1', 1.1, `runs.api; ${what}`),
      fromSamples(`${name('c')}, managed, unnamed`, r.managedUnnamed, r.base, 'reference', null, NAMING_NOTE),
      fromSamples(`${name('d')}, API form, unnamed`, r.apiUnnamed, r.base, 'reference', null, NAMING_NOTE),
      fromSamples(`${name('e')}, baseline, named`, r.baseNamed, r.base, 'reference', null, 'the baseline with named statements ÷ the baseline'),
    ],
    p50s: r.managed.map((x) => pct(x.ms, 50)),
    p50: pct(r.managed.flatMap((x) => x.ms), 50),
  };
}

async function caseClaim(side: Side, queued: number): Promise<CaseResult[]> {
  type Drain = { workers: number; side: 'store' | 'base'; round: number; runs: number; ms: number; latencies: number[] };
  const results: Drain[] = [];
  const fillQueued = async (assistant: string) => {
    const now = Math.floor(Date.now() / 1000) - 3600;
    const runs = Array.from({ length: queued }, (_, n) => queuedApiRun(n, assistant, now));
    for (let i = 0; i < runs.length; i += 500) await side.baseline.importBatch(runs.slice(i, i + 500));
  };
  const drain = async (workers: number, who: 'store' | 'base', round: number) => {
    const assistant = uid(`asst_claim_${who}${workers}`);
    await fillQueued(assistant);
    const claimed: string[] = [];
    const latencies: number[] = [];
    const t = process.hrtime.bigint();
    await Promise.all(
      Array.from({ length: workers }, async () => {
        const em = side.orm.em.fork();
        const worker = uid('worker');
        for (;;) {
          const t0 = process.hrtime.bigint();
          let id: string | null;
          if (who === 'store') {
            em.clear();
            const run = await em.getRepository(RunObject).claimNext({ assistant_id: assistant, worker, leaseSeconds: CLAIM_LEASE_SECONDS });
            id = run ? run.toJSON().id : null;
          } else {
            id = (await side.baseline.claimNext(assistant, worker, CLAIM_LEASE_SECONDS))?.id ?? null;
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
    results.push({ workers, side: who, round, runs: queued, ms, latencies });
  };
  await drain(1, 'store', -1); // warm-up
  await drain(1, 'base', -1);
  results.length = 0;
  for (let r = 0; r < ROUNDS; r++) {
    for (const workers of [1, 4]) {
      if (r % 2 === 0) {
        await drain(workers, 'store', r);
        await drain(workers, 'base', r);
      } else {
        await drain(workers, 'base', r);
        await drain(workers, 'store', r);
      }
    }
  }
  const of = (workers: number, who: 'store' | 'base', r?: number) => results.filter((x) => x.workers === workers && x.side === who && (r === undefined || x.round === r));
  const agg = (rs: Drain[]) => {
    const lat = rs.flatMap((x) => x.latencies);
    return { p50: pct(lat, 50), p95: pct(lat, 95), ops: (rs.reduce((a, x) => a + x.runs, 0) / rs.reduce((a, x) => a + x.ms, 0)) * 1000 };
  };
  const rounds = Array.from({ length: ROUNDS }, (_, r) => r);
  const out: CaseResult[] = [];
  for (const workers of [1, 4]) {
    const s = agg(of(workers, 'store'));
    const b = agg(of(workers, 'base'));
    const row = {
      name: `5. claimNext, ${workers} worker${workers > 1 ? 's' : ''}`,
      store_p50_ms: round(s.p50), store_p95_ms: round(s.p95), baseline_p50_ms: round(b.p50), baseline_p95_ms: round(b.p95),
      store_ops_s: round(s.ops, 1), baseline_ops_s: round(b.ops, 1),
      target: workers === 4 ? 'store ≥ 1.5× 1 worker (ratio: the scaling)' : '– (ratio: p50 ÷ p50)',
      notes: `${ROUNDS}×${queued} queued runs drained per side, each worker with its own lease (${CLAIM_LEASE_SECONDS} s); each claimed exactly once (checked); ops/s = runs claimed per second; p50/p95 per claim`,
    };
    if (workers === 1) {
      out.push(fromRatios(row, rounds.map((r) => agg(of(1, 'store', r)).p50 / agg(of(1, 'base', r)).p50), null));
    } else {
      // the ratio column of this row is the store's scaling, 4 workers ÷ 1 worker in ops/s, per round
      const scaling = (who: 'store' | 'base') => rounds.map((r) => agg(of(4, who, r)).ops / agg(of(1, who, r)).ops);
      const base = scaling('base');
      out.push(fromRatios({ ...row, notes: `${row.notes}; baseline scales ${median(base).toFixed(2)}× (${Math.min(...base).toFixed(2)}–${Math.max(...base).toFixed(2)})` }, scaling('store'), (x) => x >= 1.5));
    }
  }
  return out;
}

/** How often the polling worker of case 7's reference row asks for a run, ms. */
const POLL_MS = 50;
/** How long each iteration of case 7 leaves the worker idle before the create (it has connected, listens and found nothing). */
const IDLE_MS = 30;

const hr = () => Number(process.hrtime.bigint()) / 1e6;
const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Case 7: the latency from `create` to an idle, waiting worker holding the run. In each iteration
 * a worker (its own ORM) starts waiting, stays idle for IDLE_MS, then the run is created (by the
 * store's `create`, on another ORM) and the time is taken from just before the create until the
 * worker's claim returned the run. Sides: the store (`claimNext({ waitMs })`, woken by the
 * trigger's notification, one listening connection per ORM); the baseline, a hand-written
 * LISTEN on a `pg` client that stays connected, which on each notification runs the baseline's
 * claim statement; and, for comparison, a worker polling with the baseline's claim every POLL_MS.
 */
async function caseWakeup(side: Side, url: string, iterations: number): Promise<CaseResult[]> {
  const workerOrm = await MikroORM.init(runStoreConfig({ clientUrl: url, pool: { min: 0, max: 2 } }, { runTtlSeconds: TTL }));
  const listenPool = new Pool({ connectionString: url, max: 2 });
  const baseline = new Baseline(listenPool, TTL);
  const listenClient = new Client({ connectionString: url });
  listenClient.on('error', () => undefined);
  await listenClient.connect();
  await listenClient.query(`listen "assistants_run_store:queued"`);
  let onNotify: (() => void) | null = null;
  listenClient.on('notification', () => onNotify?.());
  const creates: number[] = [];
  /** Per side, the time from create()'s return (the commit) to the worker holding the run. */
  const afterCommit: Record<string, number[]> = { store: [], base: [], poll: [] };
  let committedAt = 0;
  let lastHeld = 0;
  /** Creates a run for `assistant`; returns when the create was sent (the clock starts then). */
  const create = (assistant: string): { t0: number; created: Promise<string> } => {
    const t0 = hr();
    const created = repo(side.orm).create(fullCreateInput(uid('thread'), assistant)).then((run) => {
      committedAt = hr();
      creates.push(committedAt - t0);
      return run.id;
    });
    return { t0, created };
  };
  const sides: Record<'store' | 'base' | 'poll', (assistant: string) => Promise<number>> = {
    store: async (assistant) => {
      let t1 = 0;
      const holding = repo(workerOrm).claimNext({ assistant_id: assistant, worker: 'bench', leaseSeconds: CLAIM_LEASE_SECONDS, waitMs: 10_000 }).then((run) => {
        t1 = hr();
        return run;
      });
      await pause(IDLE_MS);
      const { t0, created } = create(assistant);
      const [id, run] = await Promise.all([created, holding]);
      if (run?.id !== id) throw new Error(`wake-up (store): the worker holds ${run?.id ?? 'nothing'}, not the new run ${id}`);
      lastHeld = t1;
      return t1 - t0;
    },
    base: async (assistant) => {
      let t1 = 0;
      const holding = new Promise<ApiRun>((resolve, reject) => {
        onNotify = () => {
          baseline.claimNext(assistant, 'bench', CLAIM_LEASE_SECONDS).then((run) => {
            if (run && onNotify) {
              onNotify = null;
              t1 = hr();
              resolve(run);
            }
          }, reject);
        };
      });
      await pause(IDLE_MS);
      const { t0, created } = create(assistant);
      const [id, run] = await Promise.all([created, holding]);
      if (run.id !== id) throw new Error(`wake-up (baseline): the worker holds ${run.id}, not the new run ${id}`);
      lastHeld = t1;
      return t1 - t0;
    },
    poll: async (assistant) => {
      let t1 = 0;
      const holding = (async () => {
        for (;;) {
          const run = await baseline.claimNext(assistant, 'bench', CLAIM_LEASE_SECONDS);
          if (run) {
            t1 = hr();
            return run;
          }
          await pause(POLL_MS);
        }
      })();
      await pause(IDLE_MS);
      const { t0, created } = create(assistant);
      const [id, run] = await Promise.all([created, holding]);
      if (run.id !== id) throw new Error(`wake-up (polling): the worker holds ${run.id}, not the new run ${id}`);
      lastHeld = t1;
      return t1 - t0;
    },
  };
  const names = Object.keys(sides) as (keyof typeof sides)[];
  const samples = Object.fromEntries(names.map((k) => [k, [] as Sample[]])) as Record<keyof typeof sides, Sample[]>;
  try {
    for (let w = 0; w < 3; w++) for (const k of names) await sides[k](uid(`asst_wake_${k}`)); // warm-up
    creates.length = 0;
    for (const k of names) afterCommit[k].length = 0;
    for (let r = 0; r < ROUNDS; r++) {
      const round = names.map(() => sample());
      for (let i = 0; i < iterations; i++) {
        for (let j = 0; j < names.length; j++) {
          const at = (i + j) % names.length;
          const ms = await sides[names[at]](uid(`asst_wake_${names[at]}`));
          afterCommit[names[at]].push(lastHeld - committedAt);
          round[at].ms.push(ms);
          round[at].totalMs += ms;
        }
      }
      names.forEach((k, at) => samples[k].push(round[at]));
    }
  } finally {
    await workerOrm.close(true);
    await listenClient.end();
    await listenPool.end();
  }
  const all = (xs: Sample[]) => xs.flatMap((x) => x.ms);
  const row = (name: string, of: Sample[], target: string, notes: string) => ({
    name,
    store_p50_ms: round(pct(all(of), 50)),
    store_p95_ms: round(pct(all(of), 95)),
    baseline_p50_ms: round(pct(all(samples.base), 50)),
    baseline_p95_ms: round(pct(all(samples.base), 95)),
    store_ops_s: 0,
    baseline_ops_s: 0,
    target,
    notes,
  });
  const ratios = (of: Sample[]) => of.map((s, r) => pct(s.ms, 50) / pct(samples.base[r].ms, 50));
  const storeRow = fromRatios(
    row('7. wake-up: create → idle waiting worker holds the run', samples.store, 'store p50 ≤ 10 ms',
      `${ROUNDS}×${iterations} runs per side; from just before create() to the worker's claim returning the run (create itself: p50 ${round(pct(creates, 50))} ms; from create's return: store p50 ${round(pct(afterCommit.store, 50))} / p95 ${round(pct(afterCommit.store, 95))} ms, baseline p50 ${round(pct(afterCommit.base, 50))} / p95 ${round(pct(afterCommit.base, 95))} ms); store: claimNext({ waitMs }) on its own ORM; baseline: a hand-written LISTEN on a pg client kept connected + the baseline claim statement; ratio = store p50 ÷ baseline p50; anchor: graphile-worker reports ~4 ms from add to execution start`),
    ratios(samples.store),
    null,
  );
  const p50s = samples.store.map((s) => pct(s.ms, 50));
  storeRow.met = pct(all(samples.store), 50) <= 10;
  storeRow.met_rounds = p50s.filter((p) => p <= 10).length;
  const pollRow = fromRatios(
    row(`7b. polling every ${POLL_MS} ms instead (reference)`, samples.poll, 'reference',
      `the "store" columns here are a worker polling with the baseline claim every ${POLL_MS} ms (${Math.round(1000 / POLL_MS)} queries/s while idle), the baseline columns the hand-written LISTEN; ratio = polling p50 ÷ LISTEN p50`),
    ratios(samples.poll),
    null,
  );
  return [storeRow, pollRow];
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
  const met = store.runs_s >= 5000 && store.peak_rss_mb <= 300;
  return {
    name: `6. importRun × ${count.toLocaleString('en')} (batches of 500)`,
    store_p50_ms: null, store_p95_ms: null, baseline_p50_ms: null, baseline_p95_ms: null,
    ratio: round(base.runs_s / store.runs_s, 2), ratio_min: null, ratio_max: null,
    store_ops_s: round(store.runs_s, 0), baseline_ops_s: round(base.runs_s, 0),
    target: '≥ 5,000 runs/s, peak RSS ≤ 300 MB',
    met, met_rounds: met ? 1 : 0, rounds: 1,
    notes: `one round (each side imports ${count.toLocaleString('en')} runs in its own process); store: the CLI import path (importRuns → RunRepository#importRuns); peak RSS store ${store.peak_rss_mb} MB, baseline ${base.peak_rss_mb} MB; ratio = time ratio (baseline runs/s ÷ store runs/s)`,
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
  // the 1-minute load average every 5 s while the benchmark runs (other work on a shared machine shows here)
  const loads: number[] = [load0];
  const loadSampler = setInterval(() => loads.push(loadavg()[0]), 5000);
  loadSampler.unref();
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
      if (wanted('create')) {
        log('case 1: create');
        cases.push(...(await caseCreate(side, it)));
      }
      if (wanted('lifecycle')) {
        log('case 2: lifecycle');
        cases.push(...(await caseLifecycle(side, QUICK ? 15 : 100)));
      }
      if (wanted('get')) {
        log('case 3: getById');
        cases.push(...(await caseGetById(side, it)));
      }
      if (wanted('claim')) {
        log('case 5: claimNext');
        cases.push(...(await caseClaim(side, QUICK ? 300 : 1000)));
      }
      if (wanted('wakeup')) {
        log('case 7: wake-up latency');
        cases.push(...(await caseWakeup(side, url, QUICK ? 10 : 40)));
      }
    } finally {
      await side.close();
    }

    const sizes: [number, string][] = !wanted('list') ? [] : QUICK ? [[10_000, '10k']] : [[10_000, '10k'], [1_000_000, '1M']];
    const listP50: Record<string, { p50s: number[]; p50: number }> = {};
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
        const { results, p50s, p50 } = await caseList(listSide, n, label, QUICK ? 30 : 100);
        for (const result of results) result.notes += `; table ${fills[label]}`;
        listP50[label] = { p50s, p50 };
        cases.push(...results);
      } finally {
        await listSide.close();
      }
    }
    const big = listP50['1M'];
    const small = listP50['10k'];
    if (big !== undefined) {
      cases.push(
        fromRatios(
          {
            name: '4b. listByThread latency, 1M vs 10k',
            store_p50_ms: round(big.p50), store_p95_ms: null, baseline_p50_ms: round(small.p50), baseline_p95_ms: null,
            store_ops_s: 0, baseline_ops_s: 0, target: '≤ 1.2',
            notes: 'managed store p50 at 1M ÷ at 10k, round by round (the "baseline" column here is the store at 10k)',
          },
          big.p50s.map((p, r) => p / small.p50s[r]),
          (x) => x <= 1.2,
        ),
      );
    }

    if (wanted('import')) {
      log('case 6: importRun');
      const importDb = await freshDatabase(adminUrl, `ars_bench_import_${process.pid}`);
      cases.push(await caseImport(importDb, QUICK ? 5000 : 100_000));
    }

    await adminQuery(adminUrl, `drop database if exists "${mainDb}" with (force)`);
    await adminQuery(adminUrl, `drop database if exists "ars_bench_import_${process.pid}" with (force)`);

    const load1 = loadavg()[0];
    clearInterval(loadSampler);
    loads.push(load1);
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
      load_average_during: { min: round(Math.min(...loads), 2), median: round(median(loads), 2), max: round(Math.max(...loads), 2), samples: loads.length },
      busy: Math.max(...loads) > 1.5 ? 'the machine was busy (load average above 1.5 during the run): absolute times are noisy; ratios compare sides alternating within each round' : 'quiet',
      quick: QUICK,
      only: ONLY ? [...ONLY] : null,
      rounds: ROUNDS,
      equivalence: mismatches.length === 0 ? 'every store object checked equals the baseline object' : `MISMATCH: ${mismatches.join(', ')}`,
      list_fill: fills,
      seconds: round((Date.now() - started) / 1000, 1),
    };
    const markdown = `${table(cases)}\n\n${env.date.slice(0, 10)}, commit ${env.commit}, Node ${env.node}, PostgreSQL ${env.postgres} (${env.server}), ${env.cpu}; load ${env.load_average_start_end.join(' → ')} (during: median ${env.load_average_during.median}, max ${env.load_average_during.max}); ${env.seconds} s; each ratio the median of ${ROUNDS} alternating rounds (min–max), met = the median meets the target (rounds that met it).`;
    process.stdout.write(`\n${markdown}\n\n`);
    for (const c of cases) process.stdout.write(`- ${c.name}: ${c.notes}\n`);
    if (SAVE) {
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
