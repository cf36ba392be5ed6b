/**
 * `importRuns` writes batches side by side (each in its own transaction, on its own connection)
 * only when their order cannot matter. Proven by outcome: the same input — ids repeated across
 * batches, active runs competing for a thread lock across batches, stored active runs replaced,
 * bad lines — gives the same stored runs and the same reports, in the same order, with
 * concurrency 1 and with concurrency 4; and the concurrent import really did overlap batches.
 */
import { Readable } from 'node:stream';
import { importRuns, type ImportSummary } from '../../src/cli/commands/import';
import type { ApiRunInput } from '../../src/api/types';
import { apiRunV2 } from '../factories';
import { countAllRows } from '../support/row-counts';
import { useTestDatabase } from '../support/test-database';

const db = useTestDatabase();

/** A small deterministic generator (mulberry32), so that both imports read the same lines. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const terminal = (id: string, i: number): ApiRunInput =>
  apiRunV2({
    id,
    thread_id: `thread_t${i}`,
    created_at: 1_716_000_000 + i,
    status: 'completed',
    started_at: 1_716_000_001 + i,
    completed_at: 1_716_000_009 + i,
    expires_at: null,
    metadata: { line: String(i) },
    usage: { prompt_tokens: i, completion_tokens: 1, total_tokens: i + 1 },
    tools: [{ type: 'code_interpreter' }],
  });

const queued = (id: string, thread: string, i: number): ApiRunInput =>
  apiRunV2({ id, thread_id: thread, created_at: 1_716_000_000 + i, metadata: { line: String(i) } });

/** `count` lines: mostly new terminal runs, plus repeated ids, queued runs on few threads, bad lines. */
function lines(count: number, seed: number): string[] {
  const next = random(seed);
  const ids: string[] = [];
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    const roll = next();
    let run: ApiRunInput | null;
    if (roll < 0.55 || ids.length < 10) {
      run = terminal(`run_${seed}_${i}`, i);
    } else if (roll < 0.75) {
      // an id seen before (near or far back): the later line must win
      const id = ids[Math.max(0, ids.length - 1 - Math.floor(next() * 40))];
      run = next() < 0.5 ? terminal(id, i) : queued(id, `thread_q${Math.floor(next() * 3)}`, i);
    } else if (roll < 0.92) {
      // a queued run on one of three threads: the thread lock lets only one be active at a time
      run = queued(`run_${seed}_${i}`, `thread_q${Math.floor(next() * 3)}`, i);
    } else {
      run = null;
    }
    if (run === null) out.push(next() < 0.5 ? '{"not json' : JSON.stringify({ ...terminal(`run_bad_${i}`, i), status: 'running' }));
    else {
      ids.push(run.id);
      out.push(JSON.stringify(run));
    }
  }
  return out;
}

async function importAll(text: string[], concurrency: number): Promise<{ summary: ImportSummary; reports: string[] }> {
  const reports: string[] = [];
  const summary = await importRuns(db.orm, Readable.from(text.map((l) => `${l}\n`)), {
    batchSize: 7,
    concurrency,
    onBadLine: (line, reason) => reports.push(`${line}: ${reason}`),
  });
  return { summary, reports };
}

async function storedState() {
  const runs = await db.sql(`select id, thread_id, status, metadata from run_object order by id`);
  return { runs, counts: await countAllRows(db) };
}

it('the same input gives the same stored runs and reports with concurrency 1 and 4, and batches did overlap', async () => {
  for (const seed of [1, 2, 3]) {
    const text = lines(600, seed);
    await db.sql('delete from run_object');
    const one = await importAll(text, 1);
    const sequential = await storedState();
    expect(one.summary.peakConcurrency).toBe(1);
    expect(one.summary.bad).toBeGreaterThan(10); // bad lines and thread-lock refusals were both exercised
    expect(one.reports.some((r) => r.includes('thread_id'))).toBe(true);

    await db.sql('delete from run_object');
    const four = await importAll(text, 4);
    expect(four.summary.peakConcurrency).toBeGreaterThan(1);
    expect({ ...four.summary, peakConcurrency: 0 }).toEqual({ ...one.summary, peakConcurrency: 0 });
    expect(four.reports).toEqual(one.reports);
    expect(await storedState()).toEqual(sequential);
  }
});

it('a batch that fails stops the import with its error, and no write is left running when importRuns returns', async () => {
  await db.sql('delete from run_object');
  const text = Array.from({ length: 140 }, (_, i) => JSON.stringify(terminal(`run_fail_${i}`, i)));
  const count = async () => Number((await db.sql<{ n: string }>('select count(*) as n from run_object'))[0].n);
  let batches = 0;
  const failing = importRuns(db.orm, Readable.from(text.map((l) => `${l}\n`)), {
    batchSize: 7,
    concurrency: 2,
    onBatch: () => {
      batches++;
      if (batches === 3) throw new Error('the caller gives up');
    },
  });
  await expect(failing).rejects.toThrow('the caller gives up');
  const stored = await count();
  expect(stored).toBeGreaterThanOrEqual(21);
  expect(stored).toBeLessThan(140);
  await new Promise((resolve) => setTimeout(resolve, 300));
  expect(await count()).toBe(stored);
});
