/**
 * History and tool outputs under races, on real concurrent connections of a private cluster with
 * `track_commit_timestamp` on (so each entry's commit time is the server's own record):
 * - concurrent `submitToolOutputs` of different outputs for one pending action: exactly one wins,
 *   exactly its outputs are stored, and the next claimer reads exactly those;
 * - workers, clients and a recoverer racing on a few runs: every successful call is exactly one
 *   entry, each run's entries chain (one's `to` is the next's `from`), and their order is the order
 *   in which their transactions committed.
 * Bounded: fixed rounds and operation counts, no timing assertion.
 */
import { MikroORM } from '@mikro-orm/postgresql';
import { Client } from 'pg';
import { RunObject, runStoreConfig, type RunHistoryEntry } from '../../src';
import { createInput, toolCall, uid } from '../factories';
import { useCluster } from '../support/pg-cluster';

const cluster = useCluster({ settings: { track_commit_timestamp: 'on', max_connections: 60 } });
const DB = 'ars_history_races';
let orm: MikroORM;
const runs = () => orm.em.fork().getRepository(RunObject);

beforeAll(async () => {
  await cluster().query(`create database ${DB}`);
  orm = await MikroORM.init(runStoreConfig({ clientUrl: cluster().url(DB), pool: { min: 0, max: 24 }, migrations: { silent: true } }));
  await orm.getMigrator().up();
});
afterAll(async () => {
  await orm?.close(true);
});

async function sql<T extends Record<string, unknown>>(text: string, params: unknown[] = []): Promise<T[]> {
  const client = new Client({ connectionString: cluster().url(DB) });
  await client.connect();
  try {
    return (await client.query(text, params)).rows as T[];
  } finally {
    await client.end();
  }
}

/** Settles every promise; returns the fulfilled values and the rejections. */
async function settle<T>(work: Promise<T>[]): Promise<{ ok: T[]; failed: unknown[] }> {
  const results = await Promise.allSettled(work);
  return {
    ok: results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : [])),
    failed: results.flatMap((r) => (r.status === 'rejected' ? [r.reason] : [])),
  };
}

describe('concurrent submits', () => {
  it('exactly one of 8 concurrent submits wins, and the next claimer reads exactly its outputs (30 rounds)', async () => {
    const CONTENDERS = 8;
    for (let round = 0; round < 30; round++) {
      const run = await runs().create(createInput({ assistant_id: uid('asst') }));
      await runs().claimNext({ assistant_id: run.assistantId, worker: 'w1', leaseSeconds: 60 });
      await runs().requireAction(run.id, [toolCall(1, '{"a":1}'), toolCall(2, '{"b":2}')], { worker: 'w1', attempt: 1 });
      const { ok, failed } = await settle(
        Array.from({ length: CONTENDERS }, (_, i) =>
          runs()
            .submitToolOutputs(run.id, [
              { tool_call_id: 'call_2', output: `second of ${i}` },
              { tool_call_id: 'call_1', output: `first of ${i}` },
            ])
            .then(() => i),
        ),
      );
      expect(ok).toHaveLength(1);
      expect(failed).toHaveLength(CONTENDERS - 1);
      const winner = ok[0];
      const claimed = (await runs().claimNext({ assistant_id: run.assistantId, worker: 'w2', leaseSeconds: 60 }))!;
      expect(claimed.toolOutputs).toEqual([
        { id: 'call_1', type: 'function', function: { name: 'f', arguments: '{"a":1}', output: `first of ${winner}` } },
        { id: 'call_2', type: 'function', function: { name: 'f', arguments: '{"b":2}', output: `second of ${winner}` } },
      ]);
      const stored = await sql<{ n: number }>('select count(*)::int as n from run_tool_output where run_id = $1', [run.id]);
      expect(stored[0].n).toBe(2);
      const submits = (await runs().history(run.id)).filter((h) => h.from === 'requires_action');
      expect(submits).toHaveLength(1);
      expect(submits[0].toolOutputs).toEqual(claimed.toolOutputs);
    }
  });

  it('a claim racing the submit that makes the run claimable gets the outputs whenever it gets the run (40 rounds)', async () => {
    let claimedWithOutputs = 0;
    for (let round = 0; round < 40; round++) {
      const run = await runs().create(createInput({ assistant_id: uid('asst') }));
      await runs().claimNext({ assistant_id: run.assistantId, worker: 'w1', leaseSeconds: 60 });
      await runs().requireAction(run.id, [toolCall(1)], { worker: 'w1', attempt: 1 });
      // claimers start first and keep trying: some statement begins before the submit commits
      let got: Awaited<ReturnType<ReturnType<typeof runs>['claimNext']>> = null;
      const claimers = Array.from({ length: 3 }, async () => {
        for (let i = 0; i < 200 && got === null; i++) {
          const c = await runs().claimNext({ assistant_id: run.assistantId, worker: 'w2', leaseSeconds: 60 });
          if (c) got = c;
        }
      });
      await runs().submitToolOutputs(run.id, [{ tool_call_id: 'call_1', output: `out ${round}` }]);
      await Promise.all(claimers);
      expect(got).not.toBeNull();
      expect(got!.toolOutputs.map((o) => o.function.output)).toEqual([`out ${round}`]);
      claimedWithOutputs++;
    }
    expect(claimedWithOutputs).toBe(40);
  });
});

describe('history order is commit order', () => {
  it('workers, clients (submit, fail, import) and a recoverer racing on 4 runs: one entry per successful change, chained, in commit order (1,100 calls)', async () => {
    const assistant = uid('asst');
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) ids.push((await runs().create(createInput({ assistant_id: assistant }))).id);
    const successes = new Map<string, number>(ids.map((id) => [id, 1])); // the create
    const count = (id: string) => successes.set(id, successes.get(id)! + 1);

    const worker = async (name: string) => {
      for (let i = 0; i < 150; i++) {
        const run = await runs().claimNext({ assistant_id: assistant, worker: name, leaseSeconds: 0.05 });
        if (!run) continue;
        count(run.id);
        const lease = { worker: name, attempt: run.attempt };
        const step = i % 3;
        const done =
          step === 0
            ? runs().requireAction(run.id, [toolCall(i)], lease)
            : step === 1
              ? runs().complete(run.id, undefined, lease)
              : runs().markIncomplete(run.id, { reason: 'max_prompt_tokens' }, undefined, lease);
        await done.then(() => count(run.id), () => undefined);
      }
    };
    // only client 0 imports: a replace is not a compare-and-set (a second one of a run already queued changes no status)
    const client = async (importer: boolean) => {
      for (let i = 0; i < 250; i++) {
        const id = ids[i % ids.length];
        const r = (await runs().findById(id))!;
        if (r.status === 'requires_action') {
          const calls = r.requiredAction!.toolCalls.getItems().map((c) => ({ tool_call_id: c.callId, output: `o${i}` }));
          await runs().submitToolOutputs(id, calls).then(() => count(id), () => undefined);
        } else if (r.status === 'in_progress') {
          await runs().fail(id, { code: 'server_error', message: 'client' }).then(() => count(id), () => undefined);
        } else if (importer && ['completed', 'incomplete', 'failed'].includes(r.status)) {
          // start over: a replace of a terminal run by a new queued object is one more change (by import)
          const api = (await runs().api.getById(id))!;
          await runs()
            .importRun({ ...api, status: 'queued', completed_at: null, failed_at: null, last_error: null, incomplete_details: null, expires_at: null })
            .then(() => count(id), () => undefined);
        }
      }
    };
    const recoverer = async () => {
      for (let i = 0; i < 150; i++) await runs().recoverLapsed({ maxAttempts: 1000, batchSize: 10 });
    };
    await Promise.all([worker('wa'), worker('wb'), worker('wc'), client(true), client(false), recoverer()]);

    const entries = await sql<{ id: string; run_id: string; from_status: string | null; to_status: string; actor: string; committed: Date; xid: string }>(
      `select id, run_id, from_status, to_status, actor, pg_xact_commit_timestamp(xmin) as committed, xmin::text as xid from run_status_change where run_id = any($1) order by run_id, id`,
      [ids],
    );
    let total = 0;
    for (const id of ids) {
      const mine = entries.filter((e) => e.run_id === id);
      const history: RunHistoryEntry[] = await runs().history(id);
      expect(history.map((h) => [h.from, h.to])).toEqual(mine.map((e) => [e.from_status, e.to_status]));
      // chained: every entry starts where the previous one ended, and the last is the run's status
      for (let i = 1; i < mine.length; i++) expect(mine[i].from_status).toBe(mine[i - 1].to_status);
      expect(mine[0].from_status).toBeNull();
      expect(mine[mine.length - 1].to_status).toBe((await runs().findById(id))!.status);
      // order by id = order of the transactions' commits (one change per transaction here)
      const commits = mine.map((e) => e.committed.getTime());
      expect(commits).toEqual([...commits].sort((a, b) => a - b));
      expect(new Set(mine.map((e) => e.xid)).size).toBe(mine.length);
      // the recoverer's moves are not counted by the callers: the rest is one entry per successful call
      const recovered = mine.filter((e) => e.actor === 'recovery').length;
      expect(mine.length - recovered).toBe(successes.get(id));
      total += mine.length;
    }
    expect(total).toBeGreaterThan(150);
    console.log(`history races: ${total} entries on ${ids.length} runs`);
  });
});
