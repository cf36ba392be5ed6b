/**
 * Replace in place (issue 15): `importRun`/`importRuns` of a stored id is one statement that
 * updates the run row where it is (`insert … on conflict (id) do update`), so the run never stops
 * existing: a transition waiting for the run's row lock behind a replace finds the run (the
 * replaced one) instead of `RunNotFoundError`. Forced interleavings: a second connection holds
 * the run's row, the operations are seen waiting on it in pg_stat_activity, then it is released.
 */
import { LeaseLostError, RunObject, toApiRun, type ApiRun, type ApiRunInput } from '../../src';
import { apiRunV1, apiRunV2, apiRunWithEveryPart, asStored } from '../factories';
import { apiRunInStatus, USAGE } from '../lifecycle/contract';
import { recordingOrm } from '../support/recording-orm';
import { countAllRows } from '../support/row-counts';
import { holdTransaction, untilBlocked, within, LOCK_WAIT_TIMEOUT_MS } from '../support/lock-wait';
import { useTestDatabase } from '../support/test-database';

const db = useTestDatabase();

jest.setTimeout(30_000);

const lockRow = 'select id from run_object where id = $1 for update';

/** An in_progress run with tools, file ids and every to-one part but a required action. */
const inProgress = (overrides: Partial<ApiRunInput> = {}): ApiRunInput => apiRunWithEveryPart({ status: 'in_progress', required_action: null, ...overrides });

/** Part rows that no run points at (the trigger must have deleted every replaced part). */
async function orphans(): Promise<Record<string, number>> {
  const [row] = await db.sql<Record<string, number>>(
    `select (select count(*)::int from run_required_action a where not exists (select 1 from run_object r where r.required_action_id = a.id)) as actions,
            (select count(*)::int from run_tool_call c where not exists (select 1 from run_object r where r.required_action_id = c.required_action_id)) as calls,
            (select count(*)::int from run_last_error e where not exists (select 1 from run_object r where r.last_error_id = e.id)) as errors,
            (select count(*)::int from run_incomplete_details d where not exists (select 1 from run_object r where r.incomplete_details_id = d.id)) as details,
            (select count(*)::int from run_usage u where not exists (select 1 from run_object r where r.usage_id = u.id)) as usages,
            (select count(*)::int from run_truncation_strategy s where not exists (select 1 from run_object r where r.truncation_strategy_id = s.id)) as strategies,
            (select count(*)::int from run_tool_choice k where not exists (select 1 from run_object r where r.tool_choice_id = k.id)) as choices,
            (select count(*)::int from run_response_format p where not exists (select 1 from run_object r where r.response_format_id = p.id)) as formats`,
  );
  return row;
}
const NO_ORPHANS = { actions: 0, calls: 0, errors: 0, details: 0, usages: 0, strategies: 0, choices: 0, formats: 0 };

/** The run as stored, as the API object. */
const storedApi = async (id: string): Promise<ApiRun> => toApiRun(await db.runs().getById(id));

/** The run's tool and file id rows. */
async function collectionRows(id: string): Promise<{ tools: number; files: number }> {
  const [row] = await db.sql<{ tools: number; files: number }>(
    `select (select count(*)::int from run_tool where run_id = $1) as tools, (select count(*)::int from run_file_id where run_id = $1) as files`,
    [id],
  );
  return row;
}

describe.each([
  ['importRun', (run: ApiRunInput) => db.runs().importRun(run)],
  ['importRuns', (run: ApiRunInput) => db.runs().importRuns([run, apiRunV2({ status: 'completed', expires_at: null })])],
])('a transition waiting behind %s of its run', (_name, replace) => {
  it('finds the run, the replaced one, and returns its graph as stored; no part of the old run is left', async () => {
    const original = inProgress({ metadata: { version: 'old' } });
    await db.runs().importRun(original);
    // no to-one part at all: only the locked row's version can tell the transition that its
    // snapshot's tools and file ids are the old run's
    const replacement = apiRunV1({
      id: original.id,
      thread_id: original.thread_id,
      status: 'in_progress',
      completed_at: null,
      tools: [{ type: 'function', function: { name: 'g', parameters: { type: 'object' } } }],
      file_ids: ['file-new'],
      metadata: { version: 'new' },
    });
    const holder = await holdTransaction(db);
    let replacing: Promise<unknown> = Promise.resolve();
    let completing: Promise<RunObject> = Promise.reject(new Error('not started'));
    completing.catch(() => undefined);
    try {
      await holder.query(lockRow, [original.id]);
      replacing = replace(replacement);
      await untilBlocked(db, holder.pid, replacing);
      completing = db.runs().complete(original.id, USAGE);
      await untilBlocked(db, 'anyone', [replacing, completing], { count: 2 });
      await holder.commit();
    } finally {
      await holder.rollback();
    }
    await within(replacing, LOCK_WAIT_TIMEOUT_MS, 'the replace');
    const completed = await within(completing, LOCK_WAIT_TIMEOUT_MS, 'the transition behind it');
    expect(completed.status).toBe('completed');
    const stored = await storedApi(original.id);
    expect(toApiRun(completed)).toEqual(stored);
    expect(stored).toMatchObject({ status: 'completed', metadata: { version: 'new' }, tools: replacement.tools, file_ids: ['file-new'], usage: USAGE });
    expect(await collectionRows(original.id)).toEqual({ tools: 1, files: 1 });
    expect(await orphans()).toEqual(NO_ORPHANS);
  });
});

describe('a replace waiting behind a writer that changed the run', () => {
  it('sends its statement again (the first wrote nothing: the version it saw was gone) and stores the run whole', async () => {
    const original = inProgress();
    await db.runs().importRun(original);
    const replacement = { ...inProgress({ id: original.id, thread_id: original.thread_id, metadata: { version: 'new' } }), file_ids: ['file-only'] };
    const { orm, statements } = await recordingOrm(db);
    const holder = await holdTransaction(db);
    let replacing: Promise<unknown> = Promise.resolve();
    try {
      // the writer rewrites the run's file ids, as a replace of its own would: rows this replace's snapshot cannot see
      await holder.query(`update run_object set metadata = '{"by":"holder"}' where id = $1`, [original.id]);
      await holder.query(`delete from run_file_id where run_id = $1`, [original.id]);
      await holder.query(`insert into run_file_id (id, run_id, position, file_id) values (gen_random_uuid(), $1, 0, 'file-holder'), (gen_random_uuid(), $1, 1, 'file-holder-2')`, [original.id]);
      replacing = orm.em.fork().getRepository(RunObject).importRun(replacement);
      await untilBlocked(db, holder.pid, replacing);
      await holder.commit();
    } finally {
      await holder.rollback();
    }
    await within(replacing, LOCK_WAIT_TIMEOUT_MS, 'the replace');
    expect(statements.filter((s) => s.startsWith('with replacing as materialized')).length).toBe(2);
    expect(await storedApi(original.id)).toEqual(asStored(replacement)); // whole: the holder's file ids and metadata are gone
    expect(await collectionRows(original.id)).toEqual({ tools: replacement.tools.length, files: 1 });
    expect(await orphans()).toEqual(NO_ORPHANS);
  });

  it('two replaces of one id queued behind a holder both succeed; the later one is stored whole', async () => {
    const original = inProgress();
    await db.runs().importRun(original);
    const first = { ...inProgress({ id: original.id, thread_id: original.thread_id, metadata: { version: 'first' } }), file_ids: ['a', 'b', 'c'] };
    const second = { ...inProgress({ id: original.id, thread_id: original.thread_id, metadata: { version: 'second' } }), file_ids: ['z'], tools: [] };
    const holder = await holdTransaction(db);
    let replaces: Promise<unknown>[] = [];
    try {
      await holder.query(lockRow, [original.id]);
      replaces = [db.runs().importRun(first)];
      await untilBlocked(db, holder.pid, replaces);
      replaces.push(db.runs().importRun(second));
      await untilBlocked(db, 'anyone', replaces, { count: 2 });
      await holder.commit();
    } finally {
      await holder.rollback();
    }
    await within(Promise.all(replaces), LOCK_WAIT_TIMEOUT_MS, 'the replaces');
    const stored = await storedApi(original.id);
    expect(stored).toMatchObject({ metadata: { version: 'second' }, file_ids: ['z'], tools: [] });
    expect(await collectionRows(original.id)).toEqual({ tools: 0, files: 1 });
    expect(await orphans()).toEqual(NO_ORPHANS);
  });
});

it('replacing runs leaves every table holding exactly the stored runs’ rows', async () => {
  // (a plain check of the statement, no race: every part and collection row of the old version goes)
  const runs = [apiRunWithEveryPart(), apiRunWithEveryPart(), apiRunV2()];
  expect(await db.runs().importRuns(runs)).toEqual([null, null, null]);
  const before = await countAllRows(db);
  expect(await db.runs().importRuns(runs)).toEqual([null, null, null]);
  await db.runs().importRun(runs[0]);
  expect(await countAllRows(db)).toEqual(before);
  expect(await orphans()).toEqual(NO_ORPHANS);
});

it('a replaced run holds no lease: the lease columns are a new run’s (as the API object has none)', async () => {
  const run = apiRunInStatus('queued'); // expiring in the future: claimable
  await db.runs().importRun(run);
  const claimed = await db.runs().claimNext({ assistant_id: run.assistant_id, worker: 'w1', leaseSeconds: 60 });
  expect(claimed?.id).toBe(run.id);
  const leaseOf = async () =>
    (await db.sql(`select lease_owner, lease_expires_at is not null as leased, attempt from run_object where id = $1`, [run.id]))[0];
  expect(await leaseOf()).toEqual({ lease_owner: 'w1', leased: true, attempt: 1 });
  await db.runs().importRun({ ...run, status: 'in_progress', started_at: run.created_at + 1 });
  expect(await leaseOf()).toEqual({ lease_owner: null, leased: false, attempt: 0 });
  await expect(db.runs().complete(run.id, USAGE, { worker: 'w1', attempt: 1 })).rejects.toMatchObject({ constructor: LeaseLostError });
});
