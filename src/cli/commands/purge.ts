import { RunObject } from '../../entities/run-object.entity';
import type { Command } from '../command';
import { COMMON_HELP, parseFlags, withOrm } from '../command';
import { CliError, EXIT_USAGE } from '../errors';
import { parseStatuses, parseTime } from '../filters';
import { formatCount } from '../format';
import { help } from './migrate';

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 };

/** `90d`, `12h`, `30m`, `3600s` (or plain seconds) → seconds. */
export function parseDuration(flag: string, value: string): number {
  const m = /^(\d+(?:\.\d+)?)([smhdw]?)$/.exec(value.trim());
  if (!m) throw new CliError(`--${flag}: expected a duration such as 90d, 12h, 30m or 3600s, got '${value.slice(0, 40)}'`, EXIT_USAGE);
  return Number(m[1]) * UNIT_SECONDS[m[2] || 's'];
}

/** `[#########-----------]  45%  4,500 / 10,000 runs` (the total may grow while a service writes). */
function bar(done: number, total: number): string {
  const of = Math.max(total, done, 1);
  const width = 30;
  const filled = Math.round((done / of) * width);
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${String(Math.floor((done / of) * 100)).padStart(3)}%  ${formatCount(done)} / ${formatCount(of)} runs`;
}

export const purgeCommand: Command = {
  name: 'purge',
  summary: 'delete terminal runs older than a given age, with all their parts, in small batches',
  help: `Usage: assistants-run-store purge (--older-than DURATION | --before TIME) [options]

Deletes terminal runs (cancelled, failed, completed, incomplete, expired) created before the
cutoff, with all their parts (RunRepository#purgeRuns), in batches that lock only rows nobody else
holds: safe from several machines at once and beside a running service. Active runs are never
purged. Prints how many it deleted.

Options:
  --older-than DURATION  created more than this long ago (90d, 12h, 30m, 3600s; database clock)
  --before TIME          created before this time (unix seconds or ISO date)
  --status S,S…          only these terminal statuses
  --batch-size N         runs per batch (default 1000)
  --dry-run              count what would be deleted; delete nothing
  --quiet                no progress line
  --json                 print {"purged": n} (or {"wouldPurge": n} with --dry-run)
${COMMON_HELP}

To keep a copy first, export the same runs (export's --until is purge's --before):
  assistants-run-store export --until 2024-01-01 --status completed,failed,cancelled,incomplete,expired > archive.jsonl
  assistants-run-store purge --before 2024-01-01`,
  async run(argv) {
    const { values } = parseFlags(argv, {
      'older-than': { type: 'string' },
      before: { type: 'string' },
      status: { type: 'string' },
      'batch-size': { type: 'string' },
      'dry-run': { type: 'boolean' },
      quiet: { type: 'boolean' },
      json: { type: 'boolean' },
    });
    if (values.help) return help(this);
    if ((values['older-than'] === undefined) === (values.before === undefined)) throw new CliError('give exactly one of --older-than and --before (see --help)', EXIT_USAGE);
    const batchSize = values['batch-size'] === undefined ? undefined : Number(values['batch-size']);
    if (batchSize !== undefined && !Number.isInteger(batchSize)) throw new CliError(`--batch-size: expected a whole number, got '${values['batch-size']}'`, EXIT_USAGE);
    const showProgress = !values.quiet && !values.json && Boolean(process.stderr.isTTY);
    const cutoff = {
      ...(values['older-than'] !== undefined ? { olderThanSeconds: parseDuration('older-than', values['older-than']) } : {}),
      ...(values.before !== undefined ? { before: new Date(parseTime('before', values.before) * 1000) } : {}),
      ...(values.status !== undefined ? { statuses: parseStatuses(values.status) } : {}),
      ...(batchSize !== undefined ? { batchSize } : {}),
    };
    return withOrm(values, {}, async (orm) => {
      const runs = orm.em.fork().getRepository(RunObject);
      // On a terminal, a bar: the count first (one statement), then each batch's progress.
      const total = showProgress && !values['dry-run'] ? await runs.purgeRuns({ ...cutoff, dryRun: true }) : 0;
      const count = await runs.purgeRuns({
        ...cutoff,
        dryRun: values['dry-run'] ?? false,
        onBatch: showProgress ? (n) => process.stderr.write(`\r${bar(n, total)}\x1b[K`) : undefined,
      });
      if (showProgress) process.stderr.write('\r\x1b[K');
      if (values.json) console.log(JSON.stringify(values['dry-run'] ? { wouldPurge: count } : { purged: count }));
      else console.log(values['dry-run'] ? `would purge ${formatCount(count)} run${count === 1 ? '' : 's'}` : `purged ${formatCount(count)} run${count === 1 ? '' : 's'}`);
      return 0;
    });
  },
};
