/**
 * The run's owned sub-objects, each in its own table, referenced from `run_object` by a foreign
 * key (as the seed table mapping draws them). Ids are generated in the process so that one flush
 * can batch every table's inserts. Rows are owned: a database trigger (see the migrations)
 * removes them when their run is deleted or when the run points at a replacement.
 */
import { randomUUID } from 'node:crypto';
import { Check, Collection, Entity, Enum, ManyToOne, OneToMany, PrimaryKey, Property, Unique, type Rel } from '@mikro-orm/core';
import { JsonTextType } from './json-text.type';

@Entity({ tableName: 'run_required_action' })
export class RunRequiredAction {
  @PrimaryKey({ type: 'uuid' })
  id: string = randomUUID();

  @Enum({ items: ['submit_tool_outputs'], type: 'text' })
  type: 'submit_tool_outputs' = 'submit_tool_outputs';

  @OneToMany({ entity: () => RunToolCall, mappedBy: 'requiredAction', orderBy: { position: 'asc' }, orphanRemoval: true, strategy: 'select-in' })
  toolCalls = new Collection<RunToolCall>(this);
}

/** One pending tool call of a `requires_action` run, in API order (`position`). */
@Entity({ tableName: 'run_tool_call' })
@Unique({ name: 'run_tool_call_action_position_key', properties: ['requiredAction', 'position'] })
export class RunToolCall {
  @PrimaryKey({ type: 'uuid' })
  id: string = randomUUID();

  @ManyToOne({ entity: () => RunRequiredAction, fieldName: 'required_action_id', deleteRule: 'cascade', index: false })
  requiredAction!: Rel<RunRequiredAction>;

  @Property({ type: 'integer' })
  position!: number;

  /** The API's tool call id (`call_…`). */
  @Property({ type: 'text' })
  callId!: string;

  @Enum({ items: ['function'], type: 'text' })
  type: 'function' = 'function';

  @Property({ type: 'text' })
  functionName!: string;

  @Property({ type: 'text' })
  functionArguments!: string;
}

@Entity({ tableName: 'run_last_error' })
export class RunLastError {
  @PrimaryKey({ type: 'uuid' })
  id: string = randomUUID();

  @Enum({ items: ['server_error', 'rate_limit_exceeded', 'invalid_prompt'], type: 'text' })
  code!: 'server_error' | 'rate_limit_exceeded' | 'invalid_prompt';

  @Property({ type: 'text' })
  message!: string;
}

@Entity({ tableName: 'run_incomplete_details' })
export class RunIncompleteDetails {
  @PrimaryKey({ type: 'uuid' })
  id: string = randomUUID();

  /** `null` stands for an `incomplete_details` object without a `reason` key (`{}`). */
  @Enum({ items: ['max_completion_tokens', 'max_prompt_tokens'], type: 'text', nullable: true })
  reason: 'max_completion_tokens' | 'max_prompt_tokens' | null = null;
}

@Entity({ tableName: 'run_usage' })
@Check({ name: 'run_usage_tokens_check', expression: 'prompt_tokens >= 0 and completion_tokens >= 0 and total_tokens >= 0' })
export class RunUsage {
  @PrimaryKey({ type: 'uuid' })
  id: string = randomUUID();

  @Property({ type: 'integer' })
  promptTokens!: number;

  @Property({ type: 'integer' })
  completionTokens!: number;

  @Property({ type: 'integer' })
  totalTokens!: number;
}

@Entity({ tableName: 'run_truncation_strategy' })
@Check({ name: 'run_truncation_strategy_last_messages_check', expression: 'last_messages is null or last_messages >= 1' })
export class RunTruncationStrategy {
  @PrimaryKey({ type: 'uuid' })
  id: string = randomUUID();

  @Enum({ items: ['auto', 'last_messages'], type: 'text' })
  type!: 'auto' | 'last_messages';

  @Property({ type: 'integer', nullable: true })
  lastMessages: number | null = null;

  /** Whether the object had a `last_messages` key at all (`{type}` and `{type, last_messages: null}` both round-trip). */
  @Property({ type: 'boolean' })
  hasLastMessages: boolean = false;
}

/**
 * `tool_choice`: either a mode string (`none`/`auto`/`required`) or a named tool
 * (`{ type, function?: { name } }`); exactly one of `mode` and `type` is set.
 */
@Entity({ tableName: 'run_tool_choice' })
@Check({ name: 'run_tool_choice_form_check', expression: '(mode is null) <> (type is null) and (function_name is null or type is not null)' })
export class RunToolChoice {
  @PrimaryKey({ type: 'uuid' })
  id: string = randomUUID();

  @Enum({ items: ['none', 'auto', 'required'], type: 'text', nullable: true })
  mode: 'none' | 'auto' | 'required' | null = null;

  @Enum({ items: ['function', 'code_interpreter', 'file_search'], type: 'text', nullable: true })
  type: 'function' | 'code_interpreter' | 'file_search' | null = null;

  @Property({ type: 'text', nullable: true })
  functionName: string | null = null;
}

/** `response_format`: `auto` (the API's bare string) or an object of the given `type`; `json_schema` kept whole as `json` (key order kept). */
@Entity({ tableName: 'run_response_format' })
@Check({ name: 'run_response_format_json_schema_check', expression: "(type = 'json_schema') = (json_schema is not null)" })
export class RunResponseFormat {
  @PrimaryKey({ type: 'uuid' })
  id: string = randomUUID();

  @Enum({ items: ['auto', 'text', 'json_object', 'json_schema'], type: 'text' })
  type!: 'auto' | 'text' | 'json_object' | 'json_schema';

  @Property({ type: JsonTextType, nullable: true })
  jsonSchema: Record<string, unknown> | null = null;
}
