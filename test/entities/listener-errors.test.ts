/**
 * A subscriber of the caller's that throws while the store hands out a run (README, "Managed runs
 * in your unit of work", Events): the call rejects with the listener's own error; the write stands
 * outside a transaction and is rolled back to its savepoint inside one.
 */
import type { EventArgs, EventSubscriber } from '@mikro-orm/core';
import { RunObject } from '../../src';
import { createInput, uid } from '../factories';
import { useTestDatabase } from '../support/test-database';

const failure = new Error('the listener failed');
let armed = false;
class Throwing implements EventSubscriber {
  async onLoad(args: EventArgs<object>): Promise<void> {
    if (armed && args.entity instanceof RunObject) throw failure;
  }
}
const db = useTestDatabase({ subscribers: [new Throwing()] });

const storedOf = async (id: string) => (await db.sql<{ status: string; attempt: number }>('select status, attempt from run_object where id = $1', [id]))[0];

afterEach(() => {
  armed = false;
});

it('outside a transaction: claimNext rejects with the listener error, and the claim has committed', async () => {
  const run = await db.runs().create(createInput({ assistant_id: uid('asst') }));
  armed = true;
  await expect(db.runs().claimNext({ assistant_id: run.assistantId, worker: 'w1', leaseSeconds: 60 })).rejects.toBe(failure);
  expect(await storedOf(run.id)).toEqual({ status: 'in_progress', attempt: 1 });
});

it('inside the caller transaction: claimNext rejects with the listener error, the claim is rolled back and the transaction goes on', async () => {
  const run = await db.runs().create(createInput({ assistant_id: uid('asst') }));
  await db.em().transactional(async (em) => {
    armed = true;
    await expect(em.getRepository(RunObject).claimNext({ assistant_id: run.assistantId })).rejects.toBe(failure);
    armed = false;
    expect((await em.getRepository(RunObject).claimNext({ assistant_id: run.assistantId }))?.id).toBe(run.id);
  });
  expect(await storedOf(run.id)).toEqual({ status: 'in_progress', attempt: 1 });
});
