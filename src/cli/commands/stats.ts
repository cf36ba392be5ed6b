import type { MikroORM } from '@mikro-orm/postgresql';
import { RUN_STATUSES, type RunStatusCounts, type UsageTotals } from '../../api/types';
import { RunObject } from '../../entities/run-object.entity';
import type { Command } from '../command';
import { COMMON_HELP, parseFlags, withOrm } from '../command';
import { filterFromFlags, filterOptions, type RunFilter } from '../filters';
import { formatUnix, table } from '../format';
import { help } from './migrate';

export interface RunStats {
  filter: { thread_id: string | null; assistant_id: string | null; created_after: number | null; created_before: number | null };
  counts: RunStatusCounts;
  usage: UsageTotals;
}

/** Counts by status and usage totals over the runs the filter matches. */
export async function collectStats(orm: MikroORM, filter: RunFilter): Promise<RunStats> {
  const repo = orm.em.fork().getRepository(RunObject);
  const scope = { thread_id: filter.threadId, assistant_id: filter.assistantId, created_after: filter.since, created_before: filter.until };
  const counts = await repo.countByStatus(scope);
  const usage = await repo.usageTotals(scope);
  return {
    filter: {
      thread_id: filter.threadId ?? null,
      assistant_id: filter.assistantId ?? null,
      created_after: filter.since ?? null,
      created_before: filter.until ?? null,
    },
    counts,
    usage,
  };
}

/** The stats as two tables. */
export function renderStats(stats: RunStats): string {
  const total = RUN_STATUSES.reduce((sum, s) => sum + stats.counts[s], 0);
  const f = stats.filter;
  const scope = [
    f.thread_id && `thread ${f.thread_id}`,
    f.assistant_id && `assistant ${f.assistant_id}`,
    f.created_after !== null && `created from ${formatUnix(f.created_after)}`,
    f.created_before !== null && `created before ${formatUnix(f.created_before)}`,
  ].filter(Boolean);
  const counts = table(
    ['status', 'runs'],
    [...RUN_STATUSES.map((s) => [s, stats.counts[s]]), ['total', total]],
    { title: `Runs by status${scope.length ? ` (${scope.join(', ')})` : ''}` },
  );
  const u = stats.usage;
  const usage = table(
    ['runs', 'prompt tokens', 'completion tokens', 'total tokens'],
    [[u.runs, u.prompt_tokens, u.completion_tokens, u.total_tokens]],
    { title: 'Usage totals' },
  );
  return `${counts}\n\n${usage}`;
}

export const statsCommand: Command = {
  name: 'stats',
  summary: 'counts by status and usage totals, as tables (--json for machines)',
  help: `Usage: assistants-run-store stats [options]

Counts runs by status and sums their token usage.

Options:
  --thread ID          only this thread's runs
  --assistant ID       only this assistant's runs
  --since TIME         created at or after TIME (unix seconds or ISO date)
  --until TIME         created before TIME
  --json               one JSON object: {filter, counts, usage}
${COMMON_HELP}`,
  async run(argv) {
    const { values } = parseFlags(argv, { ...filterOptions, json: { type: 'boolean' } });
    if (values.help) return help(this);
    const filter = filterFromFlags(values);
    return withOrm(values, {}, async (orm) => {
      const stats = await collectStats(orm, filter);
      console.log(values.json ? JSON.stringify(stats) : renderStats(stats));
      return 0;
    });
  },
};
