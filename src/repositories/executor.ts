/**
 * The one executor of the store's own statements (src/sql): every statement goes through `query`.
 * It runs on the caller's entity manager — inside its transaction when it has one — with the
 * parameters bound (MikroORM's `Connection#execute` would splice them into the text as escaped
 * literals, which for a batch's JSON parameters costs more than the whole rest of the write),
 * shows in MikroORM's query logger like the ORM's own statements (with their timing), and lets
 * no raw driver error out.
 *
 * Statements are named (setting `namedStatements`, on by default): PostgreSQL then parses and
 * plans a statement text once per connection and reuses it, which for the long graph statements
 * is most of their server time (see README, "Where the time goes"). The name is a hash of the text;
 * the parameters stay bound.
 */
import { createHash } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { runStoreSettingsOf } from '../settings';
import type { Statement } from '../sql/statement';
import { translateDbError } from './db-errors';

export type Row = Record<string, unknown>;

/**
 * The rows `statement` returns, run on `em`'s connection (in its transaction, if any). A write that
 * inserts runs of one thread names it, for the `ThreadHasActiveRunError` of its thread lock.
 */
export async function query<T extends Row = Row>(em: EntityManager, statement: Statement, threadId?: string): Promise<T[]> {
  const connection = em.getConnection();
  const knex = connection.getKnex();
  const raw = knex.raw(statement.sql, statement.params as never[]);
  if (runStoreSettingsOf(em).namedStatements) {
    const name = statementName(statement.sql);
    if (name !== null) raw.options({ name });
  }
  const ctx = em.getTransactionContext();
  const started = Date.now();
  try {
    const result = (await (ctx ? raw.transacting(ctx) : raw)) as { rows: T[] };
    log(em, statement, { took: Date.now() - started, results: result.rows.length });
    return result.rows;
  } catch (error) {
    log(em, statement, { took: Date.now() - started, level: 'error' });
    throw translateDbError(error, threadId);
  }
}

/**
 * At most this many statement texts are named per process (so at most this many are prepared on
 * any one connection); the texts past it run unnamed. The store's statements come in a bounded set
 * of shapes — but a page's limit is part of its text, so a caller varying the limit makes more.
 */
export const MAX_NAMED_STATEMENTS = 500;
const names = new Map<string, string>();

/** The name of a statement text (`ars_` and a hash of it), or `null` once `MAX_NAMED_STATEMENTS` texts are named. */
function statementName(sql: string): string | null {
  let name = names.get(sql);
  if (name === undefined) {
    if (names.size >= MAX_NAMED_STATEMENTS) return null;
    name = `ars_${createHash('sha1').update(sql).digest('hex').slice(0, 32)}`;
    names.set(sql, name);
  }
  return name;
}

/** Logs a statement as MikroORM logs its own (`debug: ['query']`; parameters inlined only with `'query-params'`). */
function log(em: EntityManager, statement: Statement, context: { took: number; results?: number; level?: 'error' }): void {
  const logger = em.config.getLogger();
  if (!logger.isEnabled('query')) return;
  const platform = em.getPlatform();
  const text = logger.isEnabled('query-params')
    ? platform.formatQuery(statement.sql, statement.params as unknown[])
    : em.getConnection().getKnex().client.positionBindings(statement.sql);
  logger.logQuery({
    level: context.level ?? 'info',
    connection: { type: 'write', name: em.config.get('name') ?? em.config.get('host') },
    query: text,
    params: statement.params as unknown[],
    took: context.took,
    results: context.results,
  });
}
