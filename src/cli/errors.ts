/**
 * The command line's errors: `CliError` carries a message meant for a person and an exit code;
 * `describeError` turns anything else (a driver error, a MikroORM error) into one readable line.
 */
import { RunStoreError, RunStoreUnavailableError } from '../errors';
import { pgErrorOf } from '../repositories/db-errors';

/** Exit codes: 1 a failure (also: some import lines were bad), 2 a usage error. */
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/** A failure the command line explains in one line, with no stack trace. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT_FAILURE,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** The URL without its password, safe to print. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparseable URL)';
  }
}

function hostOf(url: string | undefined): string {
  if (!url) return 'the database';
  try {
    const u = new URL(url);
    return `${u.hostname || 'localhost'}:${u.port || '5432'}`;
  } catch {
    return 'the database';
  }
}

function databaseOf(url: string | undefined): string {
  try {
    return url ? decodeURIComponent(new URL(url).pathname.slice(1)) : '';
  } catch {
    return '';
  }
}

const CONNECTION_CODES: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host name lookup failed',
  ETIMEDOUT: 'connection timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ECONNRESET: 'connection reset',
};

/** One line that says what went wrong and, where we know it, what to do. */
export function describeError(error: unknown, url?: string): string {
  if (error instanceof CliError) return error.message;
  if (error instanceof RunStoreUnavailableError) return describeUnavailable(error, url);
  if (error instanceof RunStoreError) return error.message;
  const e = (error ?? {}) as { code?: string; message?: string; errors?: unknown[] };
  // AggregateError from net.connect when every address of a host refuses (IPv4 and IPv6).
  const code = e.code ?? ((e.errors?.[0] as { code?: string } | undefined)?.code);
  if (code && CONNECTION_CODES[code]) {
    return `cannot reach PostgreSQL at ${hostOf(url)}: ${CONNECTION_CODES[code]} (is the server running, and is DATABASE_URL right?)`;
  }
  const pg = pgErrorOf(error);
  switch (pg?.code) {
    case '42P01':
      return `the run store's tables are missing in database "${databaseOf(url)}" (${firstLine(pg.message).replace(/^.* - /, '')}): apply the migrations first with \`assistants-run-store migrate\``;
    case '3D000':
      return `database "${databaseOf(url)}" does not exist on ${hostOf(url)}: create it (createdb) or fix DATABASE_URL`;
    case '28P01':
    case '28000':
      return `PostgreSQL at ${hostOf(url)} refused the login: ${firstLine(pg.message).replace(/^.* - /, '')}`;
    case '57P03':
      return `PostgreSQL at ${hostOf(url)} is starting up or shutting down: try again in a moment`;
  }
  const message = firstLine(e.message ?? String(error));
  if (/clientUrl|Invalid URL|pathname/i.test(message)) return `DATABASE_URL is not a valid PostgreSQL URL: ${message}`;
  return message || String(error);
}

/** The availability errors of the store, in the command line's words. */
function describeUnavailable(error: RunStoreUnavailableError, url?: string): string {
  const code = error.code ?? '';
  if (CONNECTION_CODES[code]) return `cannot reach PostgreSQL at ${hostOf(url)}: ${CONNECTION_CODES[code]} (is the server running, and is DATABASE_URL right?)`;
  switch (error.reason) {
    case 'not_migrated':
      return `the run store's tables are missing in database "${databaseOf(url)}" (${code}): apply the migrations first with \`assistants-run-store migrate\``;
    case 'server_unavailable':
      return `PostgreSQL at ${hostOf(url)} is starting up, shutting down or full: try again in a moment`;
    case 'connect_failed':
      return code === '3D000' ? `database "${databaseOf(url)}" does not exist on ${hostOf(url)}: create it (createdb) or fix DATABASE_URL` : `cannot connect to PostgreSQL at ${hostOf(url)} (${code || 'no connection'})`;
    default:
      return error.message;
  }
}

function firstLine(message: string | undefined): string {
  return (message ?? '').split('\n')[0].trim();
}
