/**
 * The one executor of the store's own statements (src/sql): every statement goes through `query`.
 * It runs on the caller's entity manager — inside its transaction when it has one, never on a
 * connection of its own, never flushing the caller's unit of work — with the
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

const SAVEPOINT = 'ars_store_write';
const control = (sql: string): Statement => ({ sql, params: [] });

/**
 * `write` — the statements of one store write — as one step of the caller's transaction: inside a
 * savepoint when `em` is in a transaction, rolled back to it when the write fails, so a refused
 * write (a thread lock, a value the database refuses, a serialization conflict) leaves the
 * caller's transaction as it was and usable. Outside a transaction each statement commits on its
 * own (every write is one statement, or retries of one), and `write` runs as it is. Savepoints of
 * one name nest: each release or rollback names the newest.
 */
export async function atomically<T>(em: EntityManager, write: () => Promise<T>): Promise<T> {
  if (!em.getTransactionContext()) return write();
  await query(em, control(`savepoint ${SAVEPOINT}`));
  let result: T;
  try {
    result = await write();
  } catch (error) {
    await query(em, control(`rollback to savepoint ${SAVEPOINT}`));
    throw error;
  }
  await query(em, control(`release savepoint ${SAVEPOINT}`));
  return result;
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
