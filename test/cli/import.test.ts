/**
 * `import` as a subprocess on a real database: 10,000 lines with bad lines mixed in (exact
 * counts), stdin, --fail-fast, a refused thread-lock line, and the progress output.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { toApiRun } from '../../src/api/mapping';
import { useTestDatabase } from '../support/test-database';
import { apiRunV2, apiRunWithEveryPart, asStoredText, uid, unsortedParts } from '../factories';
import { ensureBuilt, runCli } from './support/cli';
import { goodRun, writeRunsFile } from './support/jsonl';

const db = useTestDatabase();
const dir = mkdtempSync(path.join(tmpdir(), 'ars-cli-import-'));

beforeAll(ensureBuilt, 120_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const count = async (where = 'true') => Number((await db.sql<{ n: string }>(`select count(*) as n from run_object where ${where}`))[0].n);

describe('assistants-run-store import', () => {
  it('imports a 10,000-line file with bad lines mixed in: every good line written, each bad one reported, exact counts', async () => {
    const file = path.join(dir, 'runs-10k.jsonl');
    const written = await writeRunsFile(file, 9_950, 199);
    expect(written).toMatchObject({ lines: 10_000, good: 9_950, bad: 50 });

    const result = await runCli(['import', file, '--json'], { databaseUrl: db.url, timeoutMs: 170_000 });
    expect(result.code).toBe(1); // some lines were bad
    const summary = JSON.parse(result.stdout);
    expect(summary).toMatchObject({ lines: 10_000, imported: 9_950, bad: 50, stoppedAtLine: null });
    process.stdout.write(`\n[import 10k] ${summary.runs_per_second} runs/s, ${summary.seconds} s, peak RSS ${summary.peak_rss_mb} MB\n`);

    const reported = result.stderr.split('\n').filter((l) => l.startsWith('line '));
    expect(reported).toHaveLength(50);
    expect(reported.map((l) => l.split(': ').slice(0, 2).join(': '))).toEqual(written.badLines.map((b) => `line ${b.line}: ${b.field}`));
    // Not a terminal: plain progress lines, no carriage returns.
    expect(result.stderr).not.toContain('\r');
    expect(await count()).toBe(9_950);
    const completed = Array.from({ length: written.good }, (_, i) => goodRun(i).status).filter((s) => s === 'completed').length;
    expect(await count(`status = 'completed'`)).toBe(completed);
  }, 180_000);

  it('reads stdin with -, and a line the thread lock refuses is reported on thread_id and not written', async () => {
    const thread = uid('thread');
    const first = apiRunV2({ thread_id: thread, status: 'queued' });
    const second = apiRunV2({ thread_id: thread, status: 'queued' });
    const third = apiRunV2({ status: 'completed', expires_at: null });
    const input = [first, second, third].map((r) => JSON.stringify(r)).join('\n') + '\n\n';
    const result = await runCli(['import', '-'], { databaseUrl: db.url, input });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`line 2: thread_id: Thread ${thread} already has an active run`);
    expect(result.stdout).toMatch(/^imported 2 runs from 4 lines in .*; 1 bad line not written; peak memory \d+ MB\n$/);
    const ids = (await db.sql<{ id: string }>('select id from run_object where id = any($1)', [[first.id, second.id, third.id]])).map((r) => r.id);
    expect(ids.sort()).toEqual([first.id, third.id].sort());
  });

  it('every line comes back as the JSON text it was, key order included (batch and line-by-line writes)', async () => {
    const thread = uid('thread');
    const runs = [
      apiRunV2(unsortedParts()),
      apiRunWithEveryPart(unsortedParts()),
      apiRunV2({ ...unsortedParts(), thread_id: thread, metadata: { y: 'first', x: 'second' } }),
    ];
    const lines = runs.map((r) => JSON.stringify(r));
    // A v2 object in the API's key order is its own expected text.
    expect(asStoredText(runs[0])).toBe(lines[0]);
    const clean = await runCli(['import', '-', '--quiet'], { databaseUrl: db.url, input: lines.join('\n') });
    expect(clean).toMatchObject({ code: 0, stderr: '' });
    // A line the thread lock refuses sends its batch down the line-by-line path.
    const more = [apiRunV2({ ...unsortedParts(), thread_id: uid('thread'), metadata: { second: '2', first: '1' } }), apiRunWithEveryPart(unsortedParts())];
    const refused = apiRunV2({ thread_id: thread });
    const fallback = await runCli(['import', '-', '--quiet'], { databaseUrl: db.url, input: [more[0], refused, more[1]].map((r) => JSON.stringify(r)).join('\n') });
    expect(fallback.code).toBe(1);
    expect(fallback.stderr).toContain('line 2: thread_id:');
    for (const run of [...runs, ...more]) expect([run.id, JSON.stringify(toApiRun(await db.runs().getById(run.id)))]).toEqual([run.id, asStoredText(run)]);
  });

  it('--fail-fast stops at the first bad line and keeps the lines before it', async () => {
    const runs = Array.from({ length: 6 }, (_, i) => goodRun(i + 1));
    const lines = runs.map((r) => JSON.stringify(r));
    lines.splice(3, 0, '{not json');
    const result = await runCli(['import', '-', '--fail-fast', '--batch-size', '2'], { databaseUrl: db.url, input: lines.join('\n') });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^line 4: \(json\): /m);
    expect(result.stdout).toContain('stopped at line 4 (--fail-fast)');
    const stored = await db.sql<{ id: string }>('select id from run_object where id = any($1)', [runs.map((r) => r.id)]);
    expect(stored.map((r) => r.id).sort()).toEqual(runs.slice(0, 3).map((r) => r.id).sort());
  });

  it('a clean file exits 0; a missing file is one clear line', async () => {
    const ok = await runCli(['import', '-'], { databaseUrl: db.url, input: JSON.stringify(goodRun(7)) });
    expect(ok).toMatchObject({ code: 0 });
    expect(ok.stdout).toContain('imported 1 run from 1 lines');
    const missing = await runCli(['import', path.join(dir, 'nope.jsonl')], { databaseUrl: db.url });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe(`assistants-run-store import: error: cannot read ${path.join(dir, 'nope.jsonl')}: no such file\n`);
  });
});
