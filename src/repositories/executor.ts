/**
 * The one executor of the store's own statements (src/sql): every statement goes through `read`
 * or `write`, each write operation through `atomically`, and the store's few multi-statement writes
 * through `transaction`. A statement runs on the caller's entity manager — inside its transaction
 * when it has one, never on a second connection then, and never flushing, clearing or rolling back
 * the caller's unit of work (the store uses no `em.transactional`, which forks and flushes) —
 * with its parameters bound (MikroORM's `Connection#execute` would splice them into the text as
 * escaped literals, which for a batch's JSON parameters costs more than the whole rest of the
 * write), shows in MikroORM's query logger like the ORM's own statements (with their timing), and
 * no raw driver error leaves it (db-errors.ts).
 *
 * Transient failures are retried here, bounded, and only where repeating cannot change the
 * outcome (as graphile-worker's `withRetries`): never inside the caller's transaction (a
 * conflict there recurs in the same snapshot; only the caller can retry its transaction), a
 * statement that never reached the server (no connection could be opened, the server was
 * starting) or that the server rolled back whole (serialization failure, deadlock), and a read
 * whose connection was lost.
 *
 * Statements are named (setting `namedStatements`, on by default): PostgreSQL then parses and
 * plans a statement text once per connection and reuses it, which for the long graph statements
 * is most of their server time (see README, "Where the time goes"). The name is a hash of the text;
 * the parameters stay bound.
 */
import { createHash } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { RunStoreUnavailableError } from '../errors';
import { runStoreSettingsOf } from '../settings';
import type { Statement } from '../sql/statement';
import { pgErrorOf, translateDbError, type FailureContext } from './db-errors';

export type Row = Record<string, unknown>;

/**
 * Where a read goes: `replica` — a read replica when the ORM has `replicas` configured (and
 * `preferReadReplicas` is not off), for reads that show; `primary` — the write connection, for reads
 * that decide or must see the caller's own writes. Inside a transaction every statement runs on the
 * transaction's connection, whatever this says.
 */
export type ReadFrom = 'replica' | 'primary';

/** The rows of a statement that only reads. */
export function read<T extends Row = Row>(em: EntityManager, statement: Statement, from: ReadFrom = 'primary'): Promise<T[]> {
  return run<T>(em, statement, false, undefined, from);
}

/**
 * The rows of a statement that writes. A write that inserts runs of one thread names it, for the
 * `ThreadHasActiveRunError` of its thread lock.
 */
export function write<T extends Row = Row>(em: EntityManager, statement: Statement, threadId?: string): Promise<T[]> {
  return run<T>(em, statement, true, threadId);
}

const SAVEPOINT = 'ars_store_write';
const control = (sql: string): Statement => ({ sql, params: [] });

/**
 * `operation` — the statements of one store write — as one step of the caller's transaction: in a
 * savepoint when `em` is in a transaction, rolled back to it when the operation fails, so that a
 * refused write (a thread lock, a value the database refuses, a serialization conflict) leaves
 * the caller's transaction as it was and usable. Outside a transaction `operation` runs as it is
 * (each of its statements commits on its own; the store's writes are one statement each, or
 * repeats of one that wrote nothing). Savepoints of one name nest: each release or rollback names
 * the newest.
 */
export async function atomically<T>(em: EntityManager, operation: () => Promise<T>): Promise<T> {
  if (!em.getTransactionContext()) return operation();
  await write(em, control(`savepoint ${SAVEPOINT}`));
  let result: T;
  try {
    result = await operation();
  } catch (error) {
    await write(em, control(`rollback to savepoint ${SAVEPOINT}`));
    throw error;
  }
  await write(em, control(`release savepoint ${SAVEPOINT}`));
  return result;
}

/**
 * `fn` in ONE transaction: inside the caller's transaction, a savepoint of it (`atomically`);
 * otherwise a transaction of the store's own on one pooled connection (begin … commit by the
 * connection, no flush). `fn` gets an entity manager to run statements on (a fork bound to that
 * transaction, never flushed: register entities in `em`, not in it). A failure of any statement in
 * it, or of its commit, is judged as the transaction's.
 */
export async function transaction<T>(em: EntityManager, fn: (tx: EntityManager) => Promise<T>, threadId?: string): Promise<T> {
  const context: FailureContext = { write: true, inCallerTransaction: em.getTransactionContext() !== undefined, threadId };
  try {
    if (context.inCallerTransaction) return await atomically(em, () => fn(em));
    return await em.getConnection('write').transactional(async (ctx) => {
      const tx = em.fork({ clear: true, useContext: false });
      tx.setTransactionContext(ctx);
      return fn(tx);
    });
  } catch (error) {
    throw translateDbError(error, context);
  }
}

/** Delays between attempts of a retried statement (ms); jittered by up to half. */
const BACKOFF_MS = [20, 100, 400];

async function run<T extends Row>(em: EntityManager, statement: Statement, isWrite: boolean, threadId?: string, from: ReadFrom = 'primary'): Promise<T[]> {
  const context: FailureContext = { write: isWrite, inCallerTransaction: em.getTransactionContext() !== undefined, threadId };
  const settings = runStoreSettingsOf(em);
  const retries = context.inCallerTransaction ? 0 : settings.retries;
  for (let attempt = 0; ; attempt++) {
    try {
      return await (settings.namedStatements ? onceNamed<T>(em, statement, from, context.inCallerTransaction) : once<T>(em, statement, from, null));
    } catch (error) {
      const translated = translateDbError(error, context);
      if (attempt >= retries || !repeatable(translated, isWrite)) throw translated;
      const delay = BACKOFF_MS[Math.min(attempt, BACKOFF_MS.length - 1)];
      await new Promise((resolve) => setTimeout(resolve, delay + Math.random() * (delay / 2)));
    }
  }
}

/** Whether repeating the statement cannot change the outcome the caller sees. */
function repeatable(error: unknown, isWrite: boolean): boolean {
  if (!(error instanceof RunStoreUnavailableError) || !error.retryable) return false;
  switch (error.reason) {
    case 'connect_failed':
    case 'server_unavailable':
    case 'conflict':
      return !error.outcomeUnknown;
    case 'connection_lost':
      return !isWrite;
    default:
      return false;
  }
}

/**
 * `once` under the statement's name. A column type changed under a prepared statement (a migration
 * while this process ran) makes PostgreSQL refuse it on every later call: every name is then
 * renewed. Nothing was executed; outside the caller's transaction the call is made again, under its
 * new name (inside it, the transaction is aborted: the call fails, the caller's next one works).
 */
async function onceNamed<T extends Row>(em: EntityManager, statement: Statement, from: ReadFrom, inCallerTransaction: boolean): Promise<T[]> {
  try {
    return await once<T>(em, statement, from, statementName(statement.sql));
  } catch (error) {
    if (!isStalePlan(error)) throw error;
    renewNames();
    if (inCallerTransaction) throw error;
    return once<T>(em, statement, from, statementName(statement.sql));
  }
}

async function once<T extends Row>(em: EntityManager, statement: Statement, from: ReadFrom, name: string | null): Promise<T[]> {
  const ctx = em.getTransactionContext();
  const type = from === 'replica' && !ctx && em.config.get('preferReadReplicas') !== false ? 'read' : 'write';
  const connection = em.getConnection(type);
  const raw = connection.getKnex().raw(statement.sql, statement.params as never[]);
  if (name !== null) raw.options({ name });
  const started = Date.now();
  try {
    const result = (await (ctx ? raw.transacting(ctx) : raw)) as { rows: T[] };
    log(em, connection, type, statement, { took: Date.now() - started, results: result.rows.length });
    return result.rows;
  } catch (error) {
    log(em, connection, type, statement, { took: Date.now() - started, level: 'error' });
    throw error;
  }
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

type Connection = ReturnType<EntityManager['getConnection']>;

/** Logs a statement as MikroORM logs its own (`debug: ['query']`; parameters inlined only with `'query-params'`). */
function log(em: EntityManager, connection: Connection, type: 'read' | 'write', statement: Statement, context: { took: number; results?: number; level?: 'error' }): void {
  const logger = em.config.getLogger();
  if (!logger.isEnabled('query')) return;
  const platform = em.getPlatform();
  const text = logger.isEnabled('query-params')
    ? platform.formatQuery(statement.sql, statement.params as unknown[])
    : connection.getKnex().client.positionBindings(statement.sql);
  // The connection's name as MikroORM's own log lines give it (replicas are `read-1`, … unless named).
  const options = (connection as unknown as { options?: { name?: string; host?: string } }).options;
  logger.logQuery({
    level: context.level ?? 'info',
    connection: { type, name: options?.name ?? em.config.get('name') ?? options?.host },
    query: text,
    params: statement.params as unknown[],
    took: context.took,
    results: context.results,
  });
}

// --- a dedicated connection (the wake-ups' LISTEN) ---------------------------------------------

/** What the store uses of a node-postgres client it opened itself (knex's driver, `pg`). */
export interface DedicatedClient {
  query(sql: string): Promise<unknown>;
  end(): Promise<void>;
  on(event: 'notification', listener: (message: { channel: string; payload?: string }) => void): unknown;
  on(event: 'error' | 'end', listener: (error?: unknown) => void): unknown;
  removeAllListeners(event?: string): unknown;
}

interface KnexPgClient {
  driver: { Client: new (settings: Record<string, unknown>) => DedicatedClient & { connect(): Promise<void> } };
  connectionSettings: Record<string, unknown>;
  connectionConfigProvider?: () => Promise<Record<string, unknown>>;
  searchPath?: unknown;
  pool?: unknown;
  setSchemaSearchPath(connection: unknown): Promise<unknown>;
}

/**
 * A new connection of its own to the primary (the ORM's write connection: never a replica), with
 * the ORM's connection settings — host, credentials, SSL, startup parameters (`statement_timeout`
 * …), knex's `searchPath` — and TCP keep-alive (a dead peer is noticed), outside the pool: for
 * `LISTEN`, which holds a session and cannot share pooled connections. Its errors never go
 * unhandled: an `error` listener is attached before it connects and stays attached. A failure to
 * connect is the driver's error (the caller translates it); a closed ORM (its pool destroyed) is
 * `RunStoreUnavailableError` (`connect_failed`, not retryable), as the pooled statements say then.
 */
export async function openDedicated(em: EntityManager): Promise<DedicatedClient> {
  const knexClient = em.getConnection('write').getKnex().client as unknown as KnexPgClient;
  if (!knexClient.pool) throw new RunStoreUnavailableError('connect_failed', false, false, null);
  let settings: Record<string, unknown>;
  if (typeof knexClient.connectionConfigProvider === 'function') {
    const { expirationChecker: _checker, ...provided } = (await knexClient.connectionConfigProvider()) as Record<string, unknown>;
    settings = provided;
  } else {
    // knex keeps the password as a hidden (non-enumerable) property of its settings: copied by name
    const { password } = knexClient.connectionSettings;
    settings = { ...knexClient.connectionSettings, ...(password !== undefined ? { password } : {}) };
  }
  const client = new knexClient.driver.Client({ keepAlive: true, keepAliveInitialDelayMillis: 10_000, ...settings });
  client.on('error', () => undefined);
  try {
    await client.connect();
    if (knexClient.searchPath) await knexClient.setSchemaSearchPath(client);
  } catch (error) {
    await client.end().catch(() => undefined);
    throw error;
  }
  return client;
}

/**
 * `statement` (no parameters: the simple protocol, so it may be several statements) on a
 * dedicated connection, logged as the pooled ones are; a failure is the driver's error, untranslated.
 */
export async function onDedicated(em: EntityManager, client: DedicatedClient, statement: Statement): Promise<void> {
  if (statement.params.length > 0) throw new Error('a dedicated connection runs statements without parameters');
  const connection = em.getConnection('write');
  const started = Date.now();
  try {
    await client.query(statement.sql);
    log(em, connection, 'write', statement, { took: Date.now() - started });
  } catch (error) {
    log(em, connection, 'write', statement, { took: Date.now() - started, level: 'error' });
    throw error;
  }
}
