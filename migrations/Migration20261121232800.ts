import { StoreMigration } from '../src/store-migration';

/** A BRIN index instead of the B-tree on created_at: the B-tree lured PostgreSQL 18 into list plans that scan it and filter. */
export class Migration20261121232800 extends StoreMigration {

  override async up(): Promise<void> {
    this.addSql(`drop index "run_object_created_idx";`);

    this.addSql(`create index "run_object_created_brin" on "run_object" using brin ("created_at");`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop index "run_object_created_brin";`);

    this.addSql(`create index "run_object_created_idx" on "run_object" ("created_at");`);
  }

}
