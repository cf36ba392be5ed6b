/**
 * A run's history: every status change (written by the `run_object_record_status` trigger, so by the
 * same statement as the change, whatever path made it) and the tool outputs submitted to it (written
 * by `submitToolOutputs`' statement), both kept until the run is deleted (foreign keys on delete
 * cascade). Neither is part of the run's entity graph: `runs.history(id)` reads them.
 */
import { randomUUID } from 'node:crypto';
import { Entity, Enum, Index, ManyToOne, PrimaryKey, Property, Unique, type Rel } from '@mikro-orm/core';
import { RUN_HISTORY_ACTORS, RUN_STATUSES, type RunHistoryActor, type RunStatus } from '../api/types';
import type { RunObject } from './run-object.entity';

/** One status change of a run: from (null: the run was created), to, when (database clock), by whom, at which attempt. */
@Entity({ tableName: 'run_status_change' })
@Index({ name: 'run_status_change_run_idx', properties: ['run', 'id'] })
export class RunStatusChange {
  /** Increasing in the order the run's changes committed (each change holds the run's row lock). */
  @PrimaryKey({ type: 'bigint', autoincrement: true })
  id!: string;

  @ManyToOne({ entity: 'RunObject', fieldName: 'run_id', deleteRule: 'cascade', index: false })
  run!: Rel<RunObject>;

  @Enum({ items: () => RUN_STATUSES as unknown as string[], type: 'text', nullable: true })
  fromStatus: RunStatus | null = null;

  @Enum({ items: () => RUN_STATUSES as unknown as string[], type: 'text' })
  toStatus!: RunStatus;

  @Property({ type: 'datetime', columnType: 'timestamptz(3)' })
  changedAt!: Date;

  /** Who made the change (see `RunHistoryEntry.actor`). */
  @Enum({ items: () => RUN_HISTORY_ACTORS as unknown as string[], type: 'text' })
  actor!: RunHistoryActor;

  /** The worker that made the change (its lease's owner), for actor `worker`; else `null`. */
  @Property({ type: 'text', nullable: true })
  worker: string | null = null;

  /** The run's attempt after the change (the claim's fencing token). */
  @Property({ type: 'integer' })
  attempt!: number;

  /** Leaving `requires_action`: the required action this change answered (its tool outputs carry the same id). */
  @Property({ type: 'uuid', nullable: true })
  requiredActionId: string | null = null;
}

/** One tool call of a run with the output `submitToolOutputs` gave it (the API's `step_details.tool_calls[]`). */
@Entity({ tableName: 'run_tool_output' })
@Unique({ name: 'run_tool_output_action_position_key', properties: ['run', 'requiredActionId', 'position'] })
@Index({ name: 'run_tool_output_run_attempt_idx', properties: ['run', 'attempt'] })
export class RunToolOutput {
  @PrimaryKey({ type: 'uuid' })
  id: string = randomUUID();

  @ManyToOne({ entity: 'RunObject', fieldName: 'run_id', deleteRule: 'cascade', index: false })
  run!: Rel<RunObject>;

  /** The required action the outputs answered (its row is gone once the run left `requires_action`). */
  @Property({ type: 'uuid' })
  requiredActionId!: string;

  /** The run's attempt when the outputs were submitted: the claim after it is attempt + 1. */
  @Property({ type: 'integer' })
  attempt!: number;

  /** The tool call's place in the required action (API order). */
  @Property({ type: 'integer' })
  position!: number;

  @Property({ type: 'text' })
  callId!: string;

  @Property({ type: 'text' })
  functionName!: string;

  @Property({ type: 'text' })
  functionArguments!: string;

  @Property({ type: 'text' })
  output!: string;

  @Property({ type: 'datetime', columnType: 'timestamptz(3)' })
  submittedAt!: Date;
}
