/**
 * The store inside a service's unit of work and transaction (issue 15): no store call flushes,
 * clears or rolls back anything of the caller's; inside the caller's `em.transactional` every call
 * runs on the transaction's one connection (a pool of ONE: a second connection would wait and fail
 * the call), and a refused write leaves the transaction usable (a savepoint around each write).
 */
import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import { InvalidRunTransitionError, RunObject, ThreadHasActiveRunError, type ApiRun, type RunHistoryEntry, type RunRepository } from '../../src';
import { apiRunV2, createInput, uid } from '../factories';
import { apiRunInStatus, call, USAGE } from '../lifecycle/contract';
import { useTestDatabase, type TestDatabase } from '../support/test-database';
import { committedNote, NoteEntity, serviceOrm } from './support';

const db = useTestDatabase();

jest.setTimeout(60_000);

/** One store call and what it must come to. */
interface Call {
  name: string;
  call: (runs: RunRepository) => Promise<unknown>;
  /** The error class it must be refused with; it must succeed when absent. */
  refused?: new (...args: never[]) => Error;
  /** More checks on the result (or the error). */
  check?: (outcome: unknown) => void;
}

/** A stored run in `status` (written before the calls, outside the caller's unit of work). */
async function stored(status: ApiRun['status'], overrides: Partial<ApiRun> = {}): Promise<ApiRun> {
  const run = { ...apiRunInStatus(status), ...overrides };
  await db.runs().importRun(run);
  return run;
}

/**
 * Every write of the repository (and the reads that could flush), each on runs of its own, with
 * refused writes among them: a thread lock (create, importRun, a line of importRuns) and an
 * illegal transition.
 */
async function everyCall(): Promise<Call[]> {
  const now = Math.floor(Date.now() / 1000);
  const assistant = uid('asst');
  const replaced = await stored('completed');
  const batchReplaced = await stored('failed');
  const locked = await stored('in_progress');
  const queued = await stored('queued');
  const inProgress = await stored('in_progress');
  const requiring = await stored('requires_action');
  const toComplete = await stored('in_progress');
  const toFail = await stored('queued');
  const toMarkIncomplete = await stored('in_progress');
  const toCancel = await stored('queued');
  const cancelling = await stored('cancelling');
  const claimable = await stored('queued', { assistant_id: assistant });
  const overdue = await stored('in_progress', { expires_at: now - 60 });
  const terminal = await stored('completed');
  const expectActive = (activeRunId: string) => (error: unknown) => expect((error as ThreadHasActiveRunError).activeRunId).toBe(activeRunId);
  return [
    { name: 'create', call: (runs) => runs.create(createInput()) },
    { name: 'create on a locked thread', call: (runs) => runs.create(createInput({ thread_id: locked.thread_id })), refused: ThreadHasActiveRunError, check: expectActive(locked.id) },
    { name: 'importRun (new)', call: (runs) => runs.importRun(apiRunV2({ status: 'completed', expires_at: null })) },
    { name: 'importRun (replace)', call: (runs) => runs.importRun({ ...replaced, metadata: { replaced: 'yes' } }) },
    {
      name: 'importRun on a locked thread',
      call: (runs) => runs.importRun(apiRunV2({ thread_id: locked.thread_id })),
      refused: ThreadHasActiveRunError,
      check: expectActive(locked.id),
    },
    {
      name: 'importRuns (new and replace)',
      call: (runs) => runs.importRuns([apiRunV2({ status: 'completed', expires_at: null }), { ...batchReplaced, metadata: { replaced: 'yes' } }]),
      check: (results) => expect(results).toEqual([null, null]),
    },
    {
      name: 'importRuns with a line the thread lock refuses',
      call: (runs) => runs.importRuns([apiRunV2({ status: 'completed', expires_at: null }), apiRunV2({ thread_id: locked.thread_id })]),
      check: (results) => expect((results as unknown[]).map((r) => (r === null ? null : (r as Error).constructor.name))).toEqual([null, 'ThreadHasActiveRunError']),
    },
    { name: 'start', call: (runs) => runs.start(queued.id) },
    { name: 'start of a completed run', call: (runs) => runs.start(terminal.id), refused: InvalidRunTransitionError },
    { name: 'requireAction', call: (runs) => runs.requireAction(inProgress.id, [call('call_1')]) },
    { name: 'submitToolOutputs', call: (runs) => runs.submitToolOutputs(requiring.id, [{ tool_call_id: 'call_a', output: '1' }, { tool_call_id: 'call_b', output: '2' }]) },
    { name: 'complete', call: (runs) => runs.complete(toComplete.id, USAGE) },
    { name: 'fail', call: (runs) => runs.fail(toFail.id, { code: 'server_error', message: 'x' }) },
    { name: 'markIncomplete', call: (runs) => runs.markIncomplete(toMarkIncomplete.id, { reason: 'max_prompt_tokens' }) },
    { name: 'cancel', call: (runs) => runs.cancel(toCancel.id) },
    { name: 'confirmCancelled', call: (runs) => runs.confirmCancelled(cancelling.id) },
    { name: 'claimNext', call: (runs) => runs.claimNext({ assistant_id: assistant }), check: (run) => expect((run as RunObject).id).toBe(claimable.id) },
    { name: 'expireOverdue', call: (runs) => runs.expireOverdue(), check: (count) => expect(count).toBe(1) },
    { name: 'updateMetadata', call: (runs) => runs.updateMetadata(terminal.id, { touched: 'yes' }) },
    { name: 'findActiveForThread', call: (runs) => runs.findActiveForThread(locked.thread_id), check: (run) => expect((run as RunObject).id).toBe(locked.id) },
    { name: 'findById', call: (runs) => runs.findById(overdue.id), check: (run) => expect((run as RunObject).status).toBe('expired') },
    {
      name: 'history',
      call: (runs) => runs.history(requiring.id),
      check: (history) => expect((history as RunHistoryEntry[]).map((h) => [h.to, h.toolOutputs?.map((o) => o.function.output) ?? null])).toEqual([['requires_action', null], ['queued', ['1', '2']]]),
    },
  ];
}

/** `call`'s outcome checked: it resolves, or is refused with the expected class. */
async function perform(runs: RunRepository, c: Call): Promise<void> {
  let outcome: unknown;
  let refusedWith: unknown = null;
  try {
    outcome = await c.call(runs);
  } catch (error) {
    refusedWith = error;
    outcome = error;
  }
  expect({ call: c.name, refused: refusedWith === null ? null : (refusedWith as Error).constructor.name }).toEqual({
    call: c.name,
    refused: c.refused?.name ?? null,
  });
  c.check?.(outcome);
}

/** A stored run the caller will hold, with metadata `{ kept: 'as stored' }`. */
async function runToHold(): Promise<string> {
  return (await stored('completed', { metadata: { kept: 'as stored' } })).id;
}

/** The caller's unsaved changes: note 1's body and the run `heldId` it holds (loaded, then its metadata changed in memory, not flushed). */
async function makeUnsavedChanges(em: EntityManager, heldId: string): Promise<void> {
  const note = await em.findOneOrFail(NoteEntity, 1);
  note.body = 'edited';
  const run = await em.getRepository(RunObject).getById(heldId);
  run.metadata = { edited: 'by the caller' };
}

async function committedMetadata(id: string): Promise<unknown> {
  const [row] = await db.sql<{ metadata: unknown }>(`select metadata from run_object where id = $1`, [id]);
  return row.metadata;
}

async function resetNote(database: TestDatabase): Promise<void> {
  await database.sql(`update citizen_note set body = 'original' where id = 1`);
}

describe('a caller with unsaved changes around every store call', () => {
  let orm: MikroORM;
  beforeAll(async () => {
    orm = await serviceOrm(db);
  });

  it('outside a transaction: nothing of the caller is written, cleared or lost; its flush writes it afterwards', async () => {
    await resetNote(db);
    const calls = await everyCall();
    const heldId = await runToHold();
    const em = orm.em.fork();
    await makeUnsavedChanges(em, heldId);
    const runs = em.getRepository(RunObject);
    for (const c of calls) {
      await perform(runs, c);
      expect({ after: c.name, note: await committedNote(db), held: await committedMetadata(heldId) }).toEqual({
        after: c.name,
        note: 'original',
        held: { kept: 'as stored' },
      });
    }
    // still pending in the caller's unit of work: its own flush writes exactly its changes
    await em.flush();
    expect(await committedNote(db)).toBe('edited');
    expect(await committedMetadata(heldId)).toEqual({ edited: 'by the caller' });
  });
});

describe("every store call inside the caller's em.transactional, on a pool of ONE connection", () => {
  let orm: MikroORM;
  beforeAll(async () => {
    orm = await serviceOrm(db, { poolOfOne: true });
  });

  /** Note 1's body as the caller's transaction sees it (on its own connection). */
  const noteInside = async (tx: EntityManager) => {
    const rows = await tx.getConnection().execute<{ body: string }[]>(`select body from citizen_note where id = 1`, [], 'all', tx.getTransactionContext());
    return rows[0].body;
  };

  it('runs every call on the transaction, flushes nothing of the caller, survives refused writes, and commits with the caller', async () => {
    await resetNote(db);
    const calls = await everyCall();
    const heldId = await runToHold();
    const created: string[] = [];
    await orm.em.fork().transactional(async (tx) => {
      const runs = tx.getRepository(RunObject);
      // refused first: the transaction must still be usable for everything after it
      const first = await runs.create(createInput());
      created.push(first.id);
      await expect(runs.create(createInput({ thread_id: first.threadId }))).rejects.toMatchObject({
        constructor: ThreadHasActiveRunError,
        activeRunId: first.id, // visible only inside this transaction: looked up on its connection
      });
      await makeUnsavedChanges(tx, heldId);
      for (const c of calls) {
        await perform(runs, c);
        expect({ after: c.name, note: await noteInside(tx) }).toEqual({ after: c.name, note: 'original' });
      }
      expect(await committedNote(db)).toBe('original');
      expect(await db.sql(`select id from run_object where id = $1`, [first.id])).toEqual([]); // not committed yet
    });
    // the caller's transactional flushed its own changes at its commit, with the store's writes
    expect(await committedNote(db)).toBe('edited');
    expect(await committedMetadata(heldId)).toEqual({ edited: 'by the caller' });
    const [{ status }] = await db.sql<{ status: string }>(`select status from run_object where id = $1`, [created[0]]);
    expect(status).toBe('queued');
  });

  it('a refused write inside the transaction leaves it usable: no 25P02, and the caller commits what came after', async () => {
    const locked = await stored('in_progress');
    const em = orm.em.fork();
    let after = '';
    await em.transactional(async (tx) => {
      const runs = tx.getRepository(RunObject);
      await expect(runs.create(createInput({ thread_id: locked.thread_id }))).rejects.toMatchObject({ activeRunId: locked.id });
      await expect(runs.importRun(apiRunV2({ thread_id: locked.thread_id }))).rejects.toBeInstanceOf(ThreadHasActiveRunError);
      await expect(runs.complete(locked.id, USAGE)).resolves.toMatchObject({ status: 'completed' });
      after = (await runs.create(createInput({ thread_id: locked.thread_id }))).id;
    });
    const rows = await db.sql<{ id: string; status: string }>(`select id, status from run_object where thread_id = $1 order by created_at`, [locked.thread_id]);
    expect(rows).toEqual([
      { id: locked.id, status: 'completed' },
      { id: after, status: 'queued' },
    ]);
  });

  it('the pool really has one connection: a second one is not to be had while the transaction holds it', async () => {
    // (so the test above would fail, not hang, had any call asked the pool for another connection)
    await expect(
      orm.em.fork().transactional(async () => {
        await orm.em.fork().getRepository(RunObject).findById('run_none');
      }),
    ).rejects.toMatchObject({ reason: 'pool_exhausted' });
  });
});
