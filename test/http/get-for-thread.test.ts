/**
 * `getForThread`: a run looked up under its thread, as `/threads/{thread_id}/runs/{run_id}` needs.
 * A run of another thread is not found, exactly as a missing one. Real PostgreSQL.
 */
import { RunNotFoundError, RunValidationError, toApiRun } from '../../src';
import { createInput, uid } from '../factories';
import { rejectionOf } from '../support/rejection';
import { useTestDatabase } from '../support/test-database';

const db = useTestDatabase();

const refusal = (promise: Promise<unknown>) => rejectionOf(promise, RunNotFoundError);

describe('getForThread', () => {
  it("gives the run on its own thread, fully loaded and the same as getById's", async () => {
    const created = await db.runs().create(createInput({ tools: [{ type: 'code_interpreter' }], metadata: { k: 'v' } }));
    const found = await db.runs().getForThread(created.threadId, created.id);
    expect(found.id).toBe(created.id);
    expect(toApiRun(found)).toEqual(toApiRun(await db.runs().getById(created.id)));
  });

  it('a run of another thread is the same RunNotFoundError as a missing run', async () => {
    const mine = await db.runs().create(createInput());
    const theirs = await db.runs().create(createInput());
    const crossed = await refusal(db.runs().getForThread(mine.threadId, theirs.id));
    const missing = await refusal(db.runs().getForThread(mine.threadId, 'run_does_not_exist'));
    expect(crossed.runId).toBe(theirs.id);
    expect(crossed.message).toBe(`No run found with id '${theirs.id}'.`);
    expect(missing.message).toBe("No run found with id 'run_does_not_exist'.");
  });

  it('a thread with no runs, and a thread id that differs only in case, find nothing', async () => {
    const run = await db.runs().create(createInput({ thread_id: uid('thread') }));
    await refusal(db.runs().getForThread(uid('thread'), run.id));
    await refusal(db.runs().getForThread(run.threadId.toUpperCase(), run.id));
    // an empty thread id is no id at all: refused as input, before any statement
    await expect(db.runs().getForThread('', run.id)).rejects.toBeInstanceOf(RunValidationError);
  });

  it('follows the run through its moves (reads fresh, not from the identity map)', async () => {
    const runs = db.runs();
    const run = await runs.create(createInput());
    await db.runs().cancel(run.id); // on another unit of work
    expect((await runs.getForThread(run.threadId, run.id)).status).toBe('cancelled');
  });
});
