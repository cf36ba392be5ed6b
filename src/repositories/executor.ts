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
import { pgErrorOf, translateDbError } from './db-errors';

export type Row = Record<string, unknown>;

/**
 * The rows `statement` returns, run on `em`'s connection (in its transaction, if any). A write that
 * inserts runs of one thread names it, for the `ThreadHasActiveRunError` of its thread lock.
 */
export async function query<T extends Row = Row>(em: EntityManager, statement: Statement, threadId?: string): Promise<T[]> {
  const named = runStoreSettingsOf(em).namedStatements;
  const ctx = em.getTransactionContext();
  const started = Date.now();
  try {
    try {
      return await send<T>(em, statement, named, ctx);
    } catch (error) {
      if (!(named && isStalePlan(error))) throw error;
      // A column type changed under a prepared statement (a migration while this process ran):
      // PostgreSQL refuses it on every later call, so every name is renewed. Nothing was executed;
      // outside a transaction the call is made again, under its new name.
      renewNames();
      if (ctx) throw error;
      return await send<T>(em, statement, named, ctx);
    }
  } catch (error) {
    log(em, statement, { took: Date.now() - started, level: 'error' });
    throw translateDbError(error, threadId);
  }
}

async function send<T extends Row>(em: EntityManager, statement: Statement, named: boolean, ctx: unknown): Promise<T[]> {
  const raw = em.getConnection().getKnex().raw(statement.sql, statement.params as never[]);
  const name = named ? statementName(statement.sql) : null;
  if (name !== null) raw.options({ name });
  const started = Date.now();
  const result = (await (ctx ? raw.transacting(ctx as never) : raw)) as { rows: T[] };
  log(em, statement, { took: Date.now() - started, results: result.rows.length });
  return result.rows;
}

/**
 * At most this many statement texts are named per process (so at most this many are prepared on
 * any one connection); the texts past it run unnamed. The store's statements come in a bounded set
 * of shapes — but a page's limit is part of its text, so a caller varying the limit makes more.
 */
export const MAX_NAMED_STATEMENTS = 500;
const hashes = new Map<string, string>();
/** Part of every name: renewed when a prepared statement went stale, so that each is prepared again. */
let generation = 0;

/** The name of a statement text (`ars`, the generation and a hash of the text), or `null` once `MAX_NAMED_STATEMENTS` texts are named. */
function statementName(sql: string): string | null {
  let hash = hashes.get(sql);
  if (hash === undefined) {
    if (hashes.size >= MAX_NAMED_STATEMENTS) return null;
    hash = createHash('sha1').update(sql).digest('hex').slice(0, 32);
    hashes.set(sql, hash);
  }
  return `ars${generation}_${hash}`;
}

function renewNames(): void {
  generation += 1;
}

/** PostgreSQL's refusal of a prepared statement whose result columns changed type since it was prepared. */
function isStalePlan(error: unknown): boolean {
  const pg = pgErrorOf(error);
  return pg?.code === '0A000' && /cached plan must not change result type/.test(pg.message ?? '');
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
