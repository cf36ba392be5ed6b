/**
 * Model-based property test: random sequences of lifecycle operations (fast-check commands) run
 * against the store and against the in-memory model of the contract (contract.ts); after every
 * step the stored runs must equal the model's, and every stored run must obey the timestamp rules.
 */
import fc from 'fast-check';
import { toApiRun } from '../../src/api/mapping';
import type { ApiToolCall, Metadata } from '../../src/api/types';
import { RunObject } from '../../src/entities/run-object.entity';
import { ThreadHasActiveRunError } from '../../src/errors';
import type { RunRepository } from '../../src/repositories/run.repository';
import { RUN_POPULATE } from '../../src/entities/run-object.entity';
import { uid } from '../factories';
import { useTestDatabase } from '../support/test-database';
import {
  ACTIVE,
  USAGE,
  applyExpire,
  applyOp,
  call,
  expectedApi,
  observed,
  outcomeOf,
  perform,
  stampsOf,
  storedStamps,
  timestampViolations,
  type ModelRun,
  type Op,
} from './contract';

const db = useTestDatabase();

const SEQUENCES = Number(process.env.ARS_MODEL_SEQUENCES ?? 60);
const MAX_COMMANDS = 40;
const ASSISTANTS = ['asst_a', 'asst_b'];
const MODELS = ['gpt-4o', 'gpt-4o-mini'];

interface Model {
  runs: ModelRun[];
  threads: string[];
  callSeq: number;
}

interface Real {
  runs: () => RunRepository;
  /** started_at (ms) last seen per run, and the model's entry count then. */
  starts: Map<string, { at: number; entries: number }>;
}

let sequences = 0;
let commandsRun = 0;
const outcomes: Record<string, number> = {};

/** Mostly a run that can still move (so sequences go deep), sometimes any run (terminal ones too). */
const pickRun = (m: Model, index: number): ModelRun => {
  const live = m.runs.filter((x) => ACTIVE.includes(x.status));
  return index % 4 !== 3 && live.length > 0 ? live[index % live.length] : m.runs[index % m.runs.length];
};

/** Every stored run equals its model; every stored run obeys the timestamp rules; started_at moved on each re-entry. */
async function checkAll(m: Model, r: Real): Promise<void> {
  commandsRun++;
  if (m.runs.length === 0) return;
  const stored = await r.runs().find({ id: { $in: m.runs.map((x) => x.id) } }, { populate: RUN_POPULATE, refresh: true });
  const byId = new Map(stored.map((s) => [s.id, s]));
  for (const run of m.runs) {
    const s = byId.get(run.id)!;
    expect({ id: run.id, state: observed(toApiRun(s)), stamps: storedStamps(s) }).toEqual({ id: run.id, state: expectedApi(run), stamps: stampsOf(run) });
    expect(timestampViolations(s)).toEqual([]);
    const seen = r.starts.get(run.id);
    if (s.startedAt !== null) {
      const at = s.startedAt.getTime();
      if (seen && run.entries > seen.entries) expect(at).toBeGreaterThan(seen.at);
      if (seen && run.entries === seen.entries) expect(at).toBe(seen.at);
      r.starts.set(run.id, { at, entries: run.entries });
    }
  }
}

class CreateCommand implements fc.AsyncCommand<Model, Real> {
  constructor(readonly thread: number, readonly assistant: number, readonly model: number) {}
  check = () => true;
  async run(m: Model, r: Real): Promise<void> {
    const threadId = m.threads[this.thread];
    const active = m.runs.find((x) => x.threadId === threadId && ACTIVE.includes(x.status));
    const input = { thread_id: threadId, assistant_id: ASSISTANTS[this.assistant], model: MODELS[this.model] };
    if (active) {
      await expect(r.runs().create(input)).rejects.toEqual(new ThreadHasActiveRunError(threadId, active.id));
    } else {
      const run = await r.runs().create(input);
      m.runs.push({
        id: run.id,
        threadId,
        assistantId: input.assistant_id,
        model: input.model,
        createdAt: run.createdAt.getTime(),
        status: 'queued',
        toolCalls: null,
        lastError: null,
        incompleteDetails: null,
        usage: null,
        expiresAt: run.createdAt.getTime() + 600_000,
        overdue: false,
        started: false,
        cancelled: false,
        failed: false,
        completed: false,
        entries: 0,
        metadata: {},
      });
    }
    await checkAll(m, r);
  }
  toString = () => `create(thread ${this.thread}, ${ASSISTANTS[this.assistant]}, ${MODELS[this.model]})`;
}

type SubmitVariant = 'exact' | 'reversed' | 'missing' | 'unknown' | 'duplicate' | 'empty';

/** The step a worker or client would most likely take next on `run` (so that sequences reach deep states). */
function nextStep(run: ModelRun, k: number): Op['name'] {
  const choices: Partial<Record<string, Op['name'][]>> = {
    queued: ['start', 'start', 'start', 'cancel', 'fail'],
    in_progress: ['requireAction', 'requireAction', 'complete', 'cancel', 'markIncomplete', 'fail'],
    requires_action: ['submitToolOutputs', 'submitToolOutputs', 'cancel'],
    cancelling: ['confirmCancelled', 'complete', 'fail', 'markIncomplete', 'cancel'],
  };
  const list = choices[run.status] ?? ['start'];
  return list[k % list.length];
}

/** An operation on one of the model's runs; its input is completed at run time from the model (pending calls). */
class OpCommand implements fc.AsyncCommand<Model, Real> {
  constructor(
    readonly index: number,
    readonly name: Op['name'] | 'progress',
    readonly variant: { calls: number; submit: SubmitVariant; usage: boolean; metadata: Metadata | null },
  ) {}
  check = (m: Readonly<Model>) => m.runs.length > 0;
  private opFor(m: Model, run: ModelRun): Op {
    const usage = this.variant.usage ? USAGE : undefined;
    switch (this.name) {
      case 'requireAction': {
        const calls: ApiToolCall[] = Array.from({ length: this.variant.calls }, () => call(`call_${++m.callSeq}`, 'fn', `{"n":${m.callSeq}}`));
        return { name: 'requireAction', toolCalls: this.variant.calls === 3 ? [calls[0], calls[0]] : calls }; // 3: a duplicated id
      }
      case 'submitToolOutputs': {
        const ids = (run.toolCalls ?? [call('call_stale')]).map((c) => c.id);
        const chosen = {
          exact: ids,
          reversed: [...ids].reverse(),
          missing: ids.slice(1),
          unknown: [...ids, 'call_unknown'],
          duplicate: [...ids, ids[0]],
          empty: [],
        }[this.variant.submit];
        return { name: 'submitToolOutputs', toolOutputs: chosen.map((id) => ({ tool_call_id: id, output: `result ${id}` })) };
      }
      case 'complete':
        return { name: 'complete', usage };
      case 'fail':
        return { name: 'fail', lastError: { code: 'server_error', message: 'worker crashed' }, usage };
      case 'markIncomplete':
        return { name: 'markIncomplete', details: { reason: 'max_prompt_tokens' }, usage };
      case 'updateMetadata':
        return { name: 'updateMetadata', metadata: this.variant.metadata };
      default:
        return { name: this.name } as Op;
    }
  }
  async run(m: Model, r: Real): Promise<void> {
    const run = pickRun(m, this.name === 'progress' ? this.index - (this.index % 4) : this.index); // progress: a live run
    const op = new OpCommand(this.index, this.name === 'progress' ? nextStep(run, this.index) : this.name, this.variant).opFor(m, run);
    const expected = applyOp(run, op);
    const actual = await outcomeOf(perform(r.runs(), run.id, op));
    expect({ op: this.toString(), outcome: actual }).toEqual({ op: this.toString(), outcome: expected });
    outcomes[`${op.name}:${actual.kind}`] = (outcomes[`${op.name}:${actual.kind}`] ?? 0) + 1;
    await checkAll(m, r);
  }
  toString = () => `${this.name}(run #${this.index}, ${JSON.stringify(this.variant)})`;
}

/** Time passes for one run: its expires_at moves just behind the database clock. */
class OverdueCommand implements fc.AsyncCommand<Model, Real> {
  constructor(readonly index: number) {}
  check = (m: Readonly<Model>) => m.runs.length > 0;
  async run(m: Model, r: Real): Promise<void> {
    const run = pickRun(m, this.index);
    const rows = await r.runs().getEntityManager().getConnection().execute<{ expires_at: Date }[]>(
      `update run_object set expires_at = date_trunc('milliseconds', clock_timestamp()) - interval '1 second' where id = ? and expires_at is not null returning expires_at`,
      [run.id],
    );
    if (run.expiresAt !== null) {
      run.expiresAt = new Date(rows[0].expires_at).getTime();
      run.overdue = true;
    }
    await checkAll(m, r);
  }
  toString = () => `overdue(run #${this.index})`;
}

class ExpireCommand implements fc.AsyncCommand<Model, Real> {
  check = () => true;
  async run(m: Model, r: Real): Promise<void> {
    const moved = applyExpire(m.runs);
    expect(await r.runs().expireOverdue()).toBe(moved.length);
    await checkAll(m, r);
  }
  toString = () => 'expireOverdue()';
}

class ClaimCommand implements fc.AsyncCommand<Model, Real> {
  constructor(readonly filter: { assistant_id?: string; model?: string }) {}
  check = () => true;
  async run(m: Model, r: Real): Promise<void> {
    const candidates = m.runs.filter(
      (x) =>
        x.status === 'queued' &&
        !x.overdue &&
        (this.filter.assistant_id === undefined || x.assistantId === this.filter.assistant_id) &&
        (this.filter.model === undefined || x.model === this.filter.model),
    );
    const oldest = Math.min(...candidates.map((x) => x.createdAt));
    const claimed = await r.runs().claimNext(this.filter);
    if (candidates.length === 0) {
      expect(claimed).toBeNull();
    } else {
      expect(claimed).not.toBeNull();
      // the oldest by created_at (runs created in the same millisecond are ordered by id, in the database's collation)
      const run = candidates.find((x) => x.id === claimed!.id);
      expect({ claimed: claimed!.id, oldest: run?.createdAt }).toEqual({ claimed: claimed!.id, oldest });
      expect(applyOp(run!, { name: 'start' })).toEqual({ kind: 'ok' });
    }
    await checkAll(m, r);
  }
  toString = () => `claimNext(${JSON.stringify(this.filter)})`;
}

const index = fc.nat({ max: 7 });
const commands = [
  { weight: 2, arbitrary: fc.tuple(fc.nat({ max: 2 }), fc.nat({ max: 1 }), fc.nat({ max: 1 })).map(([t, a, mo]) => new CreateCommand(t, a, mo)) },
  { weight: 4, arbitrary: fc
    .record({
      index,
      name: fc.constantFrom<Op['name']>('start', 'requireAction', 'submitToolOutputs', 'complete', 'fail', 'markIncomplete', 'cancel', 'confirmCancelled', 'updateMetadata'),
      calls: fc.constantFrom(1, 1, 2, 2, 0, 3),
      submit: fc.constantFrom<SubmitVariant>('exact', 'exact', 'reversed', 'missing', 'unknown', 'duplicate', 'empty'),
      usage: fc.boolean(),
      metadata: fc.option(fc.dictionary(fc.string({ maxLength: 8 }), fc.string({ maxLength: 20 }), { maxKeys: 3 }), { freq: 5 }),
    })
    .map(({ index: i, name, ...variant }) => new OpCommand(i, name, variant)) },
  // weighted: the worker's path appears more often than the rare operations
  { weight: 8, arbitrary: fc.tuple(index, fc.nat({ max: 59 })).map(
    ([i, k]) => new OpCommand(i * 60 + k, 'progress', { calls: 1 + (k % 2), submit: k % 3 ? 'exact' : 'reversed', usage: k % 2 === 0, metadata: {} }),
  ) },
  { weight: 1, arbitrary: index.map((i) => new OverdueCommand(i)) },
  { weight: 1, arbitrary: fc.constant(new ExpireCommand()) },
  { weight: 2, arbitrary: fc
    .constantFrom<{ assistant_id?: string; model?: string }>({}, {}, { assistant_id: 'asst_a' }, { model: 'gpt-4o-mini' }, { assistant_id: 'asst_b', model: 'gpt-4o' })
    .map((f) => new ClaimCommand(f)) },
];

it(`${SEQUENCES} random operation sequences keep the stored runs equal to the model of the contract`, async () => {
  await fc.assert(
    fc.asyncProperty(fc.commands([fc.oneof(...commands)], { maxCommands: MAX_COMMANDS, size: 'max' }), async (cmds) => {
      // claimNext and expireOverdue see every run: start each sequence from an empty store
      await db.runs().getEntityManager().getConnection().execute('delete from run_object');
      const model: Model = { runs: [], threads: [uid('thread'), uid('thread'), uid('thread')], callSeq: 0 };
      const real: Real = { runs: () => db.em().getRepository(RunObject), starts: new Map() };
      sequences++;
      await fc.asyncModelRun(() => ({ model, real }), cmds);
    }),
    { numRuns: SEQUENCES, verbose: 1 },
  );
  console.log(`model-based test: ${sequences} sequences, ${commandsRun} commands checked against the model; operation outcomes: ${JSON.stringify(outcomes)}`);
  expect(sequences).toBeGreaterThanOrEqual(SEQUENCES);
});
