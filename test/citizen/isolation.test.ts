/**
 * The store inside a caller's REPEATABLE READ and SERIALIZABLE transactions (issue 15): every
 * operation works there; where PostgreSQL refuses a write because the run changed after the
 * transaction's snapshot (40001), the caller gets the retryable `RunStoreUnavailableError`
 * 'conflict', its transaction stays usable (the write's savepoint is rolled back), and running
 * the transaction again succeeds.
 */
import { IsolationLevel, type EntityManager, type MikroORM } from '@mikro-orm/postgresql';
import { RunObject, ThreadHasActiveRunError, type ApiRun, type RunRepository } from '../../src';
import { RunStoreUnavailableError } from '../../src/errors';
import { apiRunV2, createInput, uid } from '../factories';
import { apiRunInStatus, call, USAGE } from '../lifecycle/contract';
import { useTestDatabase } from '../support/test-database';
import { serviceOrm } from './support';

const db = useTestDatabase();

jest.setTimeout(60_000);

let orm: MikroORM;
beforeAll(async () => {
  orm = await serviceOrm(db);
});

async function stored(status: ApiRun['status'], overrides: Partial<ApiRun> = {}): Promise<ApiRun> {
  const run = { ...apiRunInStatus(status), ...overrides };
  await db.runs().importRun(run);
  return run;
}

const statusOf = async (id: string) => (await db.sql<{ status: string }>(`select status from run_object where id = $1`, [id]))[0]?.status;

/** `body` in a transaction of the service's ORM at `level`, after a first read that takes the snapshot. */
function atLevel<T>(level: IsolationLevel, body: (runs: RunRepository, tx: EntityManager) => Promise<T>): Promise<T> {
  return orm.em.fork().transactional(
    async (tx) => {
      await tx.getRepository(RunObject).countByStatus(); // the transaction's snapshot is taken here
      return body(tx.getRepository(RunObject), tx);
    },
    { isolationLevel: level },
  );
}

/** A change to run `id` committed by another session (after the caller's snapshot). */
const changeElsewhere = (id: string) => db.runs().updateMetadata(id, { changed: 'elsewhere' });

const conflict = { constructor: RunStoreUnavailableError, reason: 'conflict', retryable: true, outcomeUnknown: false, code: '40001' };

describe.each([
  ['REPEATABLE READ', IsolationLevel.REPEATABLE_READ],
  ['SERIALIZABLE', IsolationLevel.SERIALIZABLE],
])('a caller transaction at %s', (_name, level) => {
  it('every operation works, and commits with the caller', async () => {
    const assistant = uid('asst');
    const overdue = await stored('in_progress', { expires_at: Math.floor(Date.now() / 1000) - 60 });
    const replaced = await stored('completed');
    const queued = await stored('queued', { assistant_id: assistant });
    const ids = await atLevel(level, async (runs) => {
      const run = await runs.create(createInput());
      await runs.start(run.id);
      await runs.requireAction(run.id, [call('call_1')]);
      await runs.submitToolOutputs(run.id, [{ tool_call_id: 'call_1', output: 'ok' }]);
      await runs.cancel(run.id);
      const imported = await runs.importRun(apiRunV2({ status: 'in_progress', started_at: 1_716_000_001 }));
      await runs.complete(imported.id, USAGE);
      await runs.importRun({ ...replaced, metadata: { replaced: 'yes' } });
      expect(await runs.importRuns([apiRunV2({ status: 'failed', expires_at: null, last_error: { code: 'server_error', message: 'x' } })])).toEqual([null]);
      expect((await runs.claimNext({ assistant_id: assistant }))?.id).toBe(queued.id);
      await runs.fail(queued.id, { code: 'rate_limit_exceeded', message: 'slow' });
      expect(await runs.expireOverdue()).toBe(1);
      await runs.updateMetadata(overdue.id, { seen: 'yes' });
      return { run: run.id, imported: imported.id };
    });
    expect(await statusOf(ids.run)).toBe('cancelled');
    expect(await statusOf(ids.imported)).toBe('completed');
    expect(await statusOf(queued.id)).toBe('failed');
    expect(await statusOf(overdue.id)).toBe('expired');
    expect((await db.runs().getById(replaced.id)).toJSON().metadata).toEqual({ replaced: 'yes' });
  });

  const completedAs = (id: string) => ({ ...apiRunInStatus('completed'), id, metadata: { imported: 'yes' } });
  it.each<[string, (runs: RunRepository, id: string) => Promise<unknown>, Partial<ApiRun>]>([
    ['a transition', (runs, id) => runs.start(id), { status: 'in_progress', metadata: { changed: 'elsewhere' } }],
    ['updateMetadata', (runs, id) => runs.updateMetadata(id, { mine: 'yes' }), { status: 'queued', metadata: { mine: 'yes' } }],
    ['importRun (replace)', (runs, id) => runs.importRun(completedAs(id)), { status: 'completed', metadata: { imported: 'yes' } }],
    ['importRuns (replace)', (runs, id) => runs.importRuns([completedAs(id)]), { status: 'completed', metadata: { imported: 'yes' } }],
  ])('%s on a run changed after the snapshot: a retryable conflict, the transaction usable after it, the retried transaction succeeds', async (_op, operation, retried) => {
    const run = await stored('queued');
    const other = await stored('queued');
    await atLevel(level, async (runs) => {
      await changeElsewhere(run.id);
      await expect(operation(runs, run.id)).rejects.toMatchObject(conflict);
      // usable: the conflict's savepoint was rolled back, the rest of the transaction goes on
      await expect(runs.start(other.id)).resolves.toMatchObject({ status: 'in_progress' });
    });
    expect(await statusOf(other.id)).toBe('in_progress');
    expect(await statusOf(run.id)).toBe('queued');
    // the retry the error asks for: the whole transaction again, on a fresh snapshot
    await atLevel(level, async (runs) => {
      await operation(runs, run.id);
    });
    expect((await db.runs().getById(run.id)).toJSON()).toMatchObject(retried);
  });

  it('claimNext and expireOverdue when their runs changed after the snapshot: a retryable conflict, nothing moved', async () => {
    const assistant = uid('asst');
    const queued = await stored('queued', { assistant_id: assistant });
    const overdue = await stored('in_progress', { expires_at: Math.floor(Date.now() / 1000) - 60 });
    await atLevel(level, async (runs) => {
      await changeElsewhere(queued.id);
      await changeElsewhere(overdue.id);
      await expect(runs.claimNext({ assistant_id: assistant })).rejects.toMatchObject(conflict);
      await expect(runs.expireOverdue()).rejects.toMatchObject(conflict);
      expect(await runs.countByStatus()).toBeDefined();
    });
    expect(await statusOf(queued.id)).toBe('queued');
    expect(await statusOf(overdue.id)).toBe('in_progress');
    await atLevel(level, async (runs) => {
      expect((await runs.claimNext({ assistant_id: assistant }))?.id).toBe(queued.id);
      expect(await runs.expireOverdue()).toBe(1);
    });
    expect(await statusOf(queued.id)).toBe('in_progress');
    expect(await statusOf(overdue.id)).toBe('expired');
  });

  it('tool outputs: a claim gets the outputs submitted in the transaction; a run a submit queued after the snapshot is not claimable there, the next transaction claims it with its outputs', async () => {
    const outputs = [{ tool_call_id: 'call_a', output: 'mine' }, { tool_call_id: 'call_b', output: '{"z":1, "a":2}' }];
    const expected = [
      { id: 'call_a', type: 'function', function: { name: 'lookup', arguments: '{}', output: 'mine' } },
      { id: 'call_b', type: 'function', function: { name: 'other', arguments: '{"x":1}', output: '{"z":1, "a":2}' } },
    ];
    const inside = await stored('requires_action', { assistant_id: uid('asst') });
    const elsewhere = await stored('requires_action', { assistant_id: uid('asst') });
    await atLevel(level, async (runs) => {
      await runs.submitToolOutputs(inside.id, outputs);
      expect((await runs.claimNext({ assistant_id: inside.assistant_id! }))?.toolOutputs).toEqual(expected);
      expect((await runs.history(inside.id)).map((h) => h.to)).toEqual(['requires_action', 'queued', 'in_progress']);
      await db.runs().submitToolOutputs(elsewhere.id, outputs); // committed after the snapshot
      expect(await runs.claimNext({ assistant_id: elsewhere.assistant_id! })).toBeNull(); // queued only after the snapshot
    });
    await atLevel(level, async (runs) => {
      expect((await runs.claimNext({ assistant_id: elsewhere.assistant_id! }))?.toolOutputs).toEqual(expected);
    });
  });

  it('create on a thread whose active run committed after the snapshot: refused by the thread lock, the transaction usable after it', async () => {
    const threadId = uid('thread');
    let after = '';
    await atLevel(level, async (runs) => {
      const elsewhere = await db.runs().create(createInput({ thread_id: threadId }));
      const refusal = await runs.create(createInput({ thread_id: threadId })).catch((error: unknown) => error);
      // the caller's snapshot cannot see the run that holds the lock: its id is not known here
      expect(refusal).toMatchObject({ constructor: ThreadHasActiveRunError, threadId, activeRunId: null });
      await db.runs().cancel(elsewhere.id);
      after = (await runs.create(createInput())).id;
    });
    expect(await statusOf(after)).toBe('queued');
  });
});
