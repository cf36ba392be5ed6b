/**
 * The unit-of-work bridge: turns the rows of the store's statements into managed entity graphs in
 * the caller's entity manager, as MikroORM's own load of the run with every relation populated
 * (`em.find(RunObject, …, { populate: ['*'] })`) would, and keeps the unit of work truthful about
 * graphs that the store's own statements wrote — each entity's snapshot (what a flush compares
 * with) is its stored state, so a later flush writes only what the caller changes afterwards.
 *
 * What a read gives is what an ORM load gives (test/entities/managed-graph.test.ts compares them):
 * - `onInit` for every entity the read creates and `onLoad` for every entity it loads, each once,
 *   awaited before the read returns (an ORM load fires `onInit` a second time for each part: once
 *   as an unloaded reference and once when it loads it);
 * - `wrap(run).toObject()` and `serialize(run, …)` render the parts and collections, as after a
 *   load with `populate: ['*']` (the serialization context of such a load);
 * - one instance per identity: a run, part, tool call, tool or file id the unit of work already
 *   holds is that instance, merged, never a second one;
 * - MikroORM's merge rules for a held run (`mergeData`, what `em.find` does): a property the caller
 *   changed and has not flushed keeps the caller's value (and the next flush writes it); every
 *   other property takes the stored value. Two differences, both because the store's row is the
 *   whole run as stored: a stored `null` replaces a value the caller did not change (`em.find`
 *   keeps the old value there, as its rows may be partial), and a collection (`tools`, `fileIds`,
 *   a required action's `toolCalls`) the caller did not change takes the stored items (`em.find`
 *   keeps an initialized collection as it is); one the caller changed keeps the caller's items.
 *   `em.find` flushes the caller's pending changes first (auto flush); the store never does.
 *
 * Speed: a run of which the unit of work holds nothing (a fork per request: the common case) is
 * built directly, as the entity factory builds a loaded entity (no constructor, accessors in one
 * go, registered with snapshots), without the factory's per-part recursion and merge handling;
 * anything held goes through the entity factory (`EntityFactory#create` with `merge`, the call
 * `em.find` makes), which merges it.
 *
 * MikroORM internals used here, and only here (each exercised by test/entities/orm-internals.test.ts,
 * which also fails when the installed @mikro-orm/core is not a version they were verified
 * against, `VERIFIED_MIKRO_ORM`): `EntityHelper.ensurePropagation`, `ArrayCollection#hydrate` and
 * `#takeSnapshot`, `UnitOfWork#register` and `#dispatchOnLoadEvent`, and the wrapped entity's
 * `__originalEntityData` (the snapshot) and `__touched`.
 *
 * A row of `RUN_GRAPH_COLUMNS` (sql/run-graph.ts) is keyed by property names and its values are
 * already the properties' values (the driver parses the JSON parts and numbers), except the
 * timestamps, which MikroORM's connection leaves as PostgreSQL's text for the platform to parse.
 */
import { Collection, EntityHelper, EventType, helper, wrap, type EntityMetadata } from '@mikro-orm/core';
import type { EntityManager, Platform } from '@mikro-orm/postgresql';
import { RunObject } from '../entities/run-object.entity';
import { RunFileId, RunTool } from '../entities/collections.entity';
import {
  RunIncompleteDetails,
  RunLastError,
  RunRequiredAction,
  RunResponseFormat,
  RunToolCall,
  RunToolChoice,
  RunTruncationStrategy,
  RunUsage,
} from '../entities/parts.entity';
import { PART_NAMES, type PartName } from '../sql/run-graph';

/** The @mikro-orm/core versions the internals above were verified against (the peer range says the same). */
export const VERIFIED_MIKRO_ORM = '~6.6.16';

type Row = Record<string, unknown>;
type Uow = ReturnType<EntityManager['getUnitOfWork']>;

/** The run and every owned entity of it (parts, tool calls, tools, file ids). */
function graphOf(run: RunObject): object[] {
  const entities: object[] = [];
  for (const part of [run.requiredAction, run.lastError, run.incompleteDetails, run.usage, run.truncationStrategy, run.toolChoice, run.responseFormat]) {
    if (part) entities.push(part);
  }
  if (run.requiredAction) entities.push(...run.requiredAction.toolCalls.getItems(false));
  entities.push(...run.tools.getItems(false), ...run.fileIds.getItems(false), run);
  return entities;
}

/**
 * The populate hint a load with every relation (`populate: ['*']`) leaves in the serialization
 * context of each entity of the graph, as MikroORM's entity loader normalises it (every relation of
 * the entity's class, `all`): what makes `wrap(entity).toObject()` render the relations as objects.
 */
const allRelations = (...fields: string[]) => fields.map((field) => ({ field, strategy: 'select-in', all: true }));
let populateAll: ReadonlyMap<Function, readonly object[]> | undefined;
/** Per class (made on first use: this module is loaded while `RunObject`'s module still is, an import cycle). */
function populateAllOf(entity: object): readonly object[] {
  populateAll ??= new Map<Function, readonly object[]>([
    [RunObject, allRelations('requiredAction', 'lastError', 'incompleteDetails', 'tools', 'fileIds', 'usage', 'truncationStrategy', 'toolChoice', 'responseFormat')],
    [RunRequiredAction, allRelations('toolCalls')],
    [RunToolCall, allRelations('requiredAction')],
    [RunTool, allRelations('run')],
    [RunFileId, allRelations('run')],
  ]);
  return populateAll.get(entity.constructor) ?? [];
}

/** Marks each entity of the run's graph as loaded with every relation populated, as MikroORM's entity loader does after such a load. */
function markPopulated(run: RunObject): void {
  for (const entity of graphOf(run)) wrap(entity, true).setSerializationContext({ populate: populateAllOf(entity) as never });
}

/**
 * Registers a graph whose state is the stored state as managed in `em`: one just inserted by a
 * hand-written statement (as a flush would have), or one just built from a read's row (`loaded`:
 * as a load would have, its entities then due for `onLoad`). In the identity map, snapshots
 * taken, collections clean, rendered by `toObject()` as a load with every relation populated.
 */
export function registerManaged(em: EntityManager, run: RunObject, loaded = false): void {
  const uow = em.getUnitOfWork();
  const comparator = em.getComparator();
  for (const entity of graphOf(run)) uow.register(entity, comparator.prepareEntity(entity) as never, { loaded });
  run.requiredAction?.toolCalls.takeSnapshot();
  run.tools.takeSnapshot();
  run.fileIds.takeSnapshot();
  markPopulated(run);
}

/** The run's `timestamptz` properties. */
const DATE_PROPERTIES = ['createdAt', 'expiresAt', 'startedAt', 'cancelledAt', 'failedAt', 'completedAt', 'leaseExpiresAt'] as const satisfies readonly (keyof RunObject)[];

/** The row's timestamps as `Date`s (the platform parses PostgreSQL's text), in place. */
function parseDates(row: Row, platform: Platform): Row {
  for (const key of DATE_PROPERTIES) {
    const value = row[key];
    if (typeof value === 'string') row[key] = platform.parseDate(value);
  }
  return row;
}

/** Fires `onInit` for `entity`, as the entity factory does for every entity it creates. */
function initialized<T extends object>(em: EntityManager, entity: T): T {
  const events = em.getEventManager();
  const meta = helper(entity).__meta as EntityMetadata<T>;
  if (events.hasListeners(EventType.onInit, meta)) events.dispatchEvent(EventType.onInit, { entity, meta, em });
  return entity;
}

/**
 * An entity of `cls` holding the row's values, made as MikroORM's entity factory makes a loaded
 * entity: no constructor call (its defaults would be set, then overwritten), the instance's
 * change-tracking accessors defined in one go (`ensurePropagation`), then the values set.
 */
function entityOf<T extends object>(cls: new () => T, row: Row): T {
  const entity = Object.create(cls.prototype) as T;
  EntityHelper.ensurePropagation(entity);
  return Object.assign(entity, row);
}

function partOf<T extends object>(em: EntityManager, cls: new () => T, row: unknown): T | null {
  return row === null || row === undefined ? null : initialized(em, entityOf(cls, row as Row));
}

/** The `prop` collection of `owner`, loaded with `items` (whose own side already points at `owner`). */
function collectionOf<T extends object>(owner: object, prop: string, items: T[]): Collection<T> {
  const collection = Collection.create<T, object>(owner, prop as never, undefined, true);
  collection.hydrate(items);
  return collection;
}

/**
 * The entity graph of one row of `RUN_GRAPH_COLUMNS` of which the unit of work holds nothing,
 * built directly: what the ORM's entity factory builds from the same row, without what makes the
 * factory slow on such rows (a recursive create per part, each with identity-map lookups, merge
 * handling and the compiled hydrator's custom-type conversions). `onInit` fires for each entity.
 */
function buildRunGraph(em: EntityManager, row: Row): RunObject {
  const { requiredAction, lastError, incompleteDetails, usage, truncationStrategy, toolChoice, responseFormat, tools, fileIds, ...columns } = row;
  const run = entityOf(RunObject, parseDates(columns, em.getPlatform()));
  if (requiredAction) {
    const { toolCalls, ...action } = requiredAction as Row;
    const built = entityOf(RunRequiredAction, action);
    const calls = (toolCalls as Row[]).map((call) => initialized(em, entityOf(RunToolCall, { ...call, requiredAction: built })));
    collectionOf(built, 'toolCalls', calls);
    run.requiredAction = initialized(em, built);
  } else {
    run.requiredAction = null;
  }
  run.lastError = partOf(em, RunLastError, lastError);
  run.incompleteDetails = partOf(em, RunIncompleteDetails, incompleteDetails);
  run.usage = partOf(em, RunUsage, usage);
  run.truncationStrategy = partOf(em, RunTruncationStrategy, truncationStrategy);
  run.toolChoice = partOf(em, RunToolChoice, toolChoice);
  run.responseFormat = partOf(em, RunResponseFormat, responseFormat);
  collectionOf(run, 'tools', (tools as Row[]).map((tool) => initialized(em, entityOf(RunTool, { ...tool, run }))));
  collectionOf(run, 'fileIds', (fileIds as Row[]).map((file) => initialized(em, entityOf(RunFileId, { ...file, run }))));
  return initialized(em, run);
}

const PART_CLASS = {
  requiredAction: RunRequiredAction,
  lastError: RunLastError,
  incompleteDetails: RunIncompleteDetails,
  usage: RunUsage,
  truncationStrategy: RunTruncationStrategy,
  toolChoice: RunToolChoice,
  responseFormat: RunResponseFormat,
} as const satisfies Record<PartName, new () => object>;

const holds = (uow: Uow, cls: { name: string }, items: unknown): boolean =>
  (items as Row[]).some((item) => uow.getById(cls.name, item.id as string) !== undefined);

/** Whether the unit of work already holds the row's run or any entity of its graph. */
function heldByRow(uow: Uow, row: Row): boolean {
  if (uow.getById(RunObject.name, row.id as string)) return true;
  for (const part of PART_NAMES) {
    const data = row[part] as Row | null;
    if (data && uow.getById(PART_CLASS[part].name, data.id as string)) return true;
  }
  const action = row.requiredAction as Row | null;
  return (action !== null && holds(uow, RunToolCall, action.toolCalls)) || holds(uow, RunTool, row.tools) || holds(uow, RunFileId, row.fileIds);
}

/**
 * A graph of which the unit of work holds something, through the entity factory with `merge` (the
 * call `em.find` makes for each row it loads): held entities are merged (MikroORM keeps what the
 * caller changed), the others created and registered as loaded. Then the store's two rules on top
 * (see the file's comment): a collection the caller changed is left out of the merge (kept), and
 * a stored `null` replaces a value of the run the caller did not change.
 */
function mergeRunGraph(em: EntityManager, uow: Uow, row: Row): RunObject {
  const data = parseDates({ ...row }, em.getPlatform());
  const found = uow.getById<RunObject>(RunObject.name, row.id as string);
  // a run held only as a reference (not loaded) is hydrated whole by the factory
  const held = found && wrap(found).isInitialized() ? found : undefined;
  if (held) {
    if (held.tools.isDirty()) delete data.tools;
    if (held.fileIds.isDirty()) delete data.fileIds;
    const action = data.requiredAction as Row | null;
    const heldAction = held.requiredAction;
    if (action && heldAction && heldAction.id === action.id && heldAction.toolCalls.isDirty()) {
      const { toolCalls: _kept, ...rest } = action;
      data.requiredAction = rest;
    }
  }
  const run = em.getEntityFactory().create(RunObject, data as never, { merge: true, convertCustomTypes: true }) as RunObject;
  if (held) takeStoredNulls(em, run, row);
  return run;
}

/**
 * Sets each property of `run` whose stored value (`row`) is `null` to `null`, unless the caller
 * changed it since it was loaded (MikroORM's merge keeps a non-null value there), in the
 * snapshot too: the stored state.
 */
function takeStoredNulls(em: EntityManager, run: RunObject, row: Row): void {
  const wrapped = helper(run);
  const snapshot = wrapped.__originalEntityData as Row | undefined;
  if (!snapshot) return;
  const comparator = em.getComparator();
  const changed = comparator.diffEntities(RunObject.name, snapshot as never, comparator.prepareEntity(run) as never) as Row;
  const entity = run as unknown as Row;
  for (const key of Object.keys(row)) {
    if (row[key] !== null || entity[key] === null || entity[key] === undefined || key in changed) continue;
    entity[key] = null;
    snapshot[key] = null;
  }
  wrapped.__touched = false;
}

/**
 * Managed entities for rows of `RUN_GRAPH_COLUMNS`, in `em`'s identity map, as an ORM load of the
 * runs with every relation populated gives them (see the file's comment); resolves once every
 * `onLoad` listener has.
 */
export async function hydrateRuns(em: EntityManager, rows: Record<string, unknown>[]): Promise<RunObject[]> {
  const uow = em.getUnitOfWork();
  const runs = rows.map((row) => {
    if (!heldByRow(uow, row)) {
      const run = buildRunGraph(em, row);
      registerManaged(em, run, true);
      return run;
    }
    const run = mergeRunGraph(em, uow, row);
    markPopulated(run);
    return run;
  });
  await uow.dispatchOnLoadEvent();
  return runs;
}
