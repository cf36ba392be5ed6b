/**
 * What the fault suite shares: a private cluster with the package's migrations applied and the
 * app's ORM on it, the contract's error checks, the SQL that finds lost, partial and orphan rows,
 * and a record of everything that broke the contract (asserted empty, never printed).
 */
import 'reflect-metadata';
import { MikroORM, type Options } from '@mikro-orm/postgresql';
import { runStoreConfig } from '../../src/config';
import { RunObject } from '../../src/entities/run-object.entity';
import { RunStoreError, RunStoreUnavailableError, type UnavailableReason } from '../../src/errors';
import type { ApiRun } from '../../src/api/types';
import type { RunRepository } from '../../src/repositories/run.repository';
import type { RunStoreSettings } from '../../src/settings';
import { useCluster, type ClusterHandle } from '../support/pg-cluster';
import { orphanCounts as orphanCountsOf } from '../support/row-counts';

/** The app's database on the private cluster, and the `application_name` of the app's connections (the ones faults hit). */
export const APP_DB = 'ars_faults';
export const APP_NAME = 'ars-faults-app';

export interface FaultStore {
  readonly cluster: ClusterHandle;
  /** The app's database URL (superuser). */
  readonly url: string;
  /** The app's ORM (pool of `pool.max`, default 10). */
  readonly orm: MikroORM;
  /** The repository on a fresh fork of the app's ORM. */
  runs(orm?: MikroORM): RunRepository;
  /** SQL on the app's database through the cluster's admin connection (never a fault's victim). */
  sql<T extends Record<string, unknown> = Record<string, unknown>>(text: string, params?: unknown[]): Promise<T[]>;
  /** Another ORM of the app on the same database (closed after the file). */
  createOrm(overrides?: Options, settings?: Partial<RunStoreSettings>): Promise<MikroORM>;
}

function appConfig(url: string, overrides: Options, settings: Partial<RunStoreSettings>): Options {
  return runStoreConfig({ clientUrl: url, pool: { min: 0, max: 10 }, driverOptions: { connection: { application_name: APP_NAME } }, ...overrides }, settings);
}

/** A private cluster for the file, the package's migrations applied to `APP_DB`, the app's ORM on it. */
export function useFaultStore(overrides: Options = {}, settings: Partial<RunStoreSettings> = {}): () => FaultStore {
  const cluster = useCluster({ settings: { max_connections: 60 } });
  const orms: MikroORM[] = [];
  let store: FaultStore | undefined;

  beforeAll(async () => {
    const pg = cluster();
    await pg.query(`create database ${APP_DB}`);
    const migrating = await MikroORM.init(runStoreConfig({ clientUrl: pg.url(APP_DB), migrations: { silent: true } }));
    try {
      await migrating.getMigrator().up();
    } finally {
      await migrating.close(true);
    }
    const createOrm = async (more: Options = {}, moreSettings: Partial<RunStoreSettings> = {}) => {
      const orm = await MikroORM.init(appConfig(pg.url(APP_DB), { ...overrides, ...more }, { ...settings, ...moreSettings }));
      orms.push(orm);
      return orm;
    };
    const orm = await createOrm();
    store = {
      cluster: pg,
      url: pg.url(APP_DB),
      orm,
      runs: (o = orm) => o.em.fork().getRepository(RunObject),
      sql: (text, params) => pg.query(text, params, APP_DB),
      createOrm,
    };
  });

  afterAll(async () => {
    await Promise.all(orms.map((o) => o.close(true).catch(() => undefined)));
  });

  return () => {
    if (!store) throw new Error('useFaultStore(): used outside a test');
    return store;
  };
}

// --- the error contract -----------------------------------------------------------------------

/**
 * A short, stable name for an error that broke the contract: its class, its code and the end of its
 * first line (MikroORM puts the statement first, then ` - ` and the driver's message; ids and
 * numbers are blanked so that one kind of error is one key; a message that carries the SQL says so).
 */
export function signatureOf(error: unknown): string {
  // Not `instanceof Error`: Node's own errors (ECONNREFUSED) come from outside jest's realm.
  if (typeof error !== 'object' || error === null || typeof (error as Error).message !== 'string') {
    return `non-Error ${typeof error}: ${String(error).slice(0, 80)}`;
  }
  const { code } = error as { code?: unknown };
  const line = (error as Error).message.split('\n')[0];
  const tail = line.includes(' - ') ? line.slice(line.lastIndexOf(' - ') + 3) : line;
  const message = tail.replace(/run_[A-Za-z0-9_-]+|[0-9a-f]{8}-[0-9a-f-]{27}|\d+/g, '…').slice(0, 90);
  const carriesSql = /^(with|select|insert|update|delete|commit|rollback|begin)\b/i.test(line);
  return `${error.constructor.name}${typeof code === 'string' ? ` ${code}` : ''}: ${message}${carriesSql ? ' [message starts with the SQL]' : ''}`;
}

/** Counts per signature: the form every list of violations takes (a diff then shows each kind once). */
export class Tally {
  readonly counts: Record<string, number> = {};
  add(key: string, n = 1): void {
    this.counts[key] = (this.counts[key] ?? 0) + n;
  }
  get total(): number {
    return Object.values(this.counts).reduce((a, b) => a + b, 0);
  }
}

/**
 * Everything a fault scenario found wrong, by kind. Each test asserts `toEqual(emptyViolations())`
 * on it, so a failure lists every kind of breach at once, with counts.
 */
export interface Violations {
  /** Errors that are not one of the package's classes (driver, knex, TypeError…), by signature. */
  rawErrors: Record<string, number>;
  /** Package errors where an availability failure was the only possible cause, or `RunStoreUnavailableError`s with the wrong fields. */
  wrongErrors: Record<string, number>;
  /** A call failed with `outcomeUnknown: false`, yet its write is in the database. */
  writtenDespiteError: Record<string, number>;
  /** A call returned, and its effect is not (or no longer) in the database, or the run is in a state no call explains. */
  lostWrites: Record<string, number>;
  /** A batch or graph only partly written. */
  partialWrites: Record<string, number>;
  /** Part rows referenced by no run (or by more than one), runs referencing missing parts. */
  orphans: Record<string, number>;
  /** Calls that did not settle within their bound, and loops that outran theirs. */
  hangs: Record<string, number>;
  /** Lines written to the console while the store ran (the library must print nothing). */
  printed: Record<string, number>;
}

export function emptyViolations(): Violations {
  return { rawErrors: {}, wrongErrors: {}, writtenDespiteError: {}, lostWrites: {}, partialWrites: {}, orphans: {}, hangs: {}, printed: {} };
}

export class ViolationLog {
  private readonly tallies = Object.fromEntries(Object.keys(emptyViolations()).map((k) => [k, new Tally()])) as Record<keyof Violations, Tally>;
  add(kind: keyof Violations, key: string, n = 1): void {
    this.tallies[kind].add(key, n);
  }
  get report(): Violations {
    return Object.fromEntries(Object.entries(this.tallies).map(([k, t]) => [k, t.counts])) as unknown as Violations;
  }
}

/**
 * Checks a failure that only the fault can explain (the input was valid, nobody else touched the
 * run): it must be a `RunStoreUnavailableError`, retryable, with one of `reasons`. Returns the error
 * when it is one (whatever its fields), `null` for anything else.
 */
export function checkAvailabilityError(
  log: ViolationLog,
  op: string,
  error: unknown,
  reasons: readonly UnavailableReason[],
): RunStoreUnavailableError | null {
  if (!(error instanceof RunStoreError)) {
    log.add('rawErrors', `${op}: ${signatureOf(error)}`);
    return null;
  }
  if (!(error instanceof RunStoreUnavailableError)) {
    log.add('wrongErrors', `${op}: ${signatureOf(error)}`);
    return null;
  }
  if (!reasons.includes(error.reason)) log.add('wrongErrors', `${op}: reason ${error.reason} (expected ${reasons.join('|')})`);
  if (!error.retryable) log.add('wrongErrors', `${op}: ${error.reason} not retryable`);
  return error;
}

/** Whether a failed call may have written: unknown for raw errors (nobody said), as the error says otherwise. */
export function mayHaveWritten(error: unknown): boolean {
  return !(error instanceof RunStoreUnavailableError) || error.outcomeUnknown;
}

// --- the database as it is --------------------------------------------------------------------

/** What the suite compares of a run: its status, metadata and how many of each part it has. */
export type Shape = {
  status: string;
  metadata: Record<string, string> | null;
  tools: number;
  fileIds: number;
  toolCalls: number;
  requiredAction: boolean;
  usage: boolean;
  lastError: boolean;
  incompleteDetails: boolean;
  truncationStrategy: boolean;
  toolChoice: boolean;
  responseFormat: boolean;
};

/** The shape of a run object the store gave back. */
export function shapeOfApi(run: ApiRun): Shape {
  return {
    status: run.status,
    metadata: run.metadata,
    tools: run.tools.length,
    fileIds: run.file_ids?.length ?? 0,
    toolCalls: run.required_action?.submit_tool_outputs.tool_calls.length ?? 0,
    requiredAction: run.required_action !== null,
    usage: run.usage !== null,
    lastError: run.last_error !== null,
    incompleteDetails: run.incomplete_details != null,
    truncationStrategy: run.truncation_strategy != null,
    toolChoice: run.tool_choice != null,
    responseFormat: run.response_format != null,
  };
}

/** The stored shape of each run in `ids` that exists (by SQL, on the admin connection). */
export async function storedShapes(store: FaultStore, ids: readonly string[]): Promise<Map<string, Shape>> {
  const rows = await store.sql<Shape & { id: string }>(
    `select r.id, r.status, r.metadata,
            (select count(*)::int from run_tool t where t.run_id = r.id) as tools,
            (select count(*)::int from run_file_id f where f.run_id = r.id) as "fileIds",
            (select count(*)::int from run_tool_call c where c.required_action_id = r.required_action_id) as "toolCalls",
            r.required_action_id is not null as "requiredAction", r.usage_id is not null as usage,
            r.last_error_id is not null as "lastError", r.incomplete_details_id is not null as "incompleteDetails",
            r.truncation_strategy_id is not null as "truncationStrategy", r.tool_choice_id is not null as "toolChoice",
            r.response_format_id is not null as "responseFormat"
       from run_object r where r.id = any($1::text[])`,
    [[...ids]],
  );
  return new Map(rows.map(({ id, ...shape }) => [id, shape]));
}

/** The owned to-one parts: table and the run column that references it. */
/** Orphan and dangling rows of the whole database (test/support/row-counts.ts). */
export const orphanCounts = (store: FaultStore): Promise<Record<string, number>> => orphanCountsOf(store);

// --- bounds -----------------------------------------------------------------------------------

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export const HUNG = Symbol('hung');

/** `promise`, or `HUNG` when it has not settled after `ms` (it keeps running; the caller decides). */
export async function orHung<T>(promise: Promise<T>, ms: number): Promise<T | typeof HUNG> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<typeof HUNG>((resolve) => {
    timer = setTimeout(() => resolve(HUNG), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Records every console line while `fn` runs (knex reports lost connections with `console.log`;
 * the library must print nothing), into `log.printed`, and prints none of them.
 */
export async function capturingConsole<T>(log: ViolationLog, fn: () => Promise<T>): Promise<T> {
  const methods = ['log', 'info', 'warn', 'error', 'debug'] as const;
  const spies = methods.map((m) =>
    jest.spyOn(console, m).mockImplementation((...args: unknown[]) => {
      log.add('printed', `console.${m}: ${signatureOf(new Error(args.map(String).join(' ')))}`.replace('Error: ', ''));
    }),
  );
  try {
    return await fn();
  } finally {
    for (const spy of spies) spy.mockRestore();
  }
}

/** How a bounded call ended. `hung`: still pending after the bound (`settled` resolves when it ends). */
export type Outcome<T> =
  | { state: 'ok'; value: T; ms: number }
  | { state: 'error'; error: unknown; ms: number }
  | { state: 'hung'; ms: number; settled: Promise<unknown> };

/** Runs `promise` against a bound, timing it. */
export async function timed<T>(promise: Promise<T>, boundMs: number): Promise<Outcome<T>> {
  const t0 = Date.now();
  const settled = promise.then(
    (value) => ({ state: 'ok' as const, value, ms: Date.now() - t0 }),
    (error: unknown) => ({ state: 'error' as const, error, ms: Date.now() - t0 }),
  );
  const result = await orHung(settled, boundMs);
  return result === HUNG ? { state: 'hung', ms: Date.now() - t0, settled } : result;
}

/** An outcome as the contract sees it: for comparing with `toEqual` (a failure then shows what came instead). */
export function describeOutcome(outcome: Outcome<unknown>): Record<string, unknown> {
  if (outcome.state === 'ok') return { state: 'ok' };
  if (outcome.state === 'hung') return { state: `still pending after ${outcome.ms} ms` };
  const { error } = outcome;
  if (error instanceof RunStoreUnavailableError) {
    const { reason, retryable, outcomeUnknown, code } = error;
    return { state: 'error', class: 'RunStoreUnavailableError', reason, retryable, outcomeUnknown, code };
  }
  if (error instanceof RunStoreError) return { state: 'error', class: error.constructor.name };
  return { state: 'error', class: 'not a RunStoreError', signature: signatureOf(error) };
}

/** The app's sessions waiting for a lock right now (a server-side timeout leaves none behind). */
export async function sessionsWaitingForLocks(store: FaultStore): Promise<number> {
  const [{ n }] = await store.sql<{ n: number }>(
    `select count(*)::int as n from pg_stat_activity where datname = $1 and application_name like $2 and wait_event_type = 'Lock'`,
    [APP_DB, `${APP_NAME}%`],
  );
  return n;
}
