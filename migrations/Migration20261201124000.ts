import { StoreMigration } from '../src/store-migration';

/**
 * The tool outputs a claim hands its worker (`run_object_tool_outputs`, Migration20261201121000) are
 * now those the run's work is still waiting on: the outputs submitted while the run was at the
 * attempt in which it last entered `requires_action` (a worker's `requireAction`, an import in that
 * status) — not those of the attempt before the claim. So a run requeued by `recoverLapsed` after its
 * worker died hands them to the next claim again; a worker that asks again starts a new set; a run
 * that never was in `requires_action` has none.
 *
 * Each submit's outputs are ordered (and, in `history(id)`, attached) by the LAST status change out
 * of the required action they answer: a required action left twice (only hand-written SQL does that)
 * no longer makes the old function's scalar sub-select fail with 21000 for every claim of the run.
 *
 * The function takes the run only now (the attempt it took is found by it). Its search path is the
 * one it is migrated with, like the other functions that name tables (Migration20261201123000).
 */
export class Migration20261201124000 extends StoreMigration {

  override async up(): Promise<void> {
    this.addSql(`drop function "run_object_tool_outputs"(text, int);`);
    this.addSql(`create function "run_object_tool_outputs"(p_run text) returns json language plpgsql volatile set search_path from current as $$
declare
  answered int := (select h."attempt" from "run_status_change" h
                   where h."run_id" = p_run and h."to_status" = 'requires_action'
                   order by h."id" desc limit 1);
begin
  return (
    select coalesce(json_agg(json_build_object('id', o."call_id", 'type', 'function', 'function',
             json_build_object('name', o."function_name", 'arguments', o."function_arguments", 'output', o."output"))
           order by s."submit", o."position"), '[]'::json)
    from "run_tool_output" o
    cross join lateral (select max(h."id") as "submit" from "run_status_change" h where h."run_id" = o."run_id" and h."required_action_id" = o."required_action_id") s
    where o."run_id" = p_run and o."attempt" = answered
  );
end;
$$;`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop function "run_object_tool_outputs"(text);`);
    this.addSql(`create function "run_object_tool_outputs"(p_run text, p_attempt int) returns json language plpgsql volatile set search_path from current as $$
begin
  return (
    select coalesce(json_agg(json_build_object('id', o."call_id", 'type', 'function', 'function',
             json_build_object('name', o."function_name", 'arguments', o."function_arguments", 'output', o."output"))
           order by (select h."id" from "run_status_change" h where h."run_id" = o."run_id" and h."required_action_id" = o."required_action_id"), o."position"), '[]'::json)
    from "run_tool_output" o where o."run_id" = p_run and o."attempt" = p_attempt
  );
end;
$$;`);
  }

}
