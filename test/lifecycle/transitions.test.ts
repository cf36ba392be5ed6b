/**
 * Every operation from every status (the 9 × 8 matrix of run-lifecycle.md), the fields that move
 * with each legal transition, the typed errors and the "changes nothing" guarantee of the illegal
 * ones, input validation, expiry per status, and the pure transition table.
 */
import { toApiRun } from '../../src/api/mapping';
import type { RunStatus } from '../../src/api/types';
import { RunObject } from '../../src/entities/run-object.entity';
import { InvalidRunTransitionError, RunNotFoundError, RunValidationError } from '../../src/errors';
import { allowedFrom, targetOf, TRANSITIONS, TRANSITION_NAMES } from '../../src/lifecycle/transitions';
import { createInput, uid } from '../factories';
import { useTestDatabase } from '../support/test-database';
import {
  ACTIVE,
  apiRunInStatus,
  call,
  LEGAL,
  OPS,
  STATUSES,
  USAGE,
  applyOp,
  expectedApi,
  modelOf,
  observed,
  perform,
  stampsOf,
  storedStamps,
  timestampViolations,
  validOp,
} from './contract';

const db = useTestDatabase();

/** The run's row and every owned row, exactly as stored (to prove that nothing changed). */
async function snapshot(id: string) {
  const [row] = await db.sql(`select * from run_object where id = $1`, [id]);
  const parts = await db.sql(
    `select (select count(*) from run_required_action)::int as actions, (select count(*) from run_tool_call)::int as calls,
            (select count(*) from run_last_error)::int as errors, (select count(*) from run_incomplete_details)::int as details,
            (select count(*) from run_usage)::int as usages`,
  );
  return { row, parts: parts[0] };
}

describe('the transition table (pure data)', () => {
  it('lists where every operation may start from', () => {
    expect(allowedFrom('start')).toEqual(['queued']);
    expect(allowedFrom('cancel')).toEqual(['queued', 'in_progress', 'requires_action', 'cancelling']);
    expect(allowedFrom('fail')).toEqual(['queued', 'in_progress', 'cancelling']);
    expect(allowedFrom('expire')).toEqual(ACTIVE);
    expect(targetOf('cancel', 'in_progress')).toBe('cancelling');
    expect(targetOf('cancel', 'cancelling')).toBe('unchanged');
    expect(targetOf('complete', 'queued')).toBeNull();
  });

  it('agrees with the contract for every operation and status, and never leaves a terminal status', () => {
    for (const op of OPS) {
      for (const status of STATUSES) {
        const contract = LEGAL[op][status];
        const table = targetOf(op, status);
        expect([op, status, table === 'unchanged' ? status : table]).toEqual([op, status, contract ?? null]);
      }
    }
    for (const name of TRANSITION_NAMES) {
      for (const status of ['cancelled', 'failed', 'completed', 'incomplete', 'expired'] as RunStatus[]) {
        expect(TRANSITIONS[name].moves[status]).toBeUndefined();
      }
    }
  });
});

describe('every operation from every status (9 × 8)', () => {
  const cases = STATUSES.flatMap((status) => OPS.map((op) => [status, op] as const));

  it.each(cases)('%s → %s', async (status, opName) => {
    const api = apiRunInStatus(status);
    await db.runs().importRun(api);
    const model = modelOf(toApiRun(await db.runs().getById(api.id)));
    const previousStartedAt = (await db.runs().getById(api.id)).startedAt;
    const op = validOp(opName, model.toolCalls ?? undefined);
    const expected = applyOp(model, op);
    const before = await snapshot(api.id);
    const runs = db.runs();

    if (LEGAL[opName][status] === undefined) {
      const error = await perform(runs, api.id, op).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(InvalidRunTransitionError);
      expect(error).toMatchObject({ runId: api.id, currentStatus: status, transition: opName });
      expect(expected).toEqual({ kind: 'invalid', status });
      expect(await snapshot(api.id)).toEqual(before); // nothing written, no orphan row
      return;
    }

    const returned = await perform(runs, api.id, op);
    const stored = await db.runs().getById(api.id);
    expect(expected).toEqual({ kind: 'ok' });
    expect(toApiRun(returned)).toEqual(toApiRun(stored));
    expect(observed(toApiRun(stored))).toEqual(expectedApi(model));
    expect(storedStamps(stored)).toEqual(stampsOf(model));
    expect(timestampViolations(stored)).toEqual([]);
    if (LEGAL[opName][status] === 'in_progress') {
      expect(stored.startedAt!.getTime()).toBeGreaterThan(previousStartedAt?.getTime() ?? 0); // moves on each entry
    } else {
      expect(stored.startedAt).toEqual(previousStartedAt);
    }
    if (opName === 'cancel' && status === 'cancelling') expect(await snapshot(api.id)).toEqual(before);
    // the replaced sub-object rows are gone: one owned row per reference, no orphans
    const [orphans] = await db.sql(
      `select (select count(*) from run_required_action a where not exists (select 1 from run_object r where r.required_action_id = a.id))::int
            + (select count(*) from run_last_error e where not exists (select 1 from run_object r where r.last_error_id = e.id))::int
            + (select count(*) from run_usage u where not exists (select 1 from run_object r where r.usage_id = u.id))::int
            + (select count(*) from run_incomplete_details d where not exists (select 1 from run_object r where r.incomplete_details_id = d.id))::int as n`,
    );
    expect(orphans.n).toBe(0);
  });
});

describe('fields that move with the status', () => {
  it('a created run walks queued → in_progress → requires_action → queued → in_progress → completed', async () => {
    const runs = db.runs();
    const run = await runs.create(createInput());
    const expiresAt = run.expiresAt;
    const started1 = (await runs.start(run.id)).startedAt!;
    const waiting = await runs.requireAction(run.id, [call('call_1'), call('call_2')]);
    expect(waiting.toJSON().required_action?.submit_tool_outputs.tool_calls.map((c) => c.id)).toEqual(['call_1', 'call_2']);
    expect(waiting.usage).toBeNull();
    const requeued = await runs.submitToolOutputs(run.id, [
      { tool_call_id: 'call_2', output: 'b' },
      { tool_call_id: 'call_1', output: 'a' },
    ]);
    expect(requeued.toJSON()).toMatchObject({ status: 'queued', required_action: null, expires_at: Math.floor(expiresAt!.getTime() / 1000) });
    const restarted = await runs.start(run.id);
    expect(restarted.startedAt!.getTime()).toBeGreaterThan(started1.getTime());
    const done = await runs.complete(run.id, USAGE);
    expect(done.toJSON()).toMatchObject({ status: 'completed', expires_at: null, cancelled_at: null, failed_at: null, usage: USAGE });
    expect(done.completedAt!.getTime()).toBeGreaterThanOrEqual(restarted.startedAt!.getTime());
  });

  it('complete without usage keeps usage null; cancel on in_progress leaves cancelled_at null until confirmed', async () => {
    const runs = db.runs();
    const a = await runs.create(createInput());
    await runs.start(a.id);
    expect((await runs.complete(a.id)).usage).toBeNull();

    const b = await runs.create(createInput());
    await runs.start(b.id);
    const cancelling = await runs.cancel(b.id);
    expect(cancelling.toJSON()).toMatchObject({ status: 'cancelling', cancelled_at: null });
    expect(cancelling.expiresAt).not.toBeNull();
    expect((await runs.cancel(b.id)).status).toBe('cancelling');
    const cancelled = await runs.confirmCancelled(b.id);
    expect(cancelled.cancelledAt).not.toBeNull();
    expect(cancelled.expiresAt).toBeNull();
  });

  it('markIncomplete accepts incomplete_details without a reason ({}) and sets completed_at', async () => {
    const runs = db.runs();
    const run = await runs.create(createInput());
    await runs.start(run.id);
    const done = await runs.markIncomplete(run.id, {});
    expect(done.toJSON()).toMatchObject({ status: 'incomplete', incomplete_details: {}, expires_at: null });
    expect(done.completedAt).not.toBeNull();
  });

  it('fail from queued sets failed_at and last_error but no started_at', async () => {
    const run = await db.runs().create(createInput());
    const failed = await db.runs().fail(run.id, { code: 'invalid_prompt', message: 'no' });
    expect(failed.toJSON()).toMatchObject({ status: 'failed', started_at: null, last_error: { code: 'invalid_prompt', message: 'no' }, expires_at: null });
  });

  it('updateMetadata works in every status and changes nothing else', async () => {
    for (const status of STATUSES) {
      const api = apiRunInStatus(status);
      await db.runs().importRun(api);
      const updated = await db.runs().updateMetadata(api.id, { status, n: '1' });
      expect(toApiRun(updated)).toEqual({ ...api, metadata: { status, n: '1' } });
      expect((await db.runs().updateMetadata(api.id, null)).metadata).toBeNull();
    }
    await expect(db.runs().updateMetadata('run_missing', {})).rejects.toBeInstanceOf(RunNotFoundError);
  });
});

describe('errors', () => {
  it('every operation on an unknown id is a RunNotFoundError', async () => {
    for (const op of OPS) {
      await expect(perform(db.runs(), 'run_nope', validOp(op))).rejects.toBeInstanceOf(RunNotFoundError);
    }
  });

  /** Runs `fn`, expects a RunValidationError on `field`, and that nothing was written. */
  async function rejectsField(id: string, fn: () => Promise<unknown>, field: string | RegExp) {
    const before = await snapshot(id);
    const error = await fn().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RunValidationError);
    expect((error as RunValidationError).field).toMatch(field);
    expect(await snapshot(id)).toEqual(before);
    return error as RunValidationError;
  }

  it('bad inputs are RunValidationErrors naming the field, and write nothing', async () => {
    const runs = db.runs();
    const run = await runs.create(createInput());
    await runs.start(run.id);
    await rejectsField(run.id, () => runs.requireAction(run.id, []), /^tool_calls$/);
    await rejectsField(run.id, () => runs.requireAction(run.id, [{ id: 'c', type: 'function' } as never]), /^tool_calls\[0\]\.function$/);
    await rejectsField(run.id, () => runs.requireAction(run.id, [call('c1'), call('c1')]), /^tool_calls\[1\]\.id$/);
    await rejectsField(run.id, () => runs.fail(run.id, undefined as never), /^last_error$/);
    await rejectsField(run.id, () => runs.fail(run.id, { code: 'oops', message: 'x' } as never), /^last_error\.code$/);
    await rejectsField(run.id, () => runs.markIncomplete(run.id, undefined as never), /^incomplete_details$/);
    await rejectsField(run.id, () => runs.markIncomplete(run.id, { reason: 'tired' } as never), /^incomplete_details\.reason$/);
    await rejectsField(run.id, () => runs.complete(run.id, { prompt_tokens: -1, completion_tokens: 0, total_tokens: 0 }), /^usage\.prompt_tokens$/);
    await rejectsField(run.id, () => runs.updateMetadata(run.id, { ['k'.repeat(65)]: 'v' }), /^metadata/);
    expect((await runs.getById(run.id)).status).toBe('in_progress');
  });

  it('submitToolOutputs needs exactly one output per pending call', async () => {
    const runs = db.runs();
    const run = await runs.create(createInput());
    await runs.start(run.id);
    await runs.requireAction(run.id, [call('call_1'), call('call_2')]);
    const out = (id: string) => ({ tool_call_id: id, output: 'x' });
    const missing = await rejectsField(run.id, () => runs.submitToolOutputs(run.id, [out('call_1')]), /^tool_outputs$/);
    expect(missing.reason).toContain('call_2');
    const unknown = await rejectsField(run.id, () => runs.submitToolOutputs(run.id, [out('call_1'), out('call_9')]), /^tool_outputs\[1\]\.tool_call_id$/);
    expect(unknown.issues.map((i) => i.field)).toEqual(['tool_outputs[1].tool_call_id', 'tool_outputs']);
    await rejectsField(run.id, () => runs.submitToolOutputs(run.id, [out('call_1'), out('call_2'), out('call_3')]), /^tool_outputs\[2\]\.tool_call_id$/);
    await rejectsField(run.id, () => runs.submitToolOutputs(run.id, [out('call_1'), out('call_2'), out('call_1')]), /^tool_outputs\[2\]\.tool_call_id$/);
    await rejectsField(run.id, () => runs.submitToolOutputs(run.id, []), /^tool_outputs$/);
    await rejectsField(run.id, () => runs.submitToolOutputs(run.id, [{ tool_call_id: 'call_1' } as never, out('call_2')]), /^tool_outputs\[0\]\.output$/);
    expect((await runs.submitToolOutputs(run.id, [out('call_2'), out('call_1')])).status).toBe('queued');
  });

  it('an invalid transition names the run, its current status and the requested transition', async () => {
    const run = await db.runs().create(createInput());
    const error = await db.runs().complete(run.id).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidRunTransitionError);
    expect((error as Error).message).toBe(`Cannot complete run ${run.id}: its status is 'queued'.`);
  });
});

describe('expireOverdue per status', () => {
  it('expires exactly the overdue active runs, keeping expires_at and clearing required_action', async () => {
    const overdue = STATUSES.map((s) => apiRunInStatus(s, { overdue: true }));
    const fresh = ACTIVE.map((s) => apiRunInStatus(s));
    for (const api of [...overdue, ...fresh]) await db.runs().importRun(api);
    expect(await db.runs().expireOverdue()).toBe(ACTIVE.length);
    for (const api of overdue) {
      const stored = toApiRun(await db.runs().getById(api.id));
      if (ACTIVE.includes(api.status)) {
        expect(stored).toEqual({ ...api, status: 'expired', required_action: null });
      } else {
        expect(stored).toEqual(api);
      }
    }
    for (const api of fresh) expect(toApiRun(await db.runs().getById(api.id))).toEqual(api);
    expect(await db.runs().expireOverdue()).toBe(0);
    // an explicit `now` past the fresh runs' expires_at takes them too
    const later = new Date((fresh[0].expires_at! + 1) * 1000);
    const [due] = await db.sql(`select count(*)::int as n from run_object where status in ('queued', 'in_progress', 'requires_action', 'cancelling') and expires_at <= $1`, [later]);
    expect(due.n).toBeGreaterThanOrEqual(ACTIVE.length);
    expect(await db.runs().expireOverdue(later)).toBe(due.n);
    for (const api of fresh) expect((await db.runs().getById(api.id)).status).toBe('expired');
    await expect(db.runs().expireOverdue(new Date('nope'))).rejects.toBeInstanceOf(RunValidationError);
  });
});

describe('the identity map and the caller', () => {
  it('a run held by the caller is refreshed in place by a transition', async () => {
    const runs = db.runs();
    const held = await runs.create(createInput());
    const after = await runs.start(held.id);
    expect(after).toBe(held);
    expect(held.status).toBe('in_progress');
    const other = db.runs();
    const stale = await other.getById(held.id);
    await runs.requireAction(held.id, [call('c1')]);
    expect(stale.status).toBe('in_progress');
    await expect(other.complete(held.id)).rejects.toMatchObject({ currentStatus: 'requires_action' });
    expect(stale.status).toBe('in_progress'); // a failed transition does not touch it; the next read refreshes it:
    expect((await other.getById(held.id)).requiredAction?.toolCalls.getItems().map((c) => c.callId)).toEqual(['c1']);
  });

  it("a transition inside the caller's transaction commits or rolls back with it", async () => {
    const run = await db.runs().create(createInput());
    const errorsBefore = await db.sql(`select id from run_last_error order by id`);
    const em = db.em();
    await expect(
      em.transactional(async (tx) => {
        await tx.getRepository(RunObject).fail(run.id, { code: 'server_error', message: 'x' });
        throw new Error('caller gives up');
      }),
    ).rejects.toThrow('caller gives up');
    expect((await db.runs().getById(run.id)).toJSON()).toMatchObject({ status: 'queued', last_error: null });
    expect(await db.sql(`select id from run_last_error order by id`)).toEqual(errorsBefore);
  });

  it('findActiveForThread gives the thread’s active run or null', async () => {
    const threadId = uid('thread');
    expect(await db.runs().findActiveForThread(threadId)).toBeNull();
    const run = await db.runs().create(createInput({ thread_id: threadId }));
    expect((await db.runs().findActiveForThread(threadId))?.id).toBe(run.id);
    await db.runs().cancel(run.id);
    expect(await db.runs().findActiveForThread(threadId)).toBeNull();
    const next = await db.runs().create(createInput({ thread_id: threadId }));
    expect((await db.runs().findActiveForThread(threadId))?.toJSON().status).toBe('queued');
    expect(next.id).not.toBe(run.id);
  });
});

describe('round trips', () => {
  it('create and each transition are one statement, which also returns the fully populated run (no reload)', async () => {
    const lines: string[] = [];
    const orm = await db.createOrm({ debug: ['query'], logger: (message: string) => lines.push(message) });
    const repo = () => orm.em.fork().getRepository(RunObject);
    const measure = async (fn: () => Promise<unknown>) => {
      lines.length = 0;
      await fn();
      return lines.filter((l) => l.includes('[query]')).length;
    };
    let run!: RunObject;
    /** [queries of the operation, queries of a plain findById of the run right after it] */
    const pair = async (fn: () => Promise<unknown>) => [await measure(fn), await measure(() => repo().findById(run.id))];
    const counts = {
      create: await pair(async () => (run = await repo().create(createInput({ assistant_id: uid('asst') })))),
      start: await pair(() => repo().start(run.id)),
      requireAction: await pair(() => repo().requireAction(run.id, [call('c1'), call('c2')])),
      submitToolOutputs: await pair(() => repo().submitToolOutputs(run.id, [{ tool_call_id: 'c1', output: '' }, { tool_call_id: 'c2', output: '' }])),
      claimNext: await pair(() => repo().claimNext({ assistant_id: run.assistantId })),
      cancel: await pair(() => repo().cancel(run.id)),
      complete: await pair(() => repo().complete(run.id, USAGE)),
      updateMetadata: await pair(() => repo().updateMetadata(run.id, { a: 'b' })),
      failedTransition: await pair(() => repo().start(run.id).catch(() => null)),
      expireOverdue: [await measure(() => repo().expireOverdue()), 0],
    };
    console.log(`round trips [operation, findById alone]: ${JSON.stringify(counts)}`);
    for (const [name, [op, reload]] of Object.entries(counts)) {
      // one statement decides the transition and returns the fresh run: as many as a plain findById
      expect([name, op]).toEqual([name, 1]);
      if (name !== 'expireOverdue') expect([name, reload]).toEqual([name, 1]);
    }
  });
});
