/** The run's ordered one-to-many collections: `tools` and the v1 `file_ids`. */
import { randomUUID } from 'node:crypto';
import { Check, Entity, Enum, ManyToOne, PrimaryKey, Property, Unique, type Rel } from '@mikro-orm/core';
import { JsonTextType } from './json-text.type';
import type { RunObject } from './run-object.entity';

/**
 * One tool of a run, in API order. The open-ended parts (`function`, `file_search`) are kept whole
 * as `json` (text, key order kept) so that every key, including a function's `parameters`, comes
 * back as given, in the order given.
 */
@Entity({ tableName: 'run_tool' })
@Unique({ name: 'run_tool_run_position_key', properties: ['run', 'position'] })
@Check({ name: 'run_tool_function_check', expression: "(type = 'function') = (function is not null) and (file_search is null or type = 'file_search')" })
export class RunTool {
  @PrimaryKey({ type: 'uuid' })
  id: string = randomUUID();

  @ManyToOne({ entity: 'RunObject', fieldName: 'run_id', deleteRule: 'cascade', index: false })
  run!: Rel<RunObject>;

  @Property({ type: 'integer' })
  position!: number;

  @Enum({ items: ['code_interpreter', 'file_search', 'function', 'retrieval'], type: 'text' })
  type!: 'code_interpreter' | 'file_search' | 'function' | 'retrieval';

  @Property({ type: JsonTextType, nullable: true })
  function: Record<string, unknown> | null = null;

  @Property({ type: JsonTextType, nullable: true })
  fileSearch: Record<string, unknown> | null = null;
}

/** One file id of a v1 run, in API order. */
@Entity({ tableName: 'run_file_id' })
@Unique({ name: 'run_file_id_run_position_key', properties: ['run', 'position'] })
export class RunFileId {
  @PrimaryKey({ type: 'uuid' })
  id: string = randomUUID();

  @ManyToOne({ entity: 'RunObject', fieldName: 'run_id', deleteRule: 'cascade', index: false })
  run!: Rel<RunObject>;

  @Property({ type: 'integer' })
  position!: number;

  @Property({ type: 'text' })
  fileId!: string;
}
