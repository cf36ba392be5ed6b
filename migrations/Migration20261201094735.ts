import { StoreMigration } from '../src/store-migration';

/**
 * The open-ended JSON columns as `json` (kept as text, key order included) instead of `jsonb`
 * (which sorts keys). Rows stored before keep jsonb's sorted order: it was lost when they were
 * written. `down` converts back (and sorts again). No index, default or trigger refers to these
 * columns; their CHECK constraints only test `is null`, which `json` has too.
 */
export class Migration20261201094735 extends StoreMigration {

  override async up(): Promise<void> {
    this.addSql(`alter table "run_response_format" alter column "json_schema" type json using ("json_schema"::json);`);

    this.addSql(`alter table "run_object" alter column "metadata" type json using ("metadata"::json);`);

    this.addSql(`alter table "run_tool" alter column "function" type json using ("function"::json);`);
    this.addSql(`alter table "run_tool" alter column "file_search" type json using ("file_search"::json);`);
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "run_object" alter column "metadata" type jsonb using ("metadata"::jsonb);`);

    this.addSql(`alter table "run_response_format" alter column "json_schema" type jsonb using ("json_schema"::jsonb);`);

    this.addSql(`alter table "run_tool" alter column "function" type jsonb using ("function"::jsonb);`);
    this.addSql(`alter table "run_tool" alter column "file_search" type jsonb using ("file_search"::jsonb);`);
  }

}
