/** What every subcommand is, and the flag parsing they share (Node's util.parseArgs). */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { MikroORM } from '@mikro-orm/postgresql';
import { CliError, EXIT_USAGE } from './errors';
import { openOrm, resolveDatabaseUrl, type OpenOptions } from './database';

export interface Command {
  name: string;
  /** One line for the command list. */
  summary: string;
  /** The full help text (`assistants-run-store <name> --help`). */
  help: string;
  /** Runs the command; resolves to the exit code. */
  run(argv: string[]): Promise<number>;
}

/** Flags every command takes. */
export const commonOptions = {
  'database-url': { type: 'string' },
  schema: { type: 'string' },
  verbose: { type: 'boolean', short: 'v' },
  help: { type: 'boolean', short: 'h' },
} as const;

export const COMMON_HELP = `  --database-url URL   the database (default: $DATABASE_URL)
  --schema NAME        the PostgreSQL schema of the store's tables, as the service's MikroORM \`schema\`
                       (default: $MIKRO_ORM_SCHEMA, else none: the search path, usually public)
  -v, --verbose        stack traces on errors
  -h, --help           this help`;

type Options = NonNullable<ParseArgsConfig['options']>;

/** Parses `argv` with the command's options plus the common ones; a bad flag is a usage error. */
export function parseFlags<O extends Options>(
  argv: string[],
  options: O,
  allowPositionals = false,
): ReturnType<typeof parseArgs<{ args: string[]; options: typeof commonOptions & O; allowPositionals: boolean; strict: true }>> {
  try {
    return parseArgs({ args: argv, options: { ...commonOptions, ...options }, allowPositionals, strict: true });
  } catch (error) {
    throw new CliError(`${(error as Error).message.split('\n')[0]} (see --help)`, EXIT_USAGE);
  }
}

/** The common flags that choose the database and the store's schema. */
export interface WhereFlags {
  'database-url'?: string;
  schema?: string;
}

/** Opens the ORM on the command's database (and schema), runs `work`, and always closes it. */
export async function withOrm<T>(flags: WhereFlags, options: OpenOptions, work: (orm: MikroORM) => Promise<T>): Promise<T> {
  const orm = await openOrm(resolveDatabaseUrl(flags['database-url']), { ...options, schema: flags.schema });
  try {
    return await work(orm);
  } finally {
    await orm.close(true);
  }
}

/** Writes to a stream, waiting when its buffer is full (so a slow reader keeps memory flat). */
export async function write(stream: NodeJS.WritableStream, chunk: string): Promise<void> {
  if (!stream.write(chunk)) await new Promise<void>((resolve) => stream.once('drain', resolve));
}
