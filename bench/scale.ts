/**
 * `npm run bench:scale`: the store at 1M and 10M runs (ARS_SCALE_RUNS, comma-separated, overrides),
 * for the partitioning design (docs/scaling.md). Not part of `npm test` nor of `npm run bench`.
 * Per size: the fill time, table and index sizes, and the p50 latency of a list page
 * (listByThread, 20 fully hydrated runs) and of a claim (claimNext among 1,000 queued runs beside
 * the filled completed ones), store and hand-written baseline alternating, in one run.
 * On DATABASE_URL (a server where the user may create databases; filled databases are reused
 * across runs), else an embedded PostgreSQL (filled anew). Writes bench/results/scale-<date>.json.
 */
import 'reflect-metadata';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { MikroORM } from '@mikro-orm/postgresql';
import { Client, Pool } from 'pg';
import { RunObject, runStoreConfig } from '../src';
import { adminQuery, withDatabase } from '../src/dev/databases';
import { startEmbeddedPostgres } from '../src/dev/embedded-postgres';
import { Baseline } from './baseline';
import { fill, fillThreads, isFilled } from './fill';
import { queuedApiRun, uid } from './fixtures';

const SIZES = (process.env.ARS_SCALE_RUNS ?? '1000000,10000000').split(',').map(Number);
const PAGES = 200;
const CLAIMS = 1000;
const ROOT = __dirname.includes(`${path.sep}.build${path.sep}`) ? path.resolve(__dirname, '..', '..', '..') : path.resolve(__dirname, '..');
const log = (line: string) => process.stderr.write(`${line}\n`);

const p50 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
async function time(fn: () => Promise<unknown>): Promise<number> {
  const t = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t) / 1e6;
}

interface SizeResult {
  runs: number;
  fill_s: number | null;
  database_mb: number;
  run_object_mb: number;
  run_object_indexes_mb: Record<string, number>;
  list_p50_ms: { store: number; baseline: number };
  claim_p50_ms: { store: number; baseline: number };
}

async function sizes(url: string): Promise<Pick<SizeResult, 'database_mb' | 'run_object_mb' | 'run_object_indexes_mb'>> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    const mb = (b: string) => Math.round(Number(b) / 1048576);
    const [db] = (await client.query<{ db: string; heap: string }>(`select pg_database_size(current_database()) as db, pg_relation_size('run_object') as heap`)).rows;
    const idx = (await client.query<{ name: string; bytes: string }>(`select indexrelid::regclass::text as name, pg_relation_size(indexrelid) as bytes from pg_index where indrelid = 'run_object'::regclass order by 1`)).rows;
    return { database_mb: mb(db.db), run_object_mb: mb(db.heap), run_object_indexes_mb: Object.fromEntries(idx.map((i) => [i.name, mb(i.bytes)])) };
  } finally {
    await client.end();
  }
}

async function measure(url: string, n: number): Promise<Pick<SizeResult, 'list_p50_ms' | 'claim_p50_ms'>> {
  const orm = await MikroORM.init(runStoreConfig({ clientUrl: url, pool: { min: 0, max: 4 } }));
  const pool = new Pool({ connectionString: url, max: 4 });
  const baseline = new Baseline(pool, 600);
  try {
    const threads = fillThreads(n, 50);
    const list = { store: [] as number[], baseline: [] as number[] };
    for (let i = -20; i < PAGES; i++) {
      const thread = threads[Math.abs(i) % threads.length];
      const s = await time(async () => (await orm.em.fork().getRepository(RunObject).listByThread(thread, { limit: 20 })).data.map((r) => r.toJSON()));
      const b = await time(() => baseline.listByThread(thread, 20, null));
      if (i >= 0) list.store.push(s), list.baseline.push(b);
    }
    const claim = { store: [] as number[], baseline: [] as number[] };
    for (const who of ['store', 'baseline'] as const) {
      const assistant = uid(`asst_scale_${who}`);
      const at = Math.floor(Date.now() / 1000) - 3600;
      const runs = Array.from({ length: CLAIMS }, (_, k) => queuedApiRun(k, assistant, at));
      for (let k = 0; k < runs.length; k += 500) await baseline.importBatch(runs.slice(k, k + 500));
      for (let k = 0; k < CLAIMS; k++) {
        claim[who].push(
          await time(() =>
            who === 'store'
              ? orm.em.fork().getRepository(RunObject).claimNext({ assistant_id: assistant, worker: 'scale-worker', leaseSeconds: 300 })
              : baseline.claimNext(assistant, 'scale-worker', 300),
          ),
        );
      }
    }
    return { list_p50_ms: { store: p50(list.store), baseline: p50(list.baseline) }, claim_p50_ms: { store: p50(claim.store), baseline: p50(claim.baseline) } };
  } finally {
    await orm.close(true);
    await pool.end();
  }
}

async function main(): Promise<void> {
  let adminUrl = process.env.DATABASE_URL;
  let stop: (() => Promise<void>) | null = null;
  if (!adminUrl) {
    const server = await startEmbeddedPostgres();
    adminUrl = server.adminUrl;
    stop = server.stop;
  }
  const results: SizeResult[] = [];
  try {
    for (const n of SIZES) {
      const url = withDatabase(adminUrl, `ars_bench_scale_${n}`);
      let fillSeconds: number | null = null;
      if (!(await isFilled(url, n).catch(() => false))) {
        await adminQuery(adminUrl, `drop database if exists "ars_bench_scale_${n}" with (force)`);
        await adminQuery(adminUrl, `create database "ars_bench_scale_${n}"`);
        const orm = await MikroORM.init(runStoreConfig({ clientUrl: url, migrations: { silent: true } }));
        await orm.getMigrator().up();
        await orm.close(true);
        log(`filling ${n} runs`);
        fillSeconds = await fill(url, n, log);
      }
      log(`measuring at ${n} runs`);
      results.push({ runs: n, fill_s: fillSeconds === null ? null : Math.round(fillSeconds), ...(await sizes(url)), ...(await measure(url, n)) });
    }
  } finally {
    await stop?.();
  }
  const r3 = (x: number) => x.toFixed(3);
  const lines = [
    '| runs | fill s | database MB | run_object heap MB | its indexes MB | list page p50 ms store / base | claim p50 ms store / base |',
    '| --- | --- | --- | --- | --- | --- | --- |',
    ...results.map((r) => `| ${r.runs.toLocaleString('en-US')} | ${r.fill_s ?? 'reused'} | ${r.database_mb} | ${r.run_object_mb} | ${Object.values(r.run_object_indexes_mb).reduce((a, b) => a + b, 0)} | ${r3(r.list_p50_ms.store)} / ${r3(r.list_p50_ms.baseline)} | ${r3(r.claim_p50_ms.store)} / ${r3(r.claim_p50_ms.baseline)} |`),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  const dir = path.join(ROOT, 'bench', 'results');
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, `scale-${new Date().toISOString().slice(0, 10)}.json`), `${JSON.stringify({ server: process.env.DATABASE_URL ? 'DATABASE_URL' : 'embedded', results }, null, 2)}\n`);
}

main().catch((error) => {
  log(String((error as Error).stack ?? error));
  process.exit(1);
});
