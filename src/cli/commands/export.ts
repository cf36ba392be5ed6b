import type { FilterQuery } from '@mikro-orm/core';
import type { MikroORM } from '@mikro-orm/postgresql';
import { RunObject, RUN_POPULATE } from '../../entities/run-object.entity';

import type { Command } from '../command';
import { COMMON_HELP, parseFlags, withOrm, write } from '../command';
import { filterFromFlags, filterOptions, whereOf, type RunFilter } from '../filters';
import { help } from './migrate';
import { jsonLine } from '../jsonl';

/**
 * Every run the filter matches, oldest first, fully loaded: keyset pages on (created_at, id),
 * each page on a fresh unit of work, so memory stays flat however many runs there are.
 */
export async function* exportRuns(orm: MikroORM, filter: RunFilter, pageSize = 500): AsyncGenerator<RunObject> {
  const where = whereOf(filter);
  let last: { createdAt: Date; id: string } | null = null;
  for (;;) {
    const after: FilterQuery<RunObject> = last
      ? { $or: [{ createdAt: { $gt: last.createdAt } }, { createdAt: last.createdAt, id: { $gt: last.id } }] }
      : {};
    const page: RunObject[] = await orm.em
      .fork()
      .getRepository(RunObject)
      .find({ $and: [where, after] } as FilterQuery<RunObject>, {
        populate: RUN_POPULATE,
        orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
        limit: pageSize,
      });
    yield* page;
    if (page.length < pageSize) return;
    const end: RunObject = page[page.length - 1];
    last = { createdAt: end.createdAt, id: end.id };
  }
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
    return withOrm(values['database-url'], {}, async (orm) => {
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
