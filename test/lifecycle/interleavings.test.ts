/**
 * The races the contract names, forced instead of hoped for: a second connection holds the run's
 * row (or a whole transaction of the store's own code), the operation under test is started and
 * seen waiting on that lock in pg_stat_activity, then the holder commits and the exact outcome is
 * asserted. Each test holds one guard of the SQL or the lifecycle and fails without it (the
 * mutation list of issue 16 names the edit each one kills). expireOverdue's `skip locked` is forced in
 * test/citizen/expire-batches.test.ts.
 */
import { InvalidRunTransitionError, RunObject, toApiRun, type ApiRun, type ApiRunInput } from '../../src';
import { uid } from '../factories';
import { behind, holdOrmTransaction, holdTransaction, withoutWaiting } from '../support/lock-wait';
import { useTestDatabase } from '../support/test-database';
import { apiRunInStatus, call } from './contract';
import { statusesOf } from './seed';

const db = useTestDatabase();

jest.setTimeout(20_000);

const lockRow = 'select id from run_object where id = $1 for update';

/** A stored run in `status` (as the lifecycle would have left it), with `overrides`. */
async function storedRun(status: ApiRun['status'], overrides: Partial<ApiRun> = {}): Promise<ApiRun> {
  const run = { ...apiRunInStatus(status), ...overrides };
  await db.runs().importRun(run);
  return run;
}

const statusById = (rows: { id: string; status: string }[]) => Object.fromEntries(rows.map((r) => [r.id, r.status]));

/** A transaction of the store's own `requireAction(id, [call_1])`, held open (its row lock too). */
function heldRequireAction(id: string) {
  return holdOrmTransaction(db.orm, (em) => em.getRepository(RunObject).requireAction(id, [call('call_1')]));
}

describe('claimNext and a queued run another transaction holds (for update skip locked)', () => {
  it('takes the next free queued run at once instead of waiting for the held one', async () => {
    const assistantId = uid('asst');
    const now = Math.floor(Date.now() / 1000);
    const older = await storedRun('queued', { assistant_id: assistantId, created_at: now - 20, expires_at: now + 600 });
    const newer = await storedRun('queued', { assistant_id: assistantId, created_at: now - 10, expires_at: now + 600 });
    const holder = await holdTransaction(db);
    try {
      await holder.query(lockRow, [older.id]);
      const claimed = await withoutWaiting(db, holder.pid, db.runs().claimNext({ assistant_id: assistantId }));
      expect(claimed?.id).toBe(newer.id);
      expect(claimed?.status).toBe('in_progress');
    } finally {
      await holder.rollback();
    }
    expect(statusById(await statusesOf(db, [older.id, newer.id]))).toEqual({ [older.id]: 'queued', [newer.id]: 'in_progress' });
    // released, the older run is the next one taken
    expect((await db.runs().claimNext({ assistant_id: assistantId }))?.id).toBe(older.id);
  });
});

describe('purgeRuns and an old run another transaction holds (for update skip locked)', () => {
  it('deletes the free old runs at once and leaves the held one, which the next purge takes', async () => {
    const old = 1_600_000_000; // long before every other run of this file
    const finished = { created_at: old, started_at: old + 1, completed_at: old + 2, expires_at: null };
    const held = await storedRun('completed', finished);
    const free = await storedRun('completed', finished);
    const before = new Date((old + 10) * 1000);
    const holder = await holdTransaction(db);
    try {
      await holder.query(lockRow, [held.id]);
      expect(await withoutWaiting(db, holder.pid, db.runs().purgeRuns({ before }))).toBe(1);
    } finally {
      await holder.rollback();
    }
    expect(statusById(await statusesOf(db, [held.id, free.id]))).toEqual({ [held.id]: 'completed' });
    expect(await db.runs().purgeRuns({ before })).toBe(1);
    expect(await statusesOf(db, [held.id])).toEqual([]);
  });
});

describe('recoverLapsed and a lapsed run another transaction holds (for update skip locked)', () => {
  it('recovers the free lapsed runs at once and leaves the held one (its holder may be heartbeating), which the next recovery takes', async () => {
    const assistantId = uid('asst');
    const runs = [await storedRun('queued', { assistant_id: assistantId }), await storedRun('queued', { assistant_id: assistantId })];
    for (const _ of runs) expect(await db.runs().claimNext({ assistant_id: assistantId, worker: 'w1', leaseSeconds: 3600 })).toMatchObject({ attempt: 1 });
    const ids = runs.map((r) => r.id);
    await db.sql(`update run_object set lease_expires_at = clock_timestamp() - interval '1 second' where id = any($1)`, [ids]);
    const [held, free] = ids;
    const holder = await holdTransaction(db);
    try {
      await holder.query(lockRow, [held]);
      expect(await withoutWaiting(db, holder.pid, db.runs().recoverLapsed({ maxAttempts: 3 }))).toEqual({ requeued: 1, failed: 0, cancelled: 0 });
    } finally {
      await holder.rollback();
    }
    expect(statusById(await statusesOf(db, ids))).toEqual({ [held]: 'in_progress', [free]: 'queued' });
    expect(await db.runs().recoverLapsed({ maxAttempts: 3 })).toEqual({ requeued: 1, failed: 0, cancelled: 0 });
    expect(statusById(await statusesOf(db, ids))).toEqual({ [held]: 'queued', [free]: 'queued' });
  });
});

describe('a transition waiting behind requireAction', () => {
  it('submitToolOutputs answering the calls requireAction is committing moves the run to queued (the statement is run again)', async () => {
    const run = await storedRun('in_progress');
    const holder = await heldRequireAction(run.id);
    expect(holder.result.status).toBe('requires_action');
    const submitted = await behind(db, holder, () => db.runs().submitToolOutputs(run.id, [{ tool_call_id: 'call_1', output: '42' }]));
    expect(submitted.status).toBe('queued');
    expect(submitted.toJSON().required_action).toBeNull();
    expect((await db.runs().getById(run.id)).status).toBe('queued');
    const [{ actions }] = await db.sql<{ actions: number }>(`select count(*)::int as actions from run_required_action a join run_object r on r.required_action_id = a.id where r.id = $1`, [run.id]);
    expect(actions).toBe(0);
  });

  it('updateMetadata returns the run with the required_action requireAction committed while it waited', async () => {
    const run = await storedRun('in_progress');
    const holder = await heldRequireAction(run.id);
    const updated = await behind(db, holder, () => db.runs().updateMetadata(run.id, { step: 'two' }));
    const expected = { type: 'submit_tool_outputs', submit_tool_outputs: { tool_calls: [call('call_1')] } };
    expect(updated.status).toBe('requires_action');
    expect(updated.toJSON().required_action).toEqual(expected);
    expect(updated.toJSON().metadata).toEqual({ step: 'two' });
    expect(toApiRun(await db.runs().getById(run.id))).toEqual(updated.toJSON());
  });
});

describe('a transition waiting behind another is judged by the status that one committed (the row lock)', () => {
  it('fail behind a complete that is committing: InvalidRunTransitionError from completed, the run stays completed', async () => {
    const run = await storedRun('in_progress');
    const holder = await holdOrmTransaction(db.orm, (em) => em.getRepository(RunObject).complete(run.id));
    expect(holder.result.status).toBe('completed');
    const failing = behind(db, holder, () => db.runs().fail(run.id, { code: 'server_error', message: 'late' }));
    await expect(failing).rejects.toThrow(new InvalidRunTransitionError(run.id, 'completed', 'fail'));
    expect(statusById(await statusesOf(db, [run.id]))).toEqual({ [run.id]: 'completed' });
    expect(await db.sql(`select 1 from run_last_error e join run_object r on r.last_error_id = e.id where r.id = $1`, [run.id])).toEqual([]);
  });
});

describe('a transition waiting for the row lock stamps the time it got the lock (clock_timestamp)', () => {
  it('complete behind a holder that keeps the row 300 ms: completed_at is not before the holder committed', async () => {
    const run = await storedRun('in_progress');
    const holder = await holdTransaction(db);
    await holder.query(lockRow, [run.id]);
    let committedAt = '';
    const completed = await behind(db, holder, () => db.runs().complete(run.id), {
      whileWaiting: async () => {
        await new Promise((resolve) => setTimeout(resolve, 300));
        [{ at: committedAt }] = await holder.query<{ at: string }>('select clock_timestamp()::text as at');
      },
    });
    expect(completed.status).toBe('completed');
    const [stored] = await db.sql<{ after: boolean }>(`select completed_at >= $2::timestamptz as after from run_object where id = $1`, [run.id, committedAt]);
    expect(stored.after).toBe(true);
  });
});

describe('the bulk import path keeps a truncation_strategy without last_messages as it came', () => {
  it('importRuns gives back exactly the objects it was given, with and without last_messages', async () => {
    const variants: ApiRunInput['truncation_strategy'][] = [
      { type: 'auto' },
      { type: 'last_messages' },
      { type: 'auto', last_messages: null },
      { type: 'last_messages', last_messages: 5 },
    ];
    const inputs = variants.map((truncation_strategy) => ({ ...apiRunInStatus('completed'), truncation_strategy }));
    expect(await db.runs().importRuns(inputs)).toEqual(inputs.map(() => null));
    for (const input of inputs) {
      const stored = JSON.stringify(await db.runs().getById(input.id));
      expect(JSON.parse(stored)).toStrictEqual(JSON.parse(JSON.stringify(input)));
    }
  });
});
