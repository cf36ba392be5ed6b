/**
 * The unit-of-work bridge: turns the rows of the store's statements into managed entity graphs in
 * the caller's entity manager, and keeps the unit of work truthful about graphs that the store's
 * own statements wrote — each entity's snapshot (what a flush compares with) is its stored state,
 * so a later flush writes only what the caller changes afterwards.
 *
 * A row of `RUN_GRAPH_COLUMNS` (sql/run-graph.ts) is keyed by property names and its values are
 * already the properties' values (the driver parses the JSON parts and numbers), except the
 * timestamps, which MikroORM's connection leaves as PostgreSQL's text for the platform to parse.
 */
import { Collection, EntityHelper, helper } from '@mikro-orm/core';
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
 * Registers a graph whose state is the stored state as managed in `em`: one just inserted by a
 * hand-written statement (as a flush would have), or one just built from a read's row (as a load
 * would have). In the identity map, snapshots taken, collections clean.
 */
export function registerManaged(em: EntityManager, run: RunObject): void {
  const uow = em.getUnitOfWork();
  const comparator = em.getComparator();
  for (const entity of graphOf(run)) uow.register(entity, comparator.prepareEntity(entity) as never);
  run.requiredAction?.toolCalls.takeSnapshot();
  run.tools.takeSnapshot();
  run.fileIds.takeSnapshot();
}

/** Re-takes the snapshots of a graph just hydrated from a row, in the comparator's own form. */
export function markLoaded(em: EntityManager, run: RunObject): void {
  const comparator = em.getComparator();
  for (const entity of graphOf(run)) {
    const wrapped = helper(entity);
    wrapped.__originalEntityData = comparator.prepareEntity(entity) as never;
    wrapped.__touched = false;
  }
}

type Row = Record<string, unknown>;

/** The run's `timestamptz` properties. */
const DATE_PROPERTIES = ['createdAt', 'expiresAt', 'startedAt', 'cancelledAt', 'failedAt', 'completedAt', 'leaseExpiresAt'] as const satisfies readonly (keyof RunObject)[];
type PartRow = Record<string, unknown> | null;

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

function partOf<T extends object>(cls: new () => T, row: unknown): T | null {
  return row === null || row === undefined ? null : entityOf(cls, row as Row);
}

/** The `prop` collection of `owner`, loaded with `items` (whose own side already points at `owner`). */
function collectionOf<T extends object>(owner: object, prop: string, items: T[]): Collection<T> {
  const collection = Collection.create<T, object>(owner, prop as never, undefined, true);
  collection.hydrate(items);
  return collection;
}

/**
 * The entity graph of one row of `RUN_GRAPH_COLUMNS`, built directly: the row's keys are the
 * properties' names and its values already the properties' values (the driver parses the JSON
 * parts and numbers), except the timestamps, which MikroORM's connection leaves as PostgreSQL's
 * text for the platform to parse. This is what the ORM's entity factory builds from the same row,
 * without what makes the factory slow on such rows: a recursive create per part, each with
 * identity-map lookups, merge handling and the compiled hydrator's custom-type conversions.
 */
function buildRunGraph(row: Row, platform: Platform): RunObject {
  const { requiredAction, lastError, incompleteDetails, usage, truncationStrategy, toolChoice, responseFormat, tools, fileIds, ...columns } = row;
  for (const key of DATE_PROPERTIES) {
    const value = columns[key];
    if (typeof value === 'string') columns[key] = platform.parseDate(value);
  }
  const run = entityOf(RunObject, columns);
  if (requiredAction) {
    const { toolCalls, ...action } = requiredAction as Row;
    const built = entityOf(RunRequiredAction, action);
    collectionOf(built, 'toolCalls', (toolCalls as Row[]).map((call) => entityOf(RunToolCall, { ...call, requiredAction: built })));
    run.requiredAction = built;
  } else {
    run.requiredAction = null;
  }
  run.lastError = partOf(RunLastError, lastError);
  run.incompleteDetails = partOf(RunIncompleteDetails, incompleteDetails);
  run.usage = partOf(RunUsage, usage);
  run.truncationStrategy = partOf(RunTruncationStrategy, truncationStrategy);
  run.toolChoice = partOf(RunToolChoice, toolChoice);
  run.responseFormat = partOf(RunResponseFormat, responseFormat);
  collectionOf(run, 'tools', (tools as Row[]).map((tool) => entityOf(RunTool, { ...tool, run })));
  collectionOf(run, 'fileIds', (fileIds as Row[]).map((file) => entityOf(RunFileId, { ...file, run })));
  return run;
}

/** Whether the unit of work already holds the row's run or one of its to-one parts. */
function heldByRow(uow: ReturnType<EntityManager['getUnitOfWork']>, row: Row): boolean {
  if (uow.getById(RunObject.name, row.id as string)) return true;
  for (const part of PART_NAMES) {
    const data = row[part] as PartRow;
    if (data && uow.getById(PART_CLASS[part].name, data.id as string)) return true;
  }
  return false;
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

/**
 * Managed entities for rows of `RUN_GRAPH_COLUMNS`, in `em`'s identity map. A run that the unit of
 * work does not hold yet (the common case: a fork per request) is built directly and registered
 * as loaded; one it holds (or whose parts it holds) goes through the entity factory, which
 * refreshes the held entities in place, parts and collections included.
 */
export function hydrateRuns(em: EntityManager, rows: Record<string, unknown>[]): RunObject[] {
  const uow = em.getUnitOfWork();
  const factory = em.getEntityFactory();
  const platform = em.getPlatform();
  return rows.map((row) => {
    if (!heldByRow(uow, row)) {
      const run = buildRunGraph(row, platform);
      registerManaged(em, run);
      return run;
    }
    const run = factory.create(RunObject, row as never, { merge: true, refresh: true, convertCustomTypes: true });
    markLoaded(em, run);
    return run;
  });
}
