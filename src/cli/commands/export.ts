import type { MikroORM } from '@mikro-orm/postgresql';
import type { ApiRun } from '../../api/types';
import { RunObject } from '../../entities/run-object.entity';

import type { Command } from '../command';
import { COMMON_HELP, parseFlags, withOrm, write } from '../command';
import { filterFromFlags, filterOptions, type RunFilter } from '../filters';
import { help } from './migrate';
import { jsonLine } from '../jsonl';

/**
 * Every run the filter matches, oldest first, as API objects built by PostgreSQL
 * (`RunRepository#api.export`: keyset pages of `pageSize`, one statement each, no entities), so
 * memory stays flat however many runs there are.
 */
export function exportRuns(orm: MikroORM, filter: RunFilter, pageSize?: number): AsyncGenerator<ApiRun> {
  const runs = orm.em.fork().getRepository(RunObject);
  return runs.api.export(
    { thread_id: filter.threadId, assistant_id: filter.assistantId, status: filter.statuses, created_after: filter.since, created_before: filter.until },
    pageSize,
  );
}

export const exportCommand: Command = {
  name: 'export',
  summary: 'print runs as JSON Lines of API run objects (filter by thread, assistant, status)',
  help: `Usage: assistants-run-store export [options] > runs.jsonl

Prints every matching run as one API run object (thread.run JSON) per line, oldest first.
What export prints, import takes back unchanged.

Options:
  --thread ID          only this thread's runs
  --assistant ID       only this assistant's runs
  --status S[,S…]      only runs in these statuses (e.g. completed,failed)
  --since TIME         created at or after TIME (unix seconds or ISO date)
  --until TIME         created before TIME
${COMMON_HELP}`,
  async run(argv) {
    const { values } = parseFlags(argv, { ...filterOptions, status: { type: 'string' } });
    if (values.help) return help(this);
    const filter = filterFromFlags(values);
    return withOrm(values, {}, async (orm) => {
      let n = 0;
      for await (const run of exportRuns(orm, filter)) {
        await write(process.stdout, `${jsonLine(run)}\n`);
        n++;
      }
      if (process.stderr.isTTY) process.stderr.write(`exported ${n} run${n === 1 ? '' : 's'}\n`);
      return 0;
    });
  },
};
