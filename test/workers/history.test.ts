/**
 * A run's history and its tool outputs: every status change is one entry (from, to, when on the
 * database clock, who, attempt), written by the statement of the change whatever the path (the
 * store's methods, an ORM flush, `nativeUpdate`, hand-written SQL); nothing else writes one.
 * `submitToolOutputs` stores the tool calls with their outputs, the next claim returns them, the
 * history keeps them; both go with the run. Races with real connections are in history-races.test.ts.
 */
import { LeaseLostError, RunNotFoundError, RunObject, RunValidationError, type RunHistoryEntry } from '../../src';
import { TOOL_OUTPUTS_MAX_BYTES } from '../../src/api/schema';
import { apiRunV2, createInput, toolCall, uid } from '../factories';
import { useTestDatabase } from '../support/test-database';

const db = useTestDatabase();
const dbNow = async () => (await db.sql<{ now: Date }>('select clock_timestamp() as now'))[0].now;
const rowsOf = async (id: string) => (await db.sql<{ n: number }>('select count(*)::int as n from run_status_change where run_id = $1', [id]))[0].n;
const outputsOf = async (id: string) => (await db.sql<{ n: number }>('select count(*)::int as n from run_tool_output where run_id = $1', [id]))[0].n;
/** The entries without their time (checked separately). */
const moves = (h: RunHistoryEntry[]) => h.map(({ at: _at, ...rest }) => rest);
const entry = (from: string | null, to: string, actor: string, attempt: number, worker: string | null = null, toolOutputs: unknown = null) => ({ from, to, actor, worker, attempt, toolOutputs });

/** A fresh queued run, the only one of its assistant (claims filter by it). */
async function fresh() {
  return db.runs().create(createInput({ assistant_id: uid('asst') }));
}
async function claim(run: RunObject, worker: string | null = 'w1') {
  const claimed = await db.runs().claimNext(worker === null ? { assistant_id: run.assistantId } : { assistant_id: run.assistantId, worker, leaseSeconds: 60 });
  expect(claimed?.id).toBe(run.id);
  return claimed!;
}

describe('history: one entry per status change, by the statement that makes it', () => {
  it('create, claim, requireAction, submitToolOutputs, claim again, cancel, confirmCancelled: from, to, actor, worker, attempt, in order, on the database clock', async () => {
    const before = await dbNow();
    const run = await fresh();
    const first = await claim(run, 'w1');
    expect(first.toolOutputs).toEqual([]);
    const lease1 = { worker: 'w1', attempt: 1 };
    await db.runs().requireAction(run.id, [toolCall(1, '{"city":"Paris"}'), toolCall(2, '{"city":"Oslo"}')], lease1);
    // a heartbeat and a metadata update change no status: no entry
    await db.runs().heartbeat(run.id, { ...lease1, leaseSeconds: 60 }).catch((e) => e);
    await db.runs().updateMetadata(run.id, { k: 'v' });
    await db.runs().submitToolOutputs(run.id, [
      { tool_call_id: 'call_2', output: 'cold' },
      { tool_call_id: 'call_1', output: 'mild' },
    ]);
    const second = await claim(run, 'w2');
    const outputs = [
      { id: 'call_1', type: 'function', function: { name: 'f', arguments: '{"city":"Paris"}', output: 'mild' } },
      { id: 'call_2', type: 'function', function: { name: 'f', arguments: '{"city":"Oslo"}', output: 'cold' } },
    ];
    expect(second.toolOutputs).toEqual(outputs);
    expect(Object.keys(second)).not.toContain('toolOutputs'); // not the entity's data
    expect(JSON.stringify(second)).not.toMatch(/mild/);
    await db.runs().cancel(run.id);
    await db.runs().cancel(run.id); // unchanged: no entry
    await db.runs().confirmCancelled(run.id, { worker: 'w2', attempt: 2 });
    const after = await dbNow();

    const history = await db.runs().history(run.id);
    expect(moves(history)).toEqual([
      entry(null, 'queued', 'caller', 0),
      entry('queued', 'in_progress', 'worker', 1, 'w1'),
      entry('in_progress', 'requires_action', 'worker', 1, 'w1'),
      entry('requires_action', 'queued', 'caller', 1, null, outputs),
      entry('queued', 'in_progress', 'worker', 2, 'w2'),
      entry('in_progress', 'cancelling', 'caller', 2),
      entry('cancelling', 'cancelled', 'worker', 2, 'w2'),
    ]);
    const times = history.map((h) => h.at.getTime());
    expect(times).toEqual([...times].sort((a, b) => a - b));
    expect(times[0]).toBeGreaterThanOrEqual(before.getTime());
    expect(times[times.length - 1]).toBeLessThanOrEqual(after.getTime());
    expect(history.every((h) => h.at instanceof Date)).toBe(true);
    // the stamps the run carries are the entries' clock
    const stored = await db.runs().getById(run.id);
    expect(Math.abs(stored.cancelledAt!.getTime() - times[6])).toBeLessThan(50);
    // the outputs are kept after the claim took them
    expect(await outputsOf(run.id)).toBe(2);
  });

  it('start, complete, fail (from queued and from in_progress), markIncomplete: one entry each; a refused move writes none', async () => {
    const a = await fresh();
    await db.runs().start(a.id);
    await db.runs().complete(a.id, { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 });
    await expect(db.runs().complete(a.id)).rejects.toThrow(); // completed: refused
    await expect(db.runs().start(a.id)).rejects.toThrow();
    expect(moves(await db.runs().history(a.id))).toEqual([
      entry(null, 'queued', 'caller', 0),
      entry('queued', 'in_progress', 'caller', 0),
      entry('in_progress', 'completed', 'worker', 0),
    ]);

    const b = await fresh();
    await db.runs().fail(b.id, { code: 'server_error', message: 'x' });
    const c = await fresh();
    await claim(c, 'w3');
    await db.runs().fail(c.id, { code: 'rate_limit_exceeded', message: 'y' }, undefined, { worker: 'w3', attempt: 1 });
    await expect(db.runs().fail(c.id, { code: 'server_error', message: 'z' }, undefined, { worker: 'w3', attempt: 1 })).rejects.toThrow();
    const d = await fresh();
    await claim(d, null); // no lease: the worker is unknown
    await db.runs().markIncomplete(d.id, { reason: 'max_prompt_tokens' });
    expect(moves(await db.runs().history(b.id))).toEqual([entry(null, 'queued', 'caller', 0), entry('queued', 'failed', 'worker', 0)]);
    expect(moves(await db.runs().history(c.id)).slice(1)).toEqual([entry('queued', 'in_progress', 'worker', 1, 'w3'), entry('in_progress', 'failed', 'worker', 1, 'w3')]);
    expect(moves(await db.runs().history(d.id)).slice(1)).toEqual([entry('queued', 'in_progress', 'worker', 1), entry('in_progress', 'incomplete', 'worker', 1)]);
  });

  it('a lease lost writes no entry; expiry and recovery are their own actors', async () => {
    const run = await fresh();
    await claim(run, 'w1');
    await db.sql(`update run_object set lease_expires_at = clock_timestamp() - interval '1 second' where id = $1`, [run.id]);
    await db.runs().recoverLapsed({ maxAttempts: 5 }); // → queued
    await claim(run, 'w2');
    await expect(db.runs().complete(run.id, undefined, { worker: 'w1', attempt: 1 })).rejects.toBeInstanceOf(LeaseLostError);
    await db.runs().cancel(run.id); // cancelling
    await db.sql(`update run_object set lease_expires_at = clock_timestamp() - interval '1 second' where id = $1`, [run.id]);
    await db.runs().recoverLapsed({ maxAttempts: 5 }); // → cancelled
    expect(moves(await db.runs().history(run.id)).slice(1)).toEqual([
      entry('queued', 'in_progress', 'worker', 1, 'w1'),
      entry('in_progress', 'queued', 'recovery', 1),
      entry('queued', 'in_progress', 'worker', 2, 'w2'),
      entry('in_progress', 'cancelling', 'caller', 2),
      entry('cancelling', 'cancelled', 'recovery', 2),
    ]);

    const limit = await fresh();
    await claim(limit, 'w1');
    await db.sql(`update run_object set lease_expires_at = clock_timestamp() - interval '1 second' where id = $1`, [limit.id]);
    await db.runs().recoverLapsed({ maxAttempts: 1 }); // → failed at the limit
    expect(moves(await db.runs().history(limit.id)).slice(-1)).toEqual([entry('in_progress', 'failed', 'recovery', 1)]);

    const overdue = await fresh();
    await db.sql(`update run_object set expires_at = clock_timestamp() - interval '1 second' where id = $1`, [overdue.id]);
    await db.runs().expireOverdue();
    expect(moves(await db.runs().history(overdue.id))).toEqual([entry(null, 'queued', 'caller', 0), entry('queued', 'expired', 'expiry', 0)]);
  });

  it('the ORM flush, nativeUpdate and hand-written SQL are recorded as the caller, also right after a store statement in the same transaction', async () => {
    const run = await fresh();
    const em = db.em();
    const managed = (await em.getRepository(RunObject).claimNext({ assistant_id: run.assistantId, worker: 'w1', leaseSeconds: 60 }))!;
    managed.status = 'completed';
    await em.flush();
    const native = await fresh();
    await db.em().nativeUpdate(RunObject, { id: native.id }, { status: 'in_progress' });
    const sqlRun = await fresh();
    // the store's claim declares itself a worker's; the next statement of the same transaction does not inherit that
    const tx = db.em();
    await tx.transactional(async (t) => {
      await t.getRepository(RunObject).claimNext({ assistant_id: sqlRun.assistantId, worker: 'w9', leaseSeconds: 60 });
      await t.getConnection().execute(`update run_object set status = 'failed' where id = ?`, [sqlRun.id], 'run', t.getTransactionContext());
    });
    expect(moves(await db.runs().history(run.id)).slice(1)).toEqual([entry('queued', 'in_progress', 'worker', 1, 'w1'), entry('in_progress', 'completed', 'caller', 1)]);
    expect(moves(await db.runs().history(native.id)).slice(1)).toEqual([entry('queued', 'in_progress', 'caller', 0)]);
    expect(moves(await db.runs().history(sqlRun.id)).slice(1)).toEqual([entry('queued', 'in_progress', 'worker', 1, 'w9'), entry('in_progress', 'failed', 'caller', 1)]);
    // a statement that sets the status it already has writes none
    await db.sql(`update run_object set status = status where id = $1`, [run.id]);
    expect(await rowsOf(run.id)).toBe(3);
    // a refused status change (the status trigger) writes none
    await expect(db.sql(`update run_object set status = 'queued' where id = $1`, [run.id])).rejects.toThrow();
    expect(await rowsOf(run.id)).toBe(3);
  });

  it('a rolled-back change leaves no entry', async () => {
    const run = await fresh();
    await expect(
      db.em().transactional(async (t) => {
        await t.getRepository(RunObject).start(run.id);
        throw new Error('rollback');
      }),
    ).rejects.toThrow('rollback');
    expect(moves(await db.runs().history(run.id))).toEqual([entry(null, 'queued', 'caller', 0)]);
  });
});

describe('tool outputs reach the next claim', () => {
  it('are stored by the submit statement only when the run moved; a refused submit stores none', async () => {
    const run = await fresh();
    await claim(run);
    await db.runs().requireAction(run.id, [toolCall(1)], { worker: 'w1', attempt: 1 });
    // one id of the pending call and one unknown: refused, and not even the known one's output is kept
    await expect(db.runs().submitToolOutputs(run.id, [{ tool_call_id: 'call_1', output: 'x' }, { tool_call_id: 'call_9', output: 'y' }])).rejects.toBeInstanceOf(RunValidationError);
    expect(await outputsOf(run.id)).toBe(0);
    await db.runs().submitToolOutputs(run.id, [{ tool_call_id: 'call_1', output: 'ok' }]);
    await expect(db.runs().submitToolOutputs(run.id, [{ tool_call_id: 'call_1', output: 'again' }])).rejects.toThrow();
    expect(await db.sql('select call_id, output, attempt, function_name from run_tool_output where run_id = $1', [run.id])).toEqual([
      { call_id: 'call_1', output: 'ok', attempt: 1, function_name: 'f' },
    ]);
  });

  it('outputs beyond what one submit can carry (TOOL_OUTPUTS_MAX_BYTES, UTF-8, together) are a RunValidationError naming the output that crosses it; nothing stored', async () => {
    const run = await fresh();
    await claim(run);
    await db.runs().requireAction(run.id, [toolCall(1), toolCall(2)], { worker: 'w1', attempt: 1 });
    const half = Math.floor(TOOL_OUTPUTS_MAX_BYTES / 2);
    const refusal = async (outputs: { tool_call_id: string; output: string }[]) => {
      const error = await db.runs().submitToolOutputs(run.id, outputs).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(RunValidationError);
      return (error as RunValidationError).issues.map((i) => i.field);
    };
    // one output over the bound; two that are only over it together (the second crosses it, in bytes: 'é' is 2)
    expect(await refusal([{ tool_call_id: 'call_1', output: 'x' }, { tool_call_id: 'call_2', output: 'x'.repeat(TOOL_OUTPUTS_MAX_BYTES + 1) }])).toEqual(['tool_outputs[1].output']);
    expect(await refusal([{ tool_call_id: 'call_1', output: 'x'.repeat(half) }, { tool_call_id: 'call_2', output: 'é'.repeat(Math.ceil(half / 2) + 1) }])).toEqual(['tool_outputs[1].output']);
    expect(await outputsOf(run.id)).toBe(0);
    expect((await db.runs().getById(run.id)).status).toBe('requires_action');
    // at the bound together: stored, and claimed back whole
    const big = [{ tool_call_id: 'call_1', output: 'x'.repeat(half) }, { tool_call_id: 'call_2', output: 'y'.repeat(TOOL_OUTPUTS_MAX_BYTES - half) }];
    await db.runs().submitToolOutputs(run.id, big);
    const claimed = await claim(run, 'w2');
    expect(claimed.toolOutputs.map((o) => o.function.output.length)).toEqual([half, TOOL_OUTPUTS_MAX_BYTES - half]);
  });

  it('a claim gets only the outputs submitted since the run’s previous claim; after a requeue by recovery the next claim gets them again; the history keeps every submit', async () => {
    const run = await fresh();
    await claim(run, 'w1');
    await db.runs().requireAction(run.id, [toolCall(1)], { worker: 'w1', attempt: 1 });
    await db.runs().submitToolOutputs(run.id, [{ tool_call_id: 'call_1', output: 'first' }]);
    const second = await claim(run, 'w2');
    expect(second.toolOutputs.map((o) => o.function.output)).toEqual(['first']);
    await db.runs().requireAction(run.id, [toolCall(7, '{"n":7}')], { worker: 'w2', attempt: 2 });
    await db.runs().submitToolOutputs(run.id, [{ tool_call_id: 'call_7', output: 'second' }]);
    const third = await claim(run, 'w3');
    expect(third.toolOutputs).toEqual([{ id: 'call_7', type: 'function', function: { name: 'f', arguments: '{"n":7}', output: 'second' } }]);
    // w3 dies holding the run: whoever claims it after the recovery still needs call_7's output
    await db.sql(`update run_object set lease_expires_at = clock_timestamp() - interval '1 second' where id = $1`, [run.id]);
    await db.runs().recoverLapsed({ maxAttempts: 9 });
    const fourth = await claim(run, 'w4');
    expect(fourth.toolOutputs).toEqual(third.toolOutputs);
    // without a claim in between (start), two submits both reach the next claim, in order
    await db.runs().requireAction(run.id, [toolCall(1)], { worker: 'w4', attempt: 4 });
    await db.runs().submitToolOutputs(run.id, [{ tool_call_id: 'call_1', output: 'a' }]);
    await db.runs().start(run.id);
    await db.runs().requireAction(run.id, [toolCall(2)]);
    await db.runs().submitToolOutputs(run.id, [{ tool_call_id: 'call_2', output: 'b' }]);
    const fifth = await claim(run, 'w5');
    expect(fifth.toolOutputs.map((o) => [o.id, o.function.output])).toEqual([['call_1', 'a'], ['call_2', 'b']]);
    const submits = (await db.runs().history(run.id)).filter((h) => h.toolOutputs !== null);
    expect(submits.map((h) => h.toolOutputs!.map((o) => o.function.output))).toEqual([['first'], ['second'], ['a'], ['b']]);
    // a cancel out of requires_action answered nothing: no outputs on it
    await db.runs().requireAction(run.id, [toolCall(3)], { worker: 'w5', attempt: 5 });
    await db.runs().cancel(run.id);
    expect((await db.runs().history(run.id)).slice(-1)[0]).toMatchObject({ from: 'requires_action', to: 'cancelled', toolOutputs: null });
  });
});

describe('a required action left twice (hand-written SQL)', () => {
  it('its outputs go with the last change out of it: the claim and the history read still work', async () => {
    const run = await fresh();
    await claim(run);
    await db.runs().requireAction(run.id, [toolCall(1)], { worker: 'w1', attempt: 1 });
    // out of requires_action and back, keeping the same required action
    await db.sql(`update run_object set status = 'queued' where id = $1`, [run.id]);
    await db.sql(`update run_object set status = 'in_progress' where id = $1`, [run.id]);
    await db.sql(`update run_object set status = 'requires_action' where id = $1`, [run.id]);
    await db.runs().submitToolOutputs(run.id, [{ tool_call_id: 'call_1', output: 'once' }]);
    const next = await claim(run, 'w2');
    expect(next.toolOutputs.map((o) => o.function.output)).toEqual(['once']);
    const left = (await db.runs().history(run.id)).filter((h) => h.from === 'requires_action');
    expect(left.map((h) => h.toolOutputs?.map((o) => o.function.output) ?? null)).toEqual([null, ['once']]);
  });
});

describe('import and replace in place', () => {
  it('an import of a new id is one entry by import; a replace adds one when the status changed, none when it did not, and drops the tool outputs', async () => {
    const id = uid('run');
    const thread = uid('thread');
    await db.runs().importRun(apiRunV2({ id, thread_id: thread, status: 'completed' }));
    await db.runs().importRun(apiRunV2({ id, thread_id: thread, status: 'completed' }));
    await db.runs().importRun(apiRunV2({ id, thread_id: thread, status: 'failed', failed_at: 1700000000, last_error: { code: 'server_error', message: 'm' } }));
    expect(moves(await db.runs().history(id))).toEqual([entry(null, 'completed', 'import', 0), entry('completed', 'failed', 'import', 0)]);

    const run = await fresh();
    await claim(run);
    await db.runs().requireAction(run.id, [toolCall(1)], { worker: 'w1', attempt: 1 });
    await db.runs().submitToolOutputs(run.id, [{ tool_call_id: 'call_1', output: 'before the replace' }]);
    const api = (await db.runs().api.getById(run.id))!;
    await db.runs().importRun({ ...api, status: 'queued' }); // same status: no entry; attempt and outputs start over
    expect(await outputsOf(run.id)).toBe(0);
    expect((await claim(run, 'w2')).toolOutputs).toEqual([]);
    const history = await db.runs().history(run.id);
    expect(history.map((h) => `${h.from}>${h.to}:${h.actor}`)).toEqual([
      'null>queued:caller', 'queued>in_progress:worker', 'in_progress>requires_action:worker', 'requires_action>queued:caller', 'queued>in_progress:worker',
    ]);
    expect(history[3].toolOutputs).toBeNull(); // the replace dropped the outputs the entry had
  });
});

describe('history(id): arguments, errors, deletion with the run', () => {
  it('validates the id before any statement and says RunNotFoundError for an unknown run', async () => {
    for (const bad of [undefined, null, '', 7, ['run_x'], 'x'.repeat(257)]) {
      await expect(db.runs().history(bad as unknown as string)).rejects.toBeInstanceOf(RunValidationError);
    }
    await expect(db.runs().history('run_does_not_exist')).rejects.toBeInstanceOf(RunNotFoundError);
  });

  it('a run with no history rows (stored before the migration) has an empty history', async () => {
    const run = await fresh();
    await db.sql('delete from run_status_change where run_id = $1', [run.id]);
    expect(await db.runs().history(run.id)).toEqual([]);
  });

  it('goes with the run: the ORM remove, a hand-written DELETE, and purgeRuns (which counts runs, not entries)', async () => {
    const withOutputs = async () => {
      const run = await fresh();
      await claim(run);
      await db.runs().requireAction(run.id, [toolCall(1)], { worker: 'w1', attempt: 1 });
      await db.runs().submitToolOutputs(run.id, [{ tool_call_id: 'call_1', output: 'x' }]);
      await db.runs().cancel(run.id);
      return run;
    };
    const a = await withOutputs();
    const em = db.em();
    em.remove(await em.getRepository(RunObject).getById(a.id));
    await em.flush();
    const b = await withOutputs();
    await db.sql('delete from run_object where id = $1', [b.id]);
    const kept = await withOutputs();
    const purged = await withOutputs();
    await db.sql(`update run_object set created_at = '2001-01-01' where id = $1`, [purged.id]);
    expect(await rowsOf(purged.id)).toBe(5);
    expect(await db.runs().purgeRuns({ before: new Date('2002-01-01'), dryRun: true })).toBe(1);
    expect(await db.runs().purgeRuns({ before: new Date('2002-01-01') })).toBe(1);
    for (const gone of [a, b, purged]) {
      expect(await rowsOf(gone.id)).toBe(0);
      expect(await outputsOf(gone.id)).toBe(0);
      await expect(db.runs().history(gone.id)).rejects.toBeInstanceOf(RunNotFoundError);
    }
    expect(await rowsOf(kept.id)).toBe(5);
    expect(await outputsOf(kept.id)).toBe(1);
  });
});
