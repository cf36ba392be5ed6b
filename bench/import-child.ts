/**
 * Case 6 in a process of its own, so that its peak RSS is the import's alone:
 *   node import-child.js store|baseline DATABASE_URL COUNT PREFIX
 * Streams COUNT generated API run objects as JSON Lines into the store's `import` command path
 * (`importRuns` of src/cli, batches of 500, two written at once) or into the baseline (the same
 * batches, one transaction of delete + one INSERT statement each, two at once on two connections). Prints one JSON line with the result.
 */
import 'reflect-metadata';
import { Readable } from 'node:stream';
import { createInterface } from 'node:readline';
import { MikroORM } from '@mikro-orm/postgresql';
import { Pool } from 'pg';
import { runStoreConfig } from '../src/config';
import { DEFAULT_CONCURRENCY, importRuns } from '../src/cli/commands/import';
import type { ApiRunInput } from '../src/api/types';
import { Baseline } from './baseline';
import { importApiRun } from './fixtures';

const POOL_MAX = 10;

function lines(count: number, prefix: string): Readable {
  return Readable.from(
    (function* () {
      for (let n = 0; n < count; n++) yield JSON.stringify(importApiRun(n, prefix)) + '\n';
    })(),
  );
}

async function main(): Promise<void> {
  const [mode, url, countText, prefix, batchText] = process.argv.slice(2);
  const count = Number(countText);
  const BATCH = batchText === undefined ? 500 : Number(batchText);
  let sampledPeak = 0;
  const sampler = setInterval(() => {
    sampledPeak = Math.max(sampledPeak, process.memoryUsage().rss);
  }, 50);
  const started = process.hrtime.bigint();
  let imported = 0;
  if (mode === 'store') {
    const orm = await MikroORM.init(runStoreConfig({ clientUrl: url, pool: { min: 0, max: POOL_MAX } }));
    try {
      const t = process.hrtime.bigint();
      const summary = await importRuns(orm, lines(count, prefix), { batchSize: BATCH });
      if (summary.bad > 0) throw new Error(`${summary.bad} lines refused`);
      imported = summary.imported;
      report(mode, imported, t, sampledPeak);
    } finally {
      await orm.close(true);
    }
  } else {
    const pool = new Pool({ connectionString: url, max: POOL_MAX });
    const baseline = new Baseline(pool, 600);
    try {
      const t = process.hrtime.bigint();
      // The same concurrency as the store's import (DEFAULT_CONCURRENCY batches on as many
      // connections): these runs have distinct ids and none is active, so order cannot matter.
      const inFlight = new Set<Promise<void>>();
      const send = async (runs: ApiRunInput[]) => {
        while (inFlight.size >= DEFAULT_CONCURRENCY) await Promise.race(inFlight);
        const p = baseline.importBatch(runs).then(() => {
          imported += runs.length;
          inFlight.delete(p);
        });
        inFlight.add(p);
      };
      let batch: ApiRunInput[] = [];
      for await (const line of createInterface({ input: lines(count, prefix), crlfDelay: Infinity })) {
        batch.push(JSON.parse(line) as ApiRunInput);
        if (batch.length === BATCH) {
          await send(batch);
          batch = [];
        }
      }
      if (batch.length > 0) await send(batch);
      await Promise.all(inFlight);
      report(mode, imported, t, sampledPeak);
    } finally {
      await pool.end();
    }
  }
  clearInterval(sampler);
  void started;

  function report(m: string, runs: number, t: bigint, sampled: number): void {
    const seconds = Number(process.hrtime.bigint() - t) / 1e9;
    const peak = Math.max(sampled, process.memoryUsage().rss, process.resourceUsage().maxRSS * 1024);
    process.stdout.write(JSON.stringify({ mode: m, runs, seconds, runs_s: runs / seconds, peak_rss_mb: Math.round(peak / 1024 / 1024) }) + '\n');
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
