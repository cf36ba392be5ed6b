import { RunObject } from '../../entities/run-object.entity';
import type { Command } from '../command';
import { COMMON_HELP, parseFlags, withOrm } from '../command';
import { parseTime } from '../filters';
import { help } from './migrate';

export const expireCommand: Command = {
  name: 'expire',
  summary: 'move every overdue active run to expired, once, and print the count (for a cron job)',
  help: `Usage: assistants-run-store expire [options]

Moves every active run whose expires_at has passed to 'expired' (RunRepository#expireOverdue)
and prints how many it moved. Safe to run from several machines at once.

Options:
  --now TIME           the time to compare with (unix seconds or ISO date; default: the database's clock)
  --json               print {"expired": n}
${COMMON_HELP}`,
  async run(argv) {
    const { values } = parseFlags(argv, { now: { type: 'string' }, json: { type: 'boolean' } });
    if (values.help) return help(this);
    const now = values.now === undefined ? undefined : new Date(parseTime('now', values.now) * 1000);
    return withOrm(values, {}, async (orm) => {
      const count = await orm.em.fork().getRepository(RunObject).expireOverdue(now);
      console.log(values.json ? JSON.stringify({ expired: count }) : `expired ${count} run${count === 1 ? '' : 's'}`);
      return 0;
    });
  },
};
