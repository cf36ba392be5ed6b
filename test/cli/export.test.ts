/** `export` as a subprocess: filters, and an export → import → export round trip that is lossless. */
import type { EntityManager } from '@mikro-orm/postgresql';
import { apiRunV1, apiRunV2, apiRunWithEveryPart, asStoredText, createInput, uid, unsortedParts } from '../factories';
import { prepareRunImport, RunObject, RunValidationError } from '../../src';
import { useTestDatabase } from '../support/test-database';
import { ensureBuilt, runCli } from './support/cli';
import { goodRun } from './support/jsonl';
import type { ApiRunInput } from '../../src/api/types';

const source = useTestDatabase();
const target = useTestDatabase();

beforeAll(ensureBuilt, 120_000);

const parseLines = (text: string) => text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);

describe('assistants-run-store export', () => {
  const assistant = uid('asst');
  const thread = uid('thread');
  // 1,200 varied runs: more than two export pages and import batches of 500.
  const runs: ApiRunInput[] = Array.from({ length: 1_200 }, (_, i) => goodRun(i));
  runs.push(
    apiRunV2({ assistant_id: assistant, thread_id: thread, status: 'completed', expires_at: null, metadata: { a: 'b', empty: '' } }),
    apiRunV2({ assistant_id: assistant, status: 'requires_action', required_action: { type: 'submit_tool_outputs', submit_tool_outputs: { tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'f', arguments: '{"x":[1,{"y":null}]}' } }] } } }),
    apiRunV1({ assistant_id: assistant, thread_id: uid('thread'), metadata: { note: 'line\nbreak \u2028 \ud83d\ude00' } }),
    apiRunV2({ thread_id: thread, status: 'failed', expires_at: null, last_error: { code: 'server_error', message: '' }, temperature: 0.123456789, top_p: 1e-7 }),
    // metadata, function parameters and a JSON schema whose keys are not in sorted order
    apiRunV2({ ...unsortedParts(), status: 'completed', expires_at: null }),
    apiRunWithEveryPart(unsortedParts()),
  );
  // U+2028/U+2029: JSON allows them raw in strings, Node 24's readline breaks lines at them.
  const separators = apiRunV2({
    instructions: 'one\u2028two\u2029three \u2028\u2029',
    metadata: { 'key\u2029': 'a\u2028b', plain: '\u2029' },
  });
  runs.push(separators);

  beforeAll(async () => {
    const result = await runCli(['import', '-', '--quiet'], { databaseUrl: source.url, input: runs.map((r) => JSON.stringify(r)).join('\n') });
    expect(result).toMatchObject({ code: 0, stderr: '' });
  }, 120_000);

  it('prints every run as an API run object, oldest first, and every key of the imported object comes back unchanged', async () => {
    const result = await runCli(['export'], { databaseUrl: source.url });
    expect(result.code).toBe(0);
    const out = parseLines(result.stdout);
    expect(out).toHaveLength(runs.length);
    const byId = new Map(out.map((r) => [r.id as string, r]));
    for (const run of runs) {
      const back = byId.get(run.id)!;
      expect(back).toBeDefined();
      for (const [key, value] of Object.entries(run)) expect([run.id, key, back[key]]).toEqual([run.id, key, value]);
    }
    const created = out.map((r) => r.created_at as number);
    expect(created).toEqual([...created].sort((a, b) => a - b));
  });

  it('prints each run as the JSON text it was imported as: key order included, the API key order at the top level', async () => {
    const result = await runCli(['export'], { databaseUrl: source.url });
    expect(result.code).toBe(0);
    const lines = new Map(result.stdout.split('\n').filter(Boolean).map((l) => [(JSON.parse(l) as { id: string }).id, l]));
    expect(lines.size).toBe(runs.length);
    // The stored text exactly, but for U+2028/U+2029, which export writes as escapes (the test below).
    const escaped = (text: string) => text.replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
    for (const run of runs) expect([run.id, lines.get(run.id)]).toEqual([run.id, escaped(asStoredText(run))]);
  });

  it('export → import into another database → export is byte for byte the same', async () => {
    const first = await runCli(['export'], { databaseUrl: source.url });
    const imported = await runCli(['import', '-', '--quiet', '--json'], { databaseUrl: target.url, input: first.stdout });
    expect(imported.code).toBe(0);
    expect(JSON.parse(imported.stdout)).toMatchObject({ imported: runs.length, bad: 0 });
    const second = await runCli(['export'], { databaseUrl: target.url });
    expect(second.code).toBe(0);
    expect(second.stdout).toBe(first.stdout);
  }, 120_000);

  it('writes U+2028 and U+2029 escaped (one run per line for every line reader), and they come back', async () => {
    const result = await runCli(['export'], { databaseUrl: source.url });
    expect(result.code).toBe(0);
    expect(result.stdout).not.toMatch(/[\u2028\u2029]/);
    const line = result.stdout.split(/\r\n|[\n\r\u2028\u2029]/).find((l) => l.includes(separators.id));
    expect(line).toContain(String.raw`"instructions":"one\u2028two\u2029three \u2028\u2029"`);
    expect(JSON.parse(line!)).toMatchObject({ instructions: separators.instructions, metadata: separators.metadata });
  });

  it('filters by thread, assistant and status (and combinations)', async () => {
    const ids = async (...args: string[]) => parseLines((await runCli(['export', ...args], { databaseUrl: source.url })).stdout).map((r) => r.id);
    const sorted = (xs: unknown[]) => [...xs].sort();
    expect(sorted(await ids('--thread', thread))).toEqual(sorted([runs[1200].id, runs[1203].id]));
    expect(sorted(await ids('--assistant', assistant))).toEqual(sorted([runs[1200].id, runs[1201].id, runs[1202].id]));
    expect(sorted(await ids('--assistant', assistant, '--status', 'requires_action,failed'))).toEqual([runs[1201].id]);
    expect(await ids('--thread', thread, '--status', 'failed')).toEqual([runs[1203].id]);
    const failed = runs.filter((r) => r.status === 'failed').length;
    expect(await ids('--status', 'failed')).toHaveLength(failed);
    const bad = await runCli(['export', '--status', 'done'], { databaseUrl: source.url });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^assistants-run-store export: error: --status: unknown status 'done' \(one of: queued, /);
  });
});

describe('export → import keeps the list order of runs created in the same second', () => {
  const origin = useTestDatabase();
  const batched = useTestDatabase();
  const lineByLine = useTestDatabase();
  // one run per thread (the thread lock), two assistants: their lists are the ones compared
  const assistants = [uid('asst'), uid('asst')];

  /** Every run id of `assistantId`, page by page (20 a page), in `order`. */
  const listed = async (db: { orm: { em: { fork(): EntityManager } } }, assistantId: string, order: 'asc' | 'desc') => {
    const runs = db.orm.em.fork().getRepository(RunObject);
    const ids: string[] = [];
    let after: string | undefined;
    for (;;) {
      const page = await runs.api.listByAssistant(assistantId, { order, after });
      ids.push(...page.data.map((r) => r.id));
      if (!page.has_more) return ids;
      after = page.last_id!;
    }
  };

  beforeAll(async () => {
    const runs = origin.orm.em.fork().getRepository(RunObject);
    const seconds = new Map<number, number>();
    for (let i = 0; i < 120; i++) {
      const run = await runs.createRun(createInput({ assistant_id: assistants[i % 2] }));
      const second = Math.floor(run.createdAt.getTime() / 1000);
      seconds.set(second, (seconds.get(second) ?? 0) + 1);
    }
    // what the test is about: several runs share a second (their order is the milliseconds')
    expect(Math.max(...seconds.values())).toBeGreaterThanOrEqual(10);
  }, 120_000);

  it('in batches smaller than a second\'s runs (written two at a time) and line by line (--fail-fast): same pages, same export', async () => {
    const exported = await runCli(['export'], { databaseUrl: origin.url });
    expect(exported.code).toBe(0);
    for (const [db, flags] of [[batched, ['--batch-size', '7', '--concurrency', '2']], [lineByLine, ['--fail-fast']]] as const) {
      const imported = await runCli(['import', '-', '--quiet', ...flags], { databaseUrl: db.url, input: exported.stdout });
      expect(imported).toMatchObject({ code: 0, stderr: '' });
      for (const assistant of assistants) {
        for (const order of ['asc', 'desc'] as const) {
          expect([flags, assistant, order, await listed(db, assistant, order)]).toEqual([flags, assistant, order, await listed(origin, assistant, order)]);
        }
      }
      const again = await runCli(['export'], { databaseUrl: db.url });
      expect(again.stdout).toBe(exported.stdout);
    }
  }, 120_000);

  it('prepareRunImport places the runs of one second in input order, across batches (follows), at most 999 ms past the second', () => {
    const second = 1_700_000_000;
    const runs = Array.from({ length: 1_003 }, (_, i) => apiRunV2({ created_at: i === 1 ? second + 1 : second }));
    const first = prepareRunImport(runs.slice(0, 3));
    expect(first.valid.map((v) => v.createdAtOffsetMs)).toEqual([0, 0, 1]);
    const next = prepareRunImport(runs.slice(3), first);
    expect(next.valid.slice(0, 3).map((v) => v.createdAtOffsetMs)).toEqual([2, 3, 4]);
    expect(next.valid.slice(-3).map((v) => v.createdAtOffsetMs)).toEqual([999, 999, 999]);
    // a batch on its own starts again; a look-alike batch is refused
    expect(prepareRunImport(runs.slice(3, 4)).valid[0].createdAtOffsetMs).toBe(0);
    expect(() => prepareRunImport(runs.slice(3, 4), { ...first })).toThrow(RunValidationError);
  });
});
