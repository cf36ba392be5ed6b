import { RunObject } from '../../entities/run-object.entity';
import type { Command } from '../command';
import { COMMON_HELP, parseFlags, withOrm } from '../command';
import { CliError, EXIT_USAGE } from '../errors';
import { help } from './migrate';

/** A positive whole number given to `--name`. */
function positiveInt(name: string, value: string): number {
  if (!/^[1-9]\d*$/.test(value)) throw new CliError(`--${name} must be a positive whole number, got '${value}'`, EXIT_USAGE);
  return Number(value);
}

export const recoverCommand: Command = {
  name: 'recover',
  summary: "take back the runs whose worker's lease lapsed, once, and print the counts (for a cron job)",
  help: `Usage: assistants-run-store recover [options]

Takes back every run whose worker's lease lapsed (RunRepository#recoverLapsed): in_progress runs
go back to 'queued', or to 'failed' once claimed --max-attempts times; cancelling runs are
finished as 'cancelled'. Prints the counts. Safe to run from several machines at once.

Options:
  --max-attempts N     claims after which a lapsed run fails instead of being requeued (default 3)
  --batch-size N       runs per statement (default 500)
  --json               print {"requeued": n, "failed": n, "cancelled": n}
${COMMON_HELP}`,
  async run(argv) {
    const { values } = parseFlags(argv, { 'max-attempts': { type: 'string' }, 'batch-size': { type: 'string' }, json: { type: 'boolean' } });
    if (values.help) return help(this);
    const maxAttempts = positiveInt('max-attempts', values['max-attempts'] ?? '3');
    const batchSize = values['batch-size'] === undefined ? undefined : positiveInt('batch-size', values['batch-size']);
    return withOrm(values, {}, async (orm) => {
      const counts = await orm.em.fork().getRepository(RunObject).recoverLapsed({ maxAttempts, batchSize });
      console.log(values.json ? JSON.stringify(counts) : `requeued ${counts.requeued}, failed ${counts.failed}, cancelled ${counts.cancelled}`);
      return 0;
    });
  },
};
