/**
 * One case per kind of write, for the scenarios that try each write alone (a held lock, a table
 * lock, a caller's transaction on a pool of one): how to bring a run to where the write applies,
 * the write itself, and what it leaves.
 */
import type { ApiRunInput } from '../../src/api/types';
import type { RunRepository } from '../../src/repositories/run.repository';
import { apiRunV1, apiRunV2, uid } from '../factories';
import type { WriteKind } from './workload';

/** A write returned, but not what it should have (not an error of the store: the case's own check). */
export class WrongResult extends Error {}

export interface Prepared {
  /** The run the write acts on ('' for `create`, which makes its own). */
  id: string;
  threadId: string;
  assistantId: string;
}

export interface WriteCase {
  kind: WriteKind;
  /** What a lock must hold to make the write wait: the run's row, or (for `create`) its thread's active-run slot. */
  waitsOn: 'row' | 'thread';
  /** Brings a run to where the write applies, through `repo`. */
  prepare(repo: RunRepository): Promise<Prepared>;
  /** The write. */
  act(repo: RunRepository, p: Prepared): Promise<unknown>;
  /** The status the run has after the write. */
  after: string;
}

const TOOL_CALLS = [{ id: 'call_1', type: 'function' as const, function: { name: 'f', arguments: '{}' } }];

async function created(repo: RunRepository, ...steps: ((repo: RunRepository, id: string) => Promise<unknown>)[]): Promise<Prepared> {
  const threadId = uid('thread');
  const assistantId = uid('asst');
  const run = await repo.create({ thread_id: threadId, assistant_id: assistantId, model: 'gpt-4o' });
  for (const step of steps) await step(repo, run.id);
  return { id: run.id, threadId, assistantId };
}

async function imported(repo: RunRepository, input: ApiRunInput): Promise<Prepared> {
  await repo.importRun(input);
  return { id: input.id, threadId: input.thread_id, assistantId: input.assistant_id };
}

/** The stored run `p` replaced by a failed one (what importRun and importRuns write over it). */
const replacement = (p: Prepared) =>
  apiRunV1({ id: p.id, thread_id: p.threadId, assistant_id: p.assistantId, status: 'failed', failed_at: 1_699_063_300, completed_at: null, last_error: { code: 'server_error', message: 'x' } });

const start = (repo: RunRepository, id: string) => repo.start(id);
const requireAction = (repo: RunRepository, id: string) => repo.requireAction(id, TOOL_CALLS);
const overdue = () => {
  const now = Math.floor(Date.now() / 1000);
  return apiRunV2({ id: uid('run'), status: 'queued', created_at: now - 1000, expires_at: now - 100 });
};

export const WRITE_CASES: WriteCase[] = [
  {
    kind: 'create',
    waitsOn: 'thread',
    prepare: async () => ({ id: '', threadId: uid('thread'), assistantId: uid('asst') }),
    act: (repo, p) => repo.create({ thread_id: p.threadId, assistant_id: p.assistantId, model: 'gpt-4o' }),
    after: 'queued',
  },
  {
    kind: 'importRun',
    waitsOn: 'row',
    prepare: (repo) => imported(repo, apiRunV1({ id: uid('run') })),
    act: (repo, p) => repo.importRun(replacement(p)),
    after: 'failed',
  },
  {
    kind: 'importRuns',
    waitsOn: 'row',
    prepare: (repo) => imported(repo, apiRunV1({ id: uid('run') })),
    act: async (repo, p) => {
      const results = await repo.importRuns([replacement(p), apiRunV1({ id: uid('run') })]);
      if (results.some((r) => r !== null)) throw new WrongResult(`importRuns refused a good line: ${results.find((r) => r !== null)?.constructor.name}`);
      return results;
    },
    after: 'failed',
  },
  { kind: 'start', waitsOn: 'row', prepare: (repo) => created(repo), act: (repo, p) => repo.start(p.id), after: 'in_progress' },
  { kind: 'requireAction', waitsOn: 'row', prepare: (repo) => created(repo, start), act: (repo, p) => repo.requireAction(p.id, TOOL_CALLS), after: 'requires_action' },
  {
    kind: 'submitToolOutputs',
    waitsOn: 'row',
    prepare: (repo) => created(repo, start, requireAction),
    act: (repo, p) => repo.submitToolOutputs(p.id, [{ tool_call_id: 'call_1', output: 'ok' }]),
    after: 'queued',
  },
  { kind: 'complete', waitsOn: 'row', prepare: (repo) => created(repo, start), act: (repo, p) => repo.complete(p.id, { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 }), after: 'completed' },
  { kind: 'fail', waitsOn: 'row', prepare: (repo) => created(repo), act: (repo, p) => repo.fail(p.id, { code: 'server_error', message: 'x' }), after: 'failed' },
  { kind: 'markIncomplete', waitsOn: 'row', prepare: (repo) => created(repo, start), act: (repo, p) => repo.markIncomplete(p.id, { reason: 'max_prompt_tokens' }), after: 'incomplete' },
  { kind: 'cancel', waitsOn: 'row', prepare: (repo) => created(repo), act: (repo, p) => repo.cancel(p.id), after: 'cancelled' },
  { kind: 'confirmCancelled', waitsOn: 'row', prepare: (repo) => created(repo, start, (r, id) => r.cancel(id)), act: (repo, p) => repo.confirmCancelled(p.id), after: 'cancelled' },
  {
    kind: 'claimNext',
    waitsOn: 'row',
    prepare: (repo) => created(repo),
    act: async (repo, p) => {
      const run = await repo.claimNext({ assistant_id: p.assistantId });
      if (run?.id !== p.id) throw new WrongResult(`claimNext took ${run === null ? 'nothing' : 'another run'}`);
      return run;
    },
    after: 'in_progress',
  },
  {
    kind: 'expireOverdue',
    waitsOn: 'row',
    prepare: (repo) => imported(repo, overdue()),
    act: async (repo) => repo.expireOverdue(),
    after: 'expired',
  },
  { kind: 'updateMetadata', waitsOn: 'row', prepare: (repo) => created(repo), act: (repo, p) => repo.updateMetadata(p.id, { touched: 'yes' }), after: 'queued' },
];
