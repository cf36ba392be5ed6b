import { StoreMigration } from '../src/store-migration';

/**
 * The trigger function that deletes a run's parts (Migration20261121215455) names their tables
 * unqualified, and PL/pgSQL looks them up on the search path of the session that fires it. With the
 * store's tables in a schema (MikroORM's `schema` option) that session is the service's, whose
 * search path need not include it: the function now keeps the search path it was migrated with
 * (`from current`: the store's schema, or the database's usual path without one), so it finds the
 * tables the migrations created wherever the caller's search path points. The status guard
 * (`run_object_check_status`) names no table.
 */
export class Migration20261201123000 extends StoreMigration {

  override async up(): Promise<void> {
    this.addSql(`alter function "run_object_remove_parts"() set search_path from current;`);
    this.addSql(`alter function "run_object_record_status"() set search_path from current;`);
    this.addSql(`alter function "run_object_tool_outputs"(text, int) set search_path from current;`);
  }

  override async down(): Promise<void> {
    this.addSql(`alter function "run_object_remove_parts"() reset search_path;`);
    this.addSql(`alter function "run_object_record_status"() reset search_path;`);
    this.addSql(`alter function "run_object_tool_outputs"(text, int) reset search_path;`);
  }

}
