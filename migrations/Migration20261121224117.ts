import { StoreMigration } from '../src/store-migration';

/** Indexes for an assistant's runs filtered by status, and for usage totals over a created-at window. */
export class Migration20261121224117 extends StoreMigration {

  override async up(): Promise<void> {
    this.addSql(`create index "run_object_created_idx" on "run_object" ("created_at");`);
    this.addSql(`create index "run_object_assistant_status_created_idx" on "run_object" ("assistant_id", "status", "created_at", "id");`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop index "run_object_created_idx";`);
    this.addSql(`drop index "run_object_assistant_status_created_idx";`);
  }

}
