/**
 * Leases with fencing: a claim with a worker and a lease duration records the owner, the lease's
 * expiry (database clock) and the attempt (+1 per claim) and returns them with the run (not in the
 * API object); `heartbeat` extends the lease for its current holder only; worker transitions that
 * carry a token are refused with `LeaseLostError` once another claim took the run over, and change
 * nothing; calls without a token behave as before.
 */
import { toApiRun } from '../../src/api/mapping';
import { InvalidRunTransitionError, LeaseLostError, RunNotFoundError, RunValidationError, type RunObject } from '../../src';
import { createInput } from '../factories';
import { useTestDatabase } from '../support/test-database';

const db = useTestDatabase();

/** What the recovery does to a lapsed run (plain SQL here; `recoverLapsed` is tested in recovery.test.ts). */
const requeue = (id: string) => db.sql(`update run_object set status = 'queued', lease_owner = null, lease_expires_at = null where id = $1`, [id]);
const stored = async (id: string) => (await db.sql(`select status, lease_owner, lease_expires_at, attempt, (select count(*)::int from run_usage) as usages from run_object where id = $1`, [id]))[0];
const dbNow = async () => (await db.sql<{ now: Date }>('select clock_timestamp() as now'))[0].now;

/** A fresh queued run claimed by `worker` (the only queued run: each test creates and claims its own). */
async function claimed(worker = 'w1', leaseSeconds = 30): Promise<RunObject> {
  const created = await db.runs().create(createInput());
  const run = await db.runs().claimNext({ assistant_id: created.assistantId, worker, leaseSeconds });
  expect(run?.id).toBe(created.id);
  return run!;
}

describe('claimNext with a lease', () => {
  it('records the owner, the expiry on the database clock and attempt 1, and returns them outside the API object', async () => {
    const before = await dbNow();
    const run = await claimed('worker-a', 30);
    const after = await dbNow();
    expect(run).toMatchObject({ status: 'in_progress', leaseOwner: 'worker-a', attempt: 1 });
    expect(run.leaseExpiresAt!.getTime()).toBeGreaterThanOrEqual(before.getTime() + 30_000 - 1);
    expect(run.leaseExpiresAt!.getTime()).toBeLessThanOrEqual(after.getTime() + 30_000 + 1);
    const row = await stored(run.id);
    expect(row).toMatchObject({ status: 'in_progress', lease_owner: 'worker-a', attempt: 1 });
    expect((row.lease_expires_at as Date).getTime()).toBe(run.leaseExpiresAt!.getTime());
    // the API object has exactly the API's keys: those of a run claimed without a lease
    const plain = await db.runs().create(createInput());
    const plainClaimed = (await db.runs().claimNext({ assistant_id: plain.assistantId }))!;
    const keys = Object.keys(toApiRun(run));
    expect(keys).toEqual(Object.keys(toApiRun(plainClaimed)));
    expect(keys.filter((k) => /lease|attempt|worker/.test(k))).toEqual([]);
    expect(JSON.stringify(run)).not.toMatch(/worker-a/);
    // a fresh read returns the same lease
    expect(await db.runs().getById(run.id)).toMatchObject({ leaseOwner: 'worker-a', attempt: 1, leaseExpiresAt: run.leaseExpiresAt });
  });

  it('without a lease: no owner, no expiry, but the claim still counts as an attempt', async () => {
    const created = await db.runs().create(createInput());
    expect(created).toMatchObject({ attempt: 0, leaseOwner: null, leaseExpiresAt: null });
    const run = (await db.runs().claimNext({ assistant_id: created.assistantId }))!;
    expect(run).toMatchObject({ id: created.id, status: 'in_progress', leaseOwner: null, leaseExpiresAt: null, attempt: 1 });
    expect(await stored(run.id)).toMatchObject({ lease_owner: null, lease_expires_at: null, attempt: 1 });
  });

  it('a second claim after the run came back to the queue is attempt 2, by its new owner', async () => {
    const first = await claimed('w1');
    await requeue(first.id);
    const second = (await db.runs().claimNext({ assistant_id: first.assistantId, worker: 'w2', leaseSeconds: 5 }))!;
    expect(second).toMatchObject({ id: first.id, leaseOwner: 'w2', attempt: 2 });
  });

  it.each([
    [{ worker: 'w1' }, 'options.leaseSeconds'],
    [{ leaseSeconds: 30 }, 'options.worker'],
    [{ worker: '', leaseSeconds: 30 }, 'options.worker'],
    [{ worker: 'x'.repeat(201), leaseSeconds: 30 }, 'options.worker'],
    [{ worker: 'w1', leaseSeconds: 0 }, 'options.leaseSeconds'],
    [{ worker: 'w1', leaseSeconds: -1 }, 'options.leaseSeconds'],
    [{ worker: 'w1', leaseSeconds: Number.NaN }, 'options.leaseSeconds'],
    [{ worker: 'w1', leaseSeconds: 86_401 }, 'options.leaseSeconds'],
    [{ worker: 7, leaseSeconds: 30 }, 'options.worker'],
    [{ wroker: 'w1' }, 'options.wroker'],
  ])('refuses %j (RunValidationError on %s) and claims nothing', async (options, field) => {
    const created = await db.runs().create(createInput());
    const error = await db.runs().claimNext({ assistant_id: created.assistantId, ...(options as object) }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RunValidationError);
    expect((error as RunValidationError).field).toBe(field);
    expect(await stored(created.id)).toMatchObject({ status: 'queued', attempt: 0 });
  });
});

describe('heartbeat', () => {
  it("extends the holder's lease from now on the database clock and reports the status", async () => {
    const run = await claimed('w1', 2);
    const before = await dbNow();
    const lease = await db.runs().heartbeat(run.id, { worker: 'w1', attempt: 1, leaseSeconds: 60 });
    expect(lease.status).toBe('in_progress');
    expect(lease.leaseExpiresAt.getTime()).toBeGreaterThanOrEqual(before.getTime() + 60_000 - 1);
    expect((await stored(run.id)).lease_expires_at).toEqual(lease.leaseExpiresAt);
    // a cancel request shows in the next heartbeat
    await db.runs().cancel(run.id);
    expect((await db.runs().heartbeat(run.id, { worker: 'w1', attempt: 1, leaseSeconds: 60 })).status).toBe('cancelling');
  });

  it('refuses any other worker or attempt, a run no worker holds, and a missing run, changing nothing', async () => {
    const run = await claimed('w1', 30);
    const expiry = (await stored(run.id)).lease_expires_at;
    for (const token of [{ worker: 'w2', attempt: 1 }, { worker: 'w1', attempt: 2 }]) {
      const error = await db.runs().heartbeat(run.id, { ...token, leaseSeconds: 600 }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(LeaseLostError);
      expect(error).toMatchObject({ runId: run.id, ...token });
    }
    expect((await stored(run.id)).lease_expires_at).toEqual(expiry);
    // taken over: the old holder's heartbeat is refused, the new one's accepted
    await requeue(run.id);
    await db.runs().claimNext({ assistant_id: run.assistantId, worker: 'w2', leaseSeconds: 30 });
    await expect(db.runs().heartbeat(run.id, { worker: 'w1', attempt: 1, leaseSeconds: 30 })).rejects.toBeInstanceOf(LeaseLostError);
    await expect(db.runs().heartbeat(run.id, { worker: 'w2', attempt: 2, leaseSeconds: 30 })).resolves.toMatchObject({ status: 'in_progress' });
    // finished: nobody holds it any more
    await db.runs().complete(run.id, undefined, { worker: 'w2', attempt: 2 });
    await expect(db.runs().heartbeat(run.id, { worker: 'w2', attempt: 2, leaseSeconds: 30 })).rejects.toBeInstanceOf(LeaseLostError);
    await expect(db.runs().heartbeat('run_missing', { worker: 'w2', attempt: 2, leaseSeconds: 30 })).rejects.toBeInstanceOf(RunNotFoundError);
  });

  it('validates its options before sending anything', async () => {
    for (const bad of [{ worker: 'w1', attempt: 0, leaseSeconds: 30 }, { worker: 'w1', attempt: 1.5, leaseSeconds: 30 }, { worker: 'w1', attempt: 1 }, { worker: '', attempt: 1, leaseSeconds: 30 }]) {
      await expect(db.runs().heartbeat('run_x', bad as never)).rejects.toBeInstanceOf(RunValidationError);
    }
  });
});

describe('worker transitions carrying the lease token', () => {
  const USAGE = { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 };
  type Op = (run: RunObject, lease: { worker: string; attempt: number }) => Promise<RunObject>;
  const OPS: [string, Op, boolean][] = [
    ['requireAction', (r, l) => db.runs().requireAction(r.id, [{ id: 'call_1', type: 'function', function: { name: 'f', arguments: '{}' } }], l), false],
    ['complete', (r, l) => db.runs().complete(r.id, USAGE, l), false],
    ['fail', (r, l) => db.runs().fail(r.id, { code: 'server_error', message: 'x' }, USAGE, l), false],
    ['markIncomplete', (r, l) => db.runs().markIncomplete(r.id, { reason: 'max_prompt_tokens' }, USAGE, l), false],
    ['confirmCancelled', (r, l) => db.runs().confirmCancelled(r.id, l), true],
  ];

  it.each(OPS)('%s: refused with LeaseLostError once another claim took the run over; the new holder succeeds', async (_name, op, fromCancelling) => {
    const run = await claimed('w1');
    await requeue(run.id);
    await db.runs().claimNext({ assistant_id: run.assistantId, worker: 'w2', leaseSeconds: 30 });
    if (fromCancelling) await db.runs().cancel(run.id);
    const before = await stored(run.id);
    const error = await op(run, { worker: 'w1', attempt: 1 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LeaseLostError);
    expect(error).toMatchObject({ runId: run.id, worker: 'w1', attempt: 1 });
    expect(await stored(run.id)).toEqual(before);
    // the same worker name with a stale attempt is refused too (a restarted worker reusing its name)
    await expect(op(run, { worker: 'w2', attempt: 1 })).rejects.toBeInstanceOf(LeaseLostError);
    const done = await op(run, { worker: 'w2', attempt: 2 });
    expect(done.status).not.toBe(before.status);
  });

  it.each(OPS)('%s: refused while the run is back in the queue (recovered, not yet reclaimed)', async (_name, op) => {
    const run = await claimed('w1');
    await requeue(run.id);
    const before = await stored(run.id);
    expect(before.status).toBe('queued');
    await expect(op(run, { worker: 'w1', attempt: 1 })).rejects.toBeInstanceOf(LeaseLostError);
    expect(await stored(run.id)).toEqual(before);
  });

  it('a holder whose lease lapsed but was not taken over still finishes (the token, not the clock, fences)', async () => {
    const run = await claimed('w1', 30);
    await db.sql(`update run_object set lease_expires_at = clock_timestamp() - interval '1 minute' where id = $1`, [run.id]);
    await expect(db.runs().complete(run.id, undefined, { worker: 'w1', attempt: 1 })).resolves.toMatchObject({ status: 'completed' });
  });

  it('the holder in a status the table does not allow gets InvalidRunTransitionError, not LeaseLostError', async () => {
    const run = await claimed('w1');
    await expect(db.runs().confirmCancelled(run.id, { worker: 'w1', attempt: 1 })).rejects.toBeInstanceOf(InvalidRunTransitionError);
    await expect(db.runs().complete('run_missing', undefined, { worker: 'w1', attempt: 1 })).rejects.toBeInstanceOf(RunNotFoundError);
  });

  it('without a token nothing is checked (as before leases): a stale worker still completes', async () => {
    const run = await claimed('w1');
    await requeue(run.id);
    await db.runs().claimNext({ assistant_id: run.assistantId, worker: 'w2', leaseSeconds: 30 });
    await expect(db.runs().complete(run.id)).resolves.toMatchObject({ status: 'completed' });
  });

  it('a malformed token is a RunValidationError on lease, before anything is sent', async () => {
    const run = await claimed('w1');
    for (const bad of [{ worker: 'w1', attempt: 0 }, { worker: 'w1' }, { worker: 'w1', attempt: 1, extra: true }]) {
      const error = await db.runs().complete(run.id, undefined, bad as never).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(RunValidationError);
      expect((error as RunValidationError).field).toMatch(/^lease/);
    }
    expect((await stored(run.id)).status).toBe('in_progress');
  });
});
