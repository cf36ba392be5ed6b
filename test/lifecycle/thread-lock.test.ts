/**
 * The thread lock (run-lifecycle.md: at most one active run per thread), status by status and on
 * both single-run write paths: a run in an active status holds its thread, so a second active run
 * there is refused with ThreadHasActiveRunError naming the holder; a terminal run does not.
 * Deterministic (the random model and the create races meet these cases only by chance).
 */
import { ThreadHasActiveRunError } from '../../src/errors';
import { createInput, uid } from '../factories';
import { useTestDatabase } from '../support/test-database';
import { ACTIVE, apiRunInStatus, STATUSES } from './contract';

const db = useTestDatabase();

describe.each(STATUSES)('a thread whose run is %s', (status) => {
  const active = ACTIVE.includes(status);

  async function threadHolding(): Promise<{ threadId: string; heldId: string }> {
    const threadId = uid('thread');
    const held = apiRunInStatus(status, { threadId });
    await db.runs().importRun(held);
    return { threadId, heldId: held.id };
  }

  it(active ? 'refuses create, naming the active run' : 'accepts create', async () => {
    const { threadId, heldId } = await threadHolding();
    const creating = db.runs().create(createInput({ thread_id: threadId }));
    if (active) await expect(creating).rejects.toEqual(new ThreadHasActiveRunError(threadId, heldId));
    else expect((await creating).status).toBe('queued');
    const [{ runs }] = await db.sql<{ runs: number }>('select count(*)::int as runs from run_object where thread_id = $1', [threadId]);
    expect(runs).toBe(active ? 1 : 2);
  });

  it(active ? 'refuses importRun of another queued run, naming the active run' : 'accepts importRun of a queued run', async () => {
    const { threadId, heldId } = await threadHolding();
    const other = apiRunInStatus('queued', { threadId });
    const importing = db.runs().importRun(other);
    if (active) await expect(importing).rejects.toEqual(new ThreadHasActiveRunError(threadId, heldId));
    else expect((await importing).id).toBe(other.id);
  });
});
