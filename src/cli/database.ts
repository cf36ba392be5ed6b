/**
 * Opening the database for a command: the URL from --database-url or DATABASE_URL, checked before
 * MikroORM sees it, a connection check, and (for every command but `migrate`) a check that the
 * migrations were applied — so each of these failures is one clear line, not a stack trace.
 */
import 'reflect-metadata';
import { MikroORM } from '@mikro-orm/postgresql';
import { schemaNameReason } from '../api/arguments';
import { runStoreConfig } from '../config';
import { RunStoreUnavailableError } from '../errors';
import { read } from '../repositories/executor';
import { storeTablesStatement } from '../sql/tables';
import type { RunStoreSettings } from '../settings';
import { CliError, EXIT_USAGE, describeError, redactUrl } from './errors';

/** The database URL a command uses, or a `CliError` saying why there is none. */
export function resolveDatabaseUrl(flag: string | undefined): string {
  const url = flag ?? process.env.DATABASE_URL;
  if (!url) {
    throw new CliError(
      'DATABASE_URL is not set: point it at your PostgreSQL, e.g. DATABASE_URL=postgresql://user:password@localhost:5432/mydb',
      EXIT_USAGE,
    );
  }
  checkDatabaseUrl(url);
  return url;
}

/** Throws a `CliError` unless `url` is a postgres(ql):// URL that names a database. */
export function checkDatabaseUrl(url: string): void {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new CliError(`DATABASE_URL is not a valid URL: expected postgresql://user:password@host:5432/database`, EXIT_USAGE);
  }
  if (parsed.protocol !== 'postgresql:' && parsed.protocol !== 'postgres:') {
    throw new CliError(`DATABASE_URL must start with postgresql:// (got ${parsed.protocol}//)`, EXIT_USAGE);
  }
  if (parsed.pathname.length <= 1) {
    throw new CliError(`DATABASE_URL names no database: add it as the path, e.g. postgresql://${parsed.host || 'localhost:5432'}/mydb`, EXIT_USAGE);
  }
}

export interface OpenOptions {
  /** Check that the run store's tables exist (every command but `migrate`). */
  requireSchema?: boolean;
  /** Create the database when it does not exist (MikroORM's `ensureDatabase`): only `migrate` does. */
  createDatabase?: boolean;
  settings?: Partial<RunStoreSettings>;
  /** The schema of the store's tables (`--schema`); `undefined`: MikroORM's `MIKRO_ORM_SCHEMA`, else none. */
  schema?: string;
}

/** An initialised ORM on `url`, connection checked; errors become one-line `CliError`s. */
export async function openOrm(url: string, options: OpenOptions = {}): Promise<MikroORM> {
  let orm: MikroORM | undefined;
  if (options.schema !== undefined) {
    const reason = schemaNameReason(options.schema);
    if (reason !== null) throw new CliError(`--schema ${reason}`, EXIT_USAGE);
  }
  try {
    orm = await MikroORM.init(
      runStoreConfig(
        {
          clientUrl: url,
          pool: { min: 0, max: 4 },
          migrations: { silent: true },
          ensureDatabase: options.createDatabase ?? false,
          ...(options.schema !== undefined ? { schema: options.schema } : {}),
        },
        options.settings,
      ),
    );
    const check = await orm.checkConnection();
    if (!check.ok) throw check.error ?? new Error(check.reason);
    if (options.requireSchema !== false) {
      try {
        await read(orm.em.fork(), storeTablesStatement());
      } catch (error) {
        if (!(error instanceof RunStoreUnavailableError && error.reason === 'not_migrated')) throw error;
        const schema = orm.config.get('schema');
        throw new CliError(
          `the run store's tables are missing in this database (${redactUrl(url)}${schema ? `, schema ${schema}` : ''}): apply the migrations first with \`assistants-run-store migrate\``,
        );
      }
    }
    return orm;
  } catch (error) {
    await orm?.close(true).catch(() => undefined);
    if (error instanceof CliError) throw error;
    throw withCause(new CliError(describeError(error, url)), error);
  }
}

/** Keeps the original error for --verbose. */
export function withCause<E extends Error>(error: E, cause: unknown): E {
  (error as { cause?: unknown }).cause = cause;
  return error;
}
