/**
 * The one executor of the store's own statements (src/sql): every statement goes through `query`.
 * It runs on the caller's entity manager — inside its transaction when it has one — with the
 * parameters bound (MikroORM's `Connection#execute` would splice them into the text as escaped
 * literals, which for a batch's JSON parameters costs more than the whole rest of the write),
 * shows in MikroORM's query logger like the ORM's own statements (with their timing), and lets
 * no raw driver error out.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
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
