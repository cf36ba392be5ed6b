/**
 * Keeping the unit of work truthful about graphs that the hand-written statements wrote or read:
 * each entity's snapshot (what a flush compares with) is set to its current state, which is the
 * stored state, so a later flush writes only what the caller changes afterwards.
 */
import { helper } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { RunObject } from '../../entities/run-object.entity';

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
