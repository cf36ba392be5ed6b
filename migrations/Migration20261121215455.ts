import { StoreMigration } from '../src/store-migration';

/** The run and its owned parts, the thread lock, the list and expiry indexes, the owned-parts trigger. */
export class Migration20261121215455 extends StoreMigration {

  override async up(): Promise<void> {
    this.addSql(`create table "run_incomplete_details" ("id" uuid not null, "reason" text check ("reason" in ('max_completion_tokens', 'max_prompt_tokens')) null, constraint "run_incomplete_details_pkey" primary key ("id"));`);

    this.addSql(`create table "run_last_error" ("id" uuid not null, "code" text check ("code" in ('server_error', 'rate_limit_exceeded', 'invalid_prompt')) not null, "message" text not null, constraint "run_last_error_pkey" primary key ("id"));`);

    this.addSql(`create table "run_required_action" ("id" uuid not null, "type" text check ("type" in ('submit_tool_outputs')) not null default 'submit_tool_outputs', constraint "run_required_action_pkey" primary key ("id"));`);

    this.addSql(`create table "run_response_format" ("id" uuid not null, "type" text check ("type" in ('auto', 'text', 'json_object', 'json_schema')) not null, "json_schema" jsonb null, constraint "run_response_format_pkey" primary key ("id"), constraint run_response_format_json_schema_check check ((type = 'json_schema') = (json_schema is not null)));`);

    this.addSql(`create table "run_tool_call" ("id" uuid not null, "required_action_id" uuid not null, "position" int not null, "call_id" text not null, "type" text check ("type" in ('function')) not null default 'function', "function_name" text not null, "function_arguments" text not null, constraint "run_tool_call_pkey" primary key ("id"));`);
    this.addSql(`alter table "run_tool_call" add constraint "run_tool_call_action_position_key" unique ("required_action_id", "position");`);

    this.addSql(`create table "run_tool_choice" ("id" uuid not null, "mode" text check ("mode" in ('none', 'auto', 'required')) null, "type" text check ("type" in ('function', 'code_interpreter', 'file_search')) null, "function_name" text null, constraint "run_tool_choice_pkey" primary key ("id"), constraint run_tool_choice_form_check check ((mode is null) <> (type is null) and (function_name is null or type is not null)));`);

    this.addSql(`create table "run_truncation_strategy" ("id" uuid not null, "type" text check ("type" in ('auto', 'last_messages')) not null, "last_messages" int null, "has_last_messages" boolean not null default false, constraint "run_truncation_strategy_pkey" primary key ("id"), constraint run_truncation_strategy_last_messages_check check (last_messages is null or last_messages >= 1));`);

    this.addSql(`create table "run_usage" ("id" uuid not null, "prompt_tokens" int not null, "completion_tokens" int not null, "total_tokens" int not null, constraint "run_usage_pkey" primary key ("id"), constraint run_usage_tokens_check check (prompt_tokens >= 0 and completion_tokens >= 0 and total_tokens >= 0));`);

    this.addSql(`create table "run_object" ("id" text not null, "object" text check ("object" in ('thread.run')) not null default 'thread.run', "created_at" timestamptz(3) not null, "thread_id" text not null, "assistant_id" text not null, "status" text check ("status" in ('queued', 'in_progress', 'requires_action', 'cancelling', 'cancelled', 'failed', 'completed', 'incomplete', 'expired')) not null, "required_action_id" uuid null, "last_error_id" uuid null, "expires_at" timestamptz(3) null, "started_at" timestamptz(3) null, "cancelled_at" timestamptz(3) null, "failed_at" timestamptz(3) null, "completed_at" timestamptz(3) null, "incomplete_details_id" uuid null, "model" text not null, "instructions" text null, "carries_file_ids" boolean not null default false, "metadata" jsonb null, "usage_id" uuid null, "temperature" double precision null, "top_p" double precision null, "max_prompt_tokens" int null, "max_completion_tokens" int null, "truncation_strategy_id" uuid null, "tool_choice_id" uuid null, "parallel_tool_calls" boolean not null default true, "response_format_id" uuid null, constraint "run_object_pkey" primary key ("id"));`);
    this.addSql(`alter table "run_object" add constraint "run_object_required_action_id_unique" unique ("required_action_id");`);
    this.addSql(`alter table "run_object" add constraint "run_object_last_error_id_unique" unique ("last_error_id");`);
    this.addSql(`alter table "run_object" add constraint "run_object_incomplete_details_id_unique" unique ("incomplete_details_id");`);
    this.addSql(`alter table "run_object" add constraint "run_object_usage_id_unique" unique ("usage_id");`);
    this.addSql(`alter table "run_object" add constraint "run_object_truncation_strategy_id_unique" unique ("truncation_strategy_id");`);
    this.addSql(`alter table "run_object" add constraint "run_object_tool_choice_id_unique" unique ("tool_choice_id");`);
    this.addSql(`alter table "run_object" add constraint "run_object_response_format_id_unique" unique ("response_format_id");`);
    this.addSql(`create index "run_object_active_expires_idx" on "run_object" ("expires_at") where "status" in ('queued', 'in_progress', 'requires_action', 'cancelling');`);
    this.addSql(`create index "run_object_status_created_idx" on "run_object" ("status", "created_at", "id");`);
    this.addSql(`create index "run_object_assistant_created_idx" on "run_object" ("assistant_id", "created_at", "id");`);
    this.addSql(`create index "run_object_thread_created_idx" on "run_object" ("thread_id", "created_at", "id");`);
    this.addSql(`create unique index "run_object_thread_active_key" on "run_object" ("thread_id") where "status" in ('queued', 'in_progress', 'requires_action', 'cancelling');`);

    this.addSql(`create table "run_tool" ("id" uuid not null, "run_id" text not null, "position" int not null, "type" text check ("type" in ('code_interpreter', 'file_search', 'function', 'retrieval')) not null, "function" jsonb null, "file_search" jsonb null, constraint "run_tool_pkey" primary key ("id"), constraint run_tool_function_check check ((type = 'function') = (function is not null) and (file_search is null or type = 'file_search')));`);
    this.addSql(`alter table "run_tool" add constraint "run_tool_run_position_key" unique ("run_id", "position");`);

    this.addSql(`create table "run_file_id" ("id" uuid not null, "run_id" text not null, "position" int not null, "file_id" text not null, constraint "run_file_id_pkey" primary key ("id"));`);
    this.addSql(`alter table "run_file_id" add constraint "run_file_id_run_position_key" unique ("run_id", "position");`);

    this.addSql(`alter table "run_tool_call" add constraint "run_tool_call_required_action_id_foreign" foreign key ("required_action_id") references "run_required_action" ("id") on update cascade on delete cascade;`);

    this.addSql(`alter table "run_object" add constraint "run_object_required_action_id_foreign" foreign key ("required_action_id") references "run_required_action" ("id") on update cascade on delete set null;`);
    this.addSql(`alter table "run_object" add constraint "run_object_last_error_id_foreign" foreign key ("last_error_id") references "run_last_error" ("id") on update cascade on delete set null;`);
    this.addSql(`alter table "run_object" add constraint "run_object_incomplete_details_id_foreign" foreign key ("incomplete_details_id") references "run_incomplete_details" ("id") on update cascade on delete set null;`);
    this.addSql(`alter table "run_object" add constraint "run_object_usage_id_foreign" foreign key ("usage_id") references "run_usage" ("id") on update cascade on delete set null;`);
    this.addSql(`alter table "run_object" add constraint "run_object_truncation_strategy_id_foreign" foreign key ("truncation_strategy_id") references "run_truncation_strategy" ("id") on update cascade on delete set null;`);
    this.addSql(`alter table "run_object" add constraint "run_object_tool_choice_id_foreign" foreign key ("tool_choice_id") references "run_tool_choice" ("id") on update cascade on delete set null;`);
    this.addSql(`alter table "run_object" add constraint "run_object_response_format_id_foreign" foreign key ("response_format_id") references "run_response_format" ("id") on update cascade on delete set null;`);

    this.addSql(`alter table "run_tool" add constraint "run_tool_run_id_foreign" foreign key ("run_id") references "run_object" ("id") on update cascade on delete cascade;`);

    this.addSql(`alter table "run_file_id" add constraint "run_file_id_run_id_foreign" foreign key ("run_id") references "run_object" ("id") on update cascade on delete cascade;`);

    // Owned sub-objects go with their run, whatever deletes or re-points it (the ORM, a native
    // transition, or a hand-written DELETE): no orphan row is ever left behind.
    this.addSql(`create function "run_object_remove_parts"() returns trigger language plpgsql as $$
begin
  if tg_op = 'DELETE' or old."required_action_id" is distinct from new."required_action_id" then
    delete from "run_required_action" where "id" = old."required_action_id";
  end if;
  if tg_op = 'DELETE' or old."last_error_id" is distinct from new."last_error_id" then
    delete from "run_last_error" where "id" = old."last_error_id";
  end if;
  if tg_op = 'DELETE' or old."incomplete_details_id" is distinct from new."incomplete_details_id" then
    delete from "run_incomplete_details" where "id" = old."incomplete_details_id";
  end if;
  if tg_op = 'DELETE' or old."usage_id" is distinct from new."usage_id" then
    delete from "run_usage" where "id" = old."usage_id";
  end if;
  if tg_op = 'DELETE' or old."truncation_strategy_id" is distinct from new."truncation_strategy_id" then
    delete from "run_truncation_strategy" where "id" = old."truncation_strategy_id";
  end if;
  if tg_op = 'DELETE' or old."tool_choice_id" is distinct from new."tool_choice_id" then
    delete from "run_tool_choice" where "id" = old."tool_choice_id";
  end if;
  if tg_op = 'DELETE' or old."response_format_id" is distinct from new."response_format_id" then
    delete from "run_response_format" where "id" = old."response_format_id";
  end if;
  return null;
end
$$;`);
    this.addSql(`create trigger "run_object_remove_parts" after delete or update of "required_action_id", "last_error_id", "incomplete_details_id", "usage_id", "truncation_strategy_id", "tool_choice_id", "response_format_id" on "run_object" for each row execute function "run_object_remove_parts"();`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop trigger if exists "run_object_remove_parts" on "run_object";`);
    this.addSql(`drop function if exists "run_object_remove_parts"();`);
    for (const table of ['run_file_id', 'run_tool', 'run_object', 'run_tool_call', 'run_required_action', 'run_last_error', 'run_incomplete_details', 'run_usage', 'run_truncation_strategy', 'run_tool_choice', 'run_response_format']) {
      this.addSql(`drop table if exists "${table}" cascade;`);
    }
  }

}
