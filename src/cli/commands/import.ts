import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import type { MikroORM } from '@mikro-orm/postgresql';
import { ACTIVE_STATUSES, type ApiRunInput, type RunStatus } from '../../api/types';

const ACTIVE: ReadonlySet<RunStatus> = new Set(ACTIVE_STATUSES);
import { RunObject } from '../../entities/run-object.entity';
import { prepareRunImport, type PreparedRunImport } from '../../repositories/writes';
import { RunStoreError, RunValidationError, ThreadHasActiveRunError } from '../../errors';
import type { Command } from '../command';
import { COMMON_HELP, parseFlags, withOrm } from '../command';
import { CliError, EXIT_FAILURE, EXIT_USAGE } from '../errors';
import { formatCount, formatDuration, peakRssMb } from '../format';
import { Progress } from '../progress';
import { help } from './migrate';
import { readLines } from '../jsonl';

export const DEFAULT_BATCH_SIZE = 500;
/** Batches written at once, on as many connections, when they cannot affect each other. */
export const DEFAULT_CONCURRENCY = 2;

export interface ImportOptions {
  batchSize?: number;
  /**
   * At most this many batches in the database at once (default 2). Batches are written side by
   * side only when the outcome cannot depend on their order: no run id in common, and no run in
   * an active status in either (only active runs take part in the thread lock). Otherwise a batch
   * waits for the ones before it, as with 1.
   */
  concurrency?: number;
  failFast?: boolean;
  /** Called for each line that was not written. */
  onBadLine?: (line: number, reason: string) => void;
  /** Called after each batch. */
  onBatch?: (summary: ImportSummary) => void;
  /** The input's bytes read so far (for a progress bar). */
  bytesRead?: () => number;
}

export interface ImportSummary {
  lines: number;
  imported: number;
  bad: number;
  /** The line a --fail-fast import stopped at. */
  stoppedAtLine: number | null;
  /** The most batches that were in the database at once. */
  peakConcurrency: number;
}

interface PendingLine {
  line: number;
  text: string;
}

/** Why a line was refused, as `field: reason`. */
function reasonOf(error: RunStoreError): string {
  if (error instanceof RunValidationError) {
    const more = error.issues.length > 1 ? ` (and ${error.issues.length - 1} more)` : '';
    return `${error.field || '(run)'}: ${error.reason}${more}`;
  }
  if (error instanceof ThreadHasActiveRunError) return `thread_id: ${error.message}`;
  return error.message;
}

/**
 * Reads JSON Lines of API run objects from `input` and stores them with `importRuns`, in batches:
 * one transaction per batch, the batch's runs inserted by one statement (line by line, each in a
 * savepoint, only when the database refuses one), so a refused line is not written and the
 * batch's good lines are. Each batch has its own unit of work, so memory stays flat however
 * long the input. Lines are applied in file order (a later line with the same id wins).
 */
export async function importRuns(orm: MikroORM, input: Readable, options: ImportOptions = {}): Promise<ImportSummary> {
  const batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE;
  const summary: ImportSummary = { lines: 0, imported: 0, bad: 0, stoppedAtLine: null, peakConcurrency: 0 };
  const concurrency = Math.max(1, options.concurrency ?? DEFAULT_CONCURRENCY);
  const bad = (line: number, reason: string) => {
    summary.bad++;
    options.onBadLine?.(line, reason);
    if (options.failFast) summary.stoppedAtLine = line;
  };

  /** Parses one line into a run object, or says why it is not one. */
  const parse = (text: string): { run: ApiRunInput } | { reason: string } => {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (error) {
      return { reason: `(json): ${(error as Error).message}` };
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return { reason: '(json): expected one run object per line' };
    return { run: value as ApiRunInput };
  };

  /**
   * A batch's CPU part, done while the previous batch is being written: lines parsed, runs
   * validated and the batch's one statement built (`prepareRunImport`).
   */
  /** The batch prepared last: the next one follows it, so runs of one second keep file order across batches. */
  let previous: PreparedRunImport | null = null;
  const prepareBatch = (batch: PendingLine[]) => {
    const reasons = new Map<number, string>();
    const runs: { line: number; run: ApiRunInput }[] = [];
    for (const { line, text } of batch) {
      const parsed = parse(text);
      if ('run' in parsed) runs.push({ line, run: parsed.run });
      else reasons.set(line, parsed.reason);
    }
    const prepared: PreparedRunImport = prepareRunImport(runs.map((r) => r.run), previous);
    previous = prepared;
    return { batch, reasons, runs, prepared };
  };

  /**
   * The prepared batch through `RunRepository#importRuns` (one statement for the batch; run by
   * run only when the database refuses one of them), then — once every batch before it has
   * been reported (`before`) — the bad lines reported in line order.
   */
  const writeBatch = async ({ batch, reasons, runs, prepared }: ReturnType<typeof prepareBatch>, before: Promise<unknown>): Promise<void> => {
    let written = 0;
    await orm.em.fork().transactional(async (em) => {
      const results = await em.getRepository(RunObject).importRuns(prepared);
      results.forEach((error, i) => {
        if (error) reasons.set(runs[i].line, reasonOf(error));
        else written++;
      });
    });
    await before.catch(() => undefined);
    summary.imported += written;
    for (const { line } of batch) {
      const reason = reasons.get(line);
      if (reason !== undefined) bad(line, reason);
    }
    options.onBatch?.(summary);
  };

  /** --fail-fast: line by line (each in a savepoint), so that nothing after the first bad line is written. */
  const writeLineByLine = async (batch: PendingLine[]): Promise<void> => {
    let written = 0;
    await orm.em.fork().transactional(async (em) => {
      const repo = em.getRepository(RunObject);
      for (const { line, text } of batch) {
        const parsed = parse(text);
        if (!('run' in parsed)) bad(line, parsed.reason);
        else {
          // one run per batch, each following the one before (runs of one second keep file order)
          const prepared: PreparedRunImport = prepareRunImport([parsed.run], previous);
          previous = prepared;
          const [error] = await repo.importRuns(prepared);
          if (error) bad(line, reasonOf(error));
          else written++;
          // Written (or refused): nothing in this unit of work needs it again.
          em.clear();
        }
        if (summary.stoppedAtLine !== null) break;
      }
    });
    summary.imported += written;
  };

  /**
   * Batches are prepared (parsed, validated, their statement built) while earlier ones are in the
   * database, and written side by side (up to `concurrency`) when their order cannot matter: no
   * id in common with a batch in flight (a later line with the same id must still win) and no
   * active run in either (a thread lock refusal must not depend on which batch got there first).
   * Otherwise a batch waits for those before it. Bad lines are reported in file order.
   */
  interface InFlight {
    ids: ReadonlySet<string>;
    active: boolean;
    settled: Promise<void>;
  }
  let inFlight: InFlight[] = [];
  let last: Promise<void> = Promise.resolve();
  let failure: { error: unknown } | null = null;
  const mayRunBeside = (ids: ReadonlySet<string>, active: boolean, other: InFlight) => {
    if (active || other.active) return false;
    for (const id of ids) if (other.ids.has(id)) return false;
    return true;
  };
  const write = async (batch: PendingLine[]): Promise<void> => {
    if (options.failFast) {
      await writeLineByLine(batch);
      options.onBatch?.(summary);
      return;
    }
    const prepared = prepareBatch(batch);
    const ids = new Set(prepared.prepared.ids);
    const active = prepared.prepared.valid.some(({ run }) => ACTIVE.has(run.status));
    while (inFlight.length >= concurrency || inFlight.some((other) => !mayRunBeside(ids, active, other))) {
      await Promise.race(inFlight.map((other) => other.settled));
    }
    if (failure) throw failure.error;
    const done = writeBatch(prepared, last);
    last = done;
    const entry: InFlight = {
      ids,
      active,
      settled: done.then(
        () => undefined,
        (error) => {
          failure ??= { error };
        },
      ),
    };
    void entry.settled.then(() => {
      inFlight = inFlight.filter((other) => other !== entry);
    });
    inFlight.push(entry);
    summary.peakConcurrency = Math.max(summary.peakConcurrency, inFlight.length);
  };
  const drain = async () => {
    await Promise.all(inFlight.map((other) => other.settled));
    await last.catch(() => undefined);
    if (failure) throw failure.error;
  };

  const lines = readLines(input);
  let batch: PendingLine[] = [];
  try {
    for await (const text of lines) {
      summary.lines++;
      if (text.trim() === '') continue;
      batch.push({ line: summary.lines, text });
      if (batch.length >= batchSize) {
        await write(batch);
        batch = [];
        if (summary.stoppedAtLine !== null) break;
      }
    }
    if (batch.length > 0 && summary.stoppedAtLine === null) await write(batch);
    await drain();
  } finally {
    // never leave a write running behind an error
    await Promise.all(inFlight.map((other) => other.settled));
  }
  return summary;
}

export const importCommand: Command = {
  name: 'import',
  summary: 'store JSON Lines of API run objects (FILE, or - for stdin) with importRun',
  help: `Usage: assistants-run-store import FILE|- [options]

Reads one API run object (thread.run JSON) per line and stores each with importRun: new runs are
inserted, a run whose id is already stored is replaced. A bad line (not JSON, or a run the store
refuses) is reported as "line N: field: reason" on stderr and nothing of it is written; the other
lines still are. Runs of the same created_at second keep file order (stored 1 ms apart), so an
export imports back in the order it lists. Progress goes to stderr, the summary to stdout. Exit code 1 when any line was bad.

Options:
  --fail-fast          stop at the first bad line (the lines before it are kept)
  --batch-size N       lines per transaction (default ${DEFAULT_BATCH_SIZE})
  --concurrency N      batches written at once, each on its own connection, when their
                       order cannot matter (no id in common, no active run) (default ${DEFAULT_CONCURRENCY})
  --quiet              no progress output
  --json               print the summary as JSON
${COMMON_HELP}`,
  async run(argv) {
    const { values, positionals } = parseFlags(
      argv,
      {
        'fail-fast': { type: 'boolean' },
        'batch-size': { type: 'string' },
        concurrency: { type: 'string' },
        quiet: { type: 'boolean', short: 'q' },
        json: { type: 'boolean' },
      },
      true,
    );
    if (values.help) return help(this);
    if (positionals.length !== 1) throw new CliError('import takes one FILE (or - for stdin) (see --help)', EXIT_USAGE);
    const batchSize = values['batch-size'] === undefined ? DEFAULT_BATCH_SIZE : Number(values['batch-size']);
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new CliError('--batch-size: expected a positive whole number', EXIT_USAGE);
    const concurrency = values.concurrency === undefined ? DEFAULT_CONCURRENCY : Number(values.concurrency);
    if (!Number.isInteger(concurrency) || concurrency < 1) throw new CliError('--concurrency: expected a positive whole number', EXIT_USAGE);

    const [file] = positionals;
    let input: Readable & { bytesRead?: number };
    let bytesTotal: number | undefined;
    if (file === '-') {
      input = process.stdin;
    } else {
      try {
        bytesTotal = (await stat(file)).size;
      } catch (error) {
        throw new CliError(`cannot read ${file}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message}`);
      }
      input = createReadStream(file);
    }

    return withOrm(values['database-url'], {}, async (orm) => {
      const started = Date.now();
      const progress = new Progress(process.stderr, 2000, !values.quiet);
      const summary = await importRuns(orm, input, {
        batchSize,
        concurrency,
        failFast: values['fail-fast'],
        onBadLine: (line, reason) => {
          progress.clear();
          process.stderr.write(`line ${line}: ${reason}\n`);
        },
        onBatch: (s) => progress.update({ ...s, bytesRead: input.bytesRead, bytesTotal }),
      });
      progress.clear();
      const ms = Date.now() - started;
      const rate = Math.round(summary.imported / Math.max(ms / 1000, 0.001));
      if (values.json) {
        console.log(JSON.stringify({ ...summary, seconds: ms / 1000, runs_per_second: rate, peak_rss_mb: peakRssMb() }));
      } else {
        const badText = summary.bad === 0 ? 'no bad lines' : `${formatCount(summary.bad)} bad line${summary.bad === 1 ? '' : 's'} not written`;
        const stopped = summary.stoppedAtLine !== null ? `; stopped at line ${summary.stoppedAtLine} (--fail-fast)` : '';
        console.log(
          `imported ${formatCount(summary.imported)} run${summary.imported === 1 ? '' : 's'} from ${formatCount(summary.lines)} lines in ${formatDuration(ms)} ` +
            `(${formatCount(rate)} runs/s); ${badText}${stopped}; peak memory ${peakRssMb()} MB`,
        );
      }
      return summary.bad > 0 ? EXIT_FAILURE : 0;
    });
  },
};
