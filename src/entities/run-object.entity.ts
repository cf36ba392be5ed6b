import {
  BeforeUpdate,
  Collection,
  Entity,
  EntityRepositoryType,
  Enum,
  Index,
  OneToMany,
  OneToOne,
  OptionalProps,
  PrimaryKey,
  Property,
  Unique,
  type EventArgs,
  type Rel,
} from '@mikro-orm/core';
import { ACTIVE_STATUSES, RUN_STATUSES, type ApiRun, type RunStatus } from '../api/types';
import { toApiRun } from '../api/mapping';
import { InvalidRunTransitionError } from '../errors';
import { isStatusChange } from '../lifecycle/transitions';
import { RunRepository } from '../repositories/run.repository';
import { RunFileId, RunTool } from './collections.entity';
import { JsonTextType } from './json-text.type';
import { quotedSchema, THREAD_ACTIVE_RUN_INDEX } from './schema-names';
import {
  RunIncompleteDetails,
  RunLastError,
  RunRequiredAction,
  RunResponseFormat,
  RunToolChoice,
  RunTruncationStrategy,
  RunUsage,
} from './parts.entity';

const activeList = ACTIVE_STATUSES.map((s) => `'${s}'`).join(', ');

/**
 * The table of an index expression, for MikroORM's schema generator: `"run_object"`, or
 * `"app"."run_object"` with the `schema` option (the migrations name it unqualified and set the
 * search path instead; see src/store-migration.ts).
 */
const inTable = (table: { name: string; schema?: string }): string => {
  const schema = quotedSchema(table.schema);
  return schema === null ? `"${table.name}"` : `${schema}."${table.name}"`;
};

export { THREAD_ACTIVE_RUN_INDEX };

/** Every relation of a run: what an ORM load populates so that `toApiRun` sees the whole object. */
export const RUN_POPULATE = [
  'requiredAction.toolCalls',
  'lastError',
  'incompleteDetails',
  'usage',
  'truncationStrategy',
  'toolChoice',
  'responseFormat',
  'tools',
  'fileIds',
] as const;

const owned = { owner: true, nullable: true, orphanRemoval: true, strategy: 'joined' } as const;

/**
 * A `thread.run`: the aggregate root. Its sub-objects live in their own tables behind foreign
 * keys; `tools` and `fileIds` are ordered collections. `toJSON()` gives the exact API object.
 */
@Entity({ tableName: 'run_object', repository: () => RunRepository })
@Unique({
  name: THREAD_ACTIVE_RUN_INDEX,
  expression: (table) => `create unique index "${THREAD_ACTIVE_RUN_INDEX}" on ${inTable(table)} ("thread_id") where "status" in (${activeList})`,
})
@Index({ name: 'run_object_thread_created_idx', properties: ['threadId', 'createdAt', 'id'] })
@Index({ name: 'run_object_assistant_created_idx', properties: ['assistantId', 'createdAt', 'id'] })
@Index({ name: 'run_object_assistant_status_created_idx', properties: ['assistantId', 'status', 'createdAt', 'id'] })
@Index({ name: 'run_object_status_created_idx', properties: ['status', 'createdAt', 'id'] })
// BRIN, not a B-tree: it serves usage totals over a created-at window (created_at follows the
// insertion order), and it cannot return rows in order, so a list page is never planned on it
// (a B-tree on created_at alone lured PostgreSQL 18 into scanning it and filtering by assistant).
@Index({ name: 'run_object_created_brin', expression: (table) => `create index "run_object_created_brin" on ${inTable(table)} using brin ("created_at")` })
@Index({
  name: 'run_object_active_expires_idx',
  expression: (table) => `create index "run_object_active_expires_idx" on ${inTable(table)} ("expires_at") where "status" in (${activeList})`,
})
@Index({
  name: 'run_object_lease_expires_idx',
  expression: (table) => `create index "run_object_lease_expires_idx" on ${inTable(table)} ("lease_expires_at") where "status" in ('in_progress', 'cancelling') and "lease_expires_at" is not null`,
})
export class RunObject {
  [EntityRepositoryType]?: RunRepository;
  [OptionalProps]?: 'object' | 'parallelToolCalls' | 'carriesFileIds' | 'attempt';

  @PrimaryKey({ type: 'text' })
  id!: string;

  @Enum({ items: ['thread.run'], type: 'text', default: 'thread.run' })
  object: 'thread.run' = 'thread.run';

  /** Kept to the millisecond (the API shows whole seconds) so that pages order runs of one second. */
  @Property({ type: 'datetime', columnType: 'timestamptz(3)' })
  createdAt!: Date;

  @Property({ type: 'text' })
  threadId!: string;

  @Property({ type: 'text' })
  assistantId!: string;

  @Enum({ items: () => RUN_STATUSES as unknown as string[], type: 'text' })
  status!: RunStatus;

  @OneToOne({ entity: () => RunRequiredAction, fieldName: 'required_action_id', ...owned })
  requiredAction: Rel<RunRequiredAction> | null = null;

  @OneToOne({ entity: () => RunLastError, fieldName: 'last_error_id', ...owned })
  lastError: Rel<RunLastError> | null = null;

  @Property({ type: 'datetime', columnType: 'timestamptz(3)', nullable: true })
  expiresAt: Date | null = null;

  @Property({ type: 'datetime', columnType: 'timestamptz(3)', nullable: true })
  startedAt: Date | null = null;

  @Property({ type: 'datetime', columnType: 'timestamptz(3)', nullable: true })
  cancelledAt: Date | null = null;

  @Property({ type: 'datetime', columnType: 'timestamptz(3)', nullable: true })
  failedAt: Date | null = null;

  @Property({ type: 'datetime', columnType: 'timestamptz(3)', nullable: true })
  completedAt: Date | null = null;

  @OneToOne({ entity: () => RunIncompleteDetails, fieldName: 'incomplete_details_id', ...owned })
  incompleteDetails: Rel<RunIncompleteDetails> | null = null;

  @Property({ type: 'text' })
  model!: string;

  @Property({ type: 'text', nullable: true })
  instructions: string | null = null;

  @OneToMany({ entity: () => RunTool, mappedBy: 'run', orderBy: { position: 'asc' }, orphanRemoval: true, strategy: 'select-in' })
  tools = new Collection<RunTool>(this);

  @OneToMany({ entity: () => RunFileId, mappedBy: 'run', orderBy: { position: 'asc' }, orphanRemoval: true, strategy: 'select-in' })
  fileIds = new Collection<RunFileId>(this);

  /** Whether the run carries `file_ids` (the older object); only then does the API object show the key. */
  @Property({ type: 'boolean', default: false })
  carriesFileIds: boolean = false;

  /** `json`, not `jsonb`: the keys come back in the order they were given. */
  @Property({ type: JsonTextType, nullable: true })
  metadata: Record<string, string> | null = null;

  @OneToOne({ entity: () => RunUsage, fieldName: 'usage_id', ...owned })
  usage: Rel<RunUsage> | null = null;

  /** `double precision` gives back the same JS number (0.7 stays 0.7). */
  @Property({ type: 'double', columnType: 'double precision', nullable: true })
  temperature: number | null = null;

  @Property({ type: 'double', columnType: 'double precision', nullable: true })
  topP: number | null = null;

  @Property({ type: 'integer', nullable: true })
  maxPromptTokens: number | null = null;

  @Property({ type: 'integer', nullable: true })
  maxCompletionTokens: number | null = null;

  @OneToOne({ entity: () => RunTruncationStrategy, fieldName: 'truncation_strategy_id', ...owned })
  truncationStrategy: Rel<RunTruncationStrategy> | null = null;

  @OneToOne({ entity: () => RunToolChoice, fieldName: 'tool_choice_id', ...owned })
  toolChoice: Rel<RunToolChoice> | null = null;

  @Property({ type: 'boolean', default: true })
  parallelToolCalls: boolean = true;

  @OneToOne({ entity: () => RunResponseFormat, fieldName: 'response_format_id', ...owned })
  responseFormat: Rel<RunResponseFormat> | null = null;

  // --- the worker's lease (not part of the API object) -----------------------------------------

  /** The worker that claimed the run last (`claimNext({ worker, leaseSeconds })`); `null` when none holds it. */
  @Property({ type: 'text', nullable: true })
  leaseOwner: string | null = null;

  /** Until when the worker's lease lasts (database clock); past it, `recoverLapsed` takes the run back. */
  @Property({ type: 'datetime', columnType: 'timestamptz(3)', nullable: true })
  leaseExpiresAt: Date | null = null;

  /** The number of claims of this run so far: the fencing token of the latest one. */
  @Property({ type: 'integer', default: 0 })
  attempt: number = 0;

  /** The exact API object (`JSON.stringify(run)` and `res.json(run)` give the API shape). */
  toJSON(): ApiRun {
    return toApiRun(this);
  }

  /**
   * A flush may not change the status in a way the lifecycle does not list (the repository's
   * transitions are the way to move a run): `InvalidRunTransitionError`, nothing written. The
   * database refuses it too (the `run_object_check_status` trigger), for paths that skip flushes.
   */
  @BeforeUpdate()
  protected refuseIllegalStatusChange(args: EventArgs<RunObject>): void {
    const from = args.changeSet?.originalEntity?.status as RunStatus | undefined;
    if (from !== undefined && !isStatusChange(from, this.status)) throw new InvalidRunTransitionError(this.id, from, `move to '${this.status}'`);
  }
}
