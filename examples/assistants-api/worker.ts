/**
 * A demo worker for the reference server: it stands in for the model. Each round it expires
 * overdue runs, confirms the cancellation of runs being cancelled, and claims every queued run:
 *
 * - a run with a `function` tool (and `tool_choice` other than `none`) that comes without tool
 *   outputs is asked to call that function (`requireAction`, arguments `{}`); when the client has
 *   submitted the output it comes back queued, the claim carries the output (`run.toolOutputs`),
 *   and it is completed;
 * - any other run is completed at once, with usage (a stand-in count: a quarter token per
 *   character of the instructions, plus one; eight completion tokens).
 *
 * The worker keeps nothing in memory: what the client answered comes with the claim, so a
 * restarted worker (or another one) goes on where the last one stopped. One worker per store: it
 * confirms every `cancelling` run as its own.
 */
import { randomBytes } from 'node:crypto';
import type { MikroORM } from '@mikro-orm/postgresql';
import {
  InvalidRunTransitionError,
  RunNotFoundError,
  RunObject,
  toApiRun,
  type ApiRun,
  type ApiUsage,
  type RunRepository,
} from '../../src';

export interface DemoWorkerOptions {
  orm: MikroORM;
  /** The pause between rounds, in ms. Default 100. */
  intervalMs?: number;
  /** Failures of a round (an expected race — the run cancelled or expired meanwhile — is none). */
  onError?: (error: unknown) => void;
}

/** The usage the demo records for a run. */
export function demoUsage(run: Pick<ApiRun, 'instructions'>): ApiUsage {
  const prompt = 1 + Math.ceil((run.instructions ?? '').length / 4);
  return { prompt_tokens: prompt, completion_tokens: 8, total_tokens: prompt + 8 };
}

/** The function a run asks for, on its first claim: its first function tool, unless `tool_choice` is `none`. */
function functionToCall(run: ApiRun): string | null {
  if (run.tool_choice === 'none') return null;
  const tool = run.tools.find((t) => t.type === 'function');
  return tool?.type === 'function' ? tool.function.name : null;
}

/** A run cancelled, expired (or replaced) under the worker's hands is no failure: nothing is left to do for it. */
function ignoreRaces(error: unknown): void {
  if (!(error instanceof InvalidRunTransitionError) && !(error instanceof RunNotFoundError)) throw error;
}

export class DemoWorker {
  private loop: Promise<void> | null = null;
  private stopping = false;
  private wake: (() => void) | null = null;

  constructor(private readonly options: DemoWorkerOptions) {}

  private repository(): RunRepository {
    return this.options.orm.em.fork().getRepository(RunObject);
  }

  /** Claims one queued run and moves it on; the run as left (`requires_action`, `completed`, `cancelled`), or `null` when none was queued. */
  async runOnce(): Promise<ApiRun | null> {
    const runs = this.repository();
    const claimed = await runs.claimNext();
    if (!claimed) return null;
    const run = toApiRun(claimed);
    try {
      const name = functionToCall(run);
      // the outputs the client submitted since the previous claim: none means the function was not asked yet
      if (name !== null && claimed.toolOutputs.length === 0) {
        const callId = `call_${randomBytes(12).toString('base64url')}`;
        return toApiRun(await runs.requireAction(run.id, [{ id: callId, type: 'function', function: { name, arguments: '{}' } }]));
      }
      // A cancel that arrived while the run was worked on is honoured (the lifecycle would let it complete).
      if ((await runs.getById(run.id)).status === 'cancelling') return toApiRun(await runs.confirmCancelled(run.id));
      return toApiRun(await runs.complete(run.id, demoUsage(run)));
    } catch (error) {
      ignoreRaces(error);
      return toApiRun((await runs.findById(run.id)) ?? claimed);
    }
  }

  /** One round: expire, confirm cancellations, then every queued run. */
  async round(): Promise<void> {
    const runs = this.repository();
    await runs.expireOverdue();
    for (const run of (await runs.listByStatus('cancelling', { order: 'asc', limit: 100 })).data) {
      await runs.confirmCancelled(run.id).catch(ignoreRaces);
    }
    while (!this.stopping && (await this.runOnce()) !== null);
  }

  /** Runs rounds until `stop()`. */
  start(): void {
    if (this.loop) return;
    this.stopping = false;
    this.loop = (async () => {
      while (!this.stopping) {
        try {
          await this.round();
        } catch (error) {
          this.options.onError?.(error);
        }
        if (this.stopping) break;
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, this.options.intervalMs ?? 100);
          this.wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.wake = null;
      }
    })();
  }

  /** Stops after the round in progress. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.wake?.();
    await this.loop;
    this.loop = null;
  }
}
