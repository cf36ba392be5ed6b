/** Names of schema objects that the store's code refers to (no entity imports: any module may use them). */
import { schemaNameReason } from '../api/arguments';
import { RunValidationError } from '../errors';

/** The thread lock: at most one run per thread in an active status, a partial unique index. */
export const THREAD_ACTIVE_RUN_INDEX = 'run_object_thread_active_key';

const quoted = new Map<string, string>();

/**
 * The PostgreSQL schema of the store's tables as a quoted identifier (`"app"`, `"My App"`), or
 * `null` for none: the unqualified names, found on the search path, as before schemas. `schema` is
 * what MikroORM resolved for the store's entities (the `schema` option, a fork's schema); `undefined`,
 * `null` and PostgreSQL's default `public` (which MikroORM leaves unqualified too) mean none. A name
 * the store cannot carry (`schemaNameReason`) is a `RunValidationError` on `schema`, before any SQL.
 */
export function quotedSchema(schema: unknown): string | null {
  if (schema === undefined || schema === null || schema === 'public') return null;
  const known = typeof schema === 'string' ? quoted.get(schema) : undefined;
  if (known !== undefined) return known;
  const reason = schemaNameReason(schema);
  if (reason !== null) throw RunValidationError.of('schema', reason);
  // the checks leave no `"` to double; the quotes keep the name's case and spaces
  const identifier = `"${schema as string}"`;
  if (quoted.size < 1000) quoted.set(schema as string, identifier);
  return identifier;
}

/**
 * The notification channels of the wake-ups (migration 20261201122000's `run_object_notify`
 * trigger): a run that became `queued` notifies the first, every other status change the second.
 * Constant in every schema: the payload names the run's schema (see `repositories/wakeups.ts`).
 */
export const QUEUED_CHANNEL = 'assistants_run_store:queued';
export const STATUS_CHANNEL = 'assistants_run_store:status';
