/**
 * Retention: `purgeRuns` deletes exactly the terminal runs older than the cutoff, with all their
 * parts, in bounded batches that several processes can run at once, beside transitions.
 */
import { RunValidationError, type RunStatus } from '../../src';
import { TERMINAL_STATUSES } from '../../src/api/types';
import { apiRunWithEveryPart, apiRunV2, uid } from '../factories';
import { recordingOrm } from '../support/recording-orm';
import { orphanCounts } from '../support/row-counts';
import { useTestDatabase } from '../support/test-database';
import { RunObject } from '../../src';

const db = useTestDatabase();

const OLD = 1_600_000_000; // 2020
const DAY = 86_400;
const finished = (status: RunStatus) =>
  status === 'failed'
    ? { last_error: { code: 'server_error' as const, message: 'x' }, failed_at: OLD + 10, expires_at: null }
    : status === 'incomplete'
      ? { incomplete_details: { reason: 'max_prompt_tokens' as const }, completed_at: OLD + 10, expires_at: null }
      : status === 'expired'
        ? {}
        : { expires_at: null };

/** Imports `n` runs of `status` created `createdAt`, each with every part; returns their ids. */
async function seed(n: number, status: RunStatus, createdAt: number, tag: string): Promise<string[]> {
  const runs = Array.from({ length: n }, () =>
    apiRunWithEveryPart({ id: uid(`run_${tag}`), thread_id: uid('thread'), status, created_at: createdAt, required_action: null, ...finished(status) }),
  );
  const results = await db.runs().importRuns(runs);
  expect(results.filter((r) => r !== null)).toEqual([]);
  return runs.map((r) => r.id);
}

const existing = async (ids: string[]) => (await db.sql<{ id: string }>('select id from run_object where id = any($1)', [ids])).map((r) => r.id);

test('deletes only terminal runs created before the cutoff, with all their parts; dry run counts the same', async () => {
  const oldTerminal = (await Promise.all(TERMINAL_STATUSES.map((s) => seed(3, s, OLD, 'oldterm')))).flat();
  const oldActive = [...(await seed(2, 'queued', OLD, 'oldact')), ...(await seed(2, 'in_progress', OLD, 'oldact'))];
  const newTerminal = await seed(4, 'completed', Math.floor(Date.now() / 1000) - 60, 'newterm');
  const before = new Date((OLD + DAY) * 1000);
  expect(await db.runs().purgeRuns({ before, dryRun: true })).toBe(oldTerminal.length);
  expect(await existing(oldTerminal)).toHaveLength(oldTerminal.length);
  expect(await db.runs().purgeRuns({ before, batchSize: 4 })).toBe(oldTerminal.length);
  expect(await existing(oldTerminal)).toEqual([]);
  expect((await existing(oldActive)).sort()).toEqual([...oldActive].sort());
  expect((await existing(newTerminal)).sort()).toEqual([...newTerminal].sort());
  expect(await orphanCounts(db)).toEqual({});
  expect(await db.runs().purgeRuns({ before })).toBe(0);
});

test('olderThanSeconds on the database clock, and only the statuses asked for', async () => {
  const failed = await seed(3, 'failed', OLD, 'f');
  const completed = await seed(3, 'completed', OLD, 'c');
  expect(await db.runs().purgeRuns({ olderThanSeconds: 365 * DAY, statuses: ['failed'] })).toBe(3);
  expect(await existing(failed)).toEqual([]);
  expect(await existing(completed)).toHaveLength(3);
  expect(await db.runs().purgeRuns({ olderThanSeconds: 365 * DAY, statuses: ['completed'] })).toBe(3);
  // a cutoff before every run: nothing
  const recent = await seed(2, 'completed', Math.floor(Date.now() / 1000) - 3600, 'r');
  expect(await db.runs().purgeRuns({ olderThanSeconds: 2 * 3600 })).toBe(0);
  expect(await existing(recent)).toHaveLength(2);
});

test('each batch is one bounded statement (the batch size is in it)', async () => {
  await seed(10, 'cancelled', OLD + 5, 'b');
  const { orm, statements } = await recordingOrm(db);
  const purged = await orm.em.fork().getRepository(RunObject).purgeRuns({ before: new Date((OLD + 6) * 1000), batchSize: 4 });
  expect(purged).toBe(10);
  const batches = statements.filter((s) => s.includes('delete from "run_object"'));
  expect(batches).toHaveLength(3); // 4 + 4 + 2
  for (const b of batches) expect(b).toMatch(/limit 4 for update skip locked/);
});

test('four purges at once delete every old run exactly once, beside transitions on new runs', async () => {
  const old = (await Promise.all(['completed', 'failed', 'expired'].map((s) => seed(150, s as RunStatus, OLD + 100, 'conc')))).flat();
  const fresh = await Promise.all(Array.from({ length: 20 }, () => db.runs().create({ thread_id: uid('thread'), assistant_id: uid('asst'), model: 'gpt-4o' })));
  const before = new Date((OLD + 101) * 1000);
  const [counts] = await Promise.all([
    Promise.all(Array.from({ length: 4 }, () => db.runs().purgeRuns({ before, batchSize: 25 }))),
    Promise.all(fresh.map(async (r) => { await db.runs().start(r.id); await db.runs().complete(r.id); })),
    Promise.all(old.slice(0, 30).map((id) => db.runs().updateMetadata(id, { touched: 'yes' }).catch((e: unknown) => e))),
  ]);
  // the metadata updates may hold a row a batch skips: a last purge picks up what is left
  const rest = await db.runs().purgeRuns({ before });
  expect(counts.reduce((a, b) => a + b, 0) + rest).toBe(old.length);
  expect(await existing(old)).toEqual([]);
  expect(await existing(fresh.map((r) => r.id))).toHaveLength(fresh.length);
  expect(await orphanCounts(db)).toEqual({});
});

test.each([
  [{}, 'options'],
  [{ olderThanSeconds: 1, before: new Date() }, 'options'],
  [{ olderThanSeconds: -1 }, 'options.olderThanSeconds'],
  [{ olderThanSeconds: Number.NaN }, 'options.olderThanSeconds'],
  [{ before: new Date('x') }, 'options.before'],
  [{ olderThanSeconds: 1, statuses: ['queued'] }, 'options.statuses[0]'],
  [{ olderThanSeconds: 1, statuses: [] }, 'options.statuses'],
  [{ olderThanSeconds: 1, batchSize: 0 }, 'options.batchSize'],
  [{ olderThanSeconds: 1, batchSize: 1e9 }, 'options.batchSize'],
  [{ olderThanSeconds: 1, olderthan: 5 }, 'options.olderthan'],
])('refuses %j (RunValidationError on %s), deleting nothing', async (options, field) => {
  const ids = await seed(1, 'completed', OLD, 'bad');
  const error = await db.runs().purgeRuns(options as never).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(RunValidationError);
  expect((error as RunValidationError).field).toBe(field);
  expect(await existing(ids)).toHaveLength(1);
});

test('a v2 run with no parts is purged too', async () => {
  const run = apiRunV2({ status: 'cancelled', created_at: OLD, expires_at: null, cancelled_at: OLD + 1 });
  await db.runs().importRun(run);
  expect(await db.runs().purgeRuns({ before: new Date((OLD + 2) * 1000), statuses: ['cancelled'] })).toBeGreaterThanOrEqual(1);
  expect(await existing([run.id])).toEqual([]);
});
