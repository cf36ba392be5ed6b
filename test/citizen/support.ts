/**
 * The store as a service uses it: inside the service's own MikroORM setup, next to an entity of
 * the service's own (`Note`, table `citizen_note`), through the public surface.
 */
import { EntitySchema, type MikroORM } from '@mikro-orm/postgresql';
import { runStoreEntities } from '../../src';
import type { TestDatabase } from '../support/test-database';

/** The service's own entity. */
export interface Note {
  id: number;
  body: string;
}

export const NoteEntity = new EntitySchema<Note>({
  name: 'CitizenNote',
  tableName: 'citizen_note',
  properties: { id: { type: 'number', primary: true }, body: { type: 'string' } },
});

/** How long a call may wait for a pooled connection in a pool of one before it fails (a second connection would hang there). */
export const POOL_OF_ONE_ACQUIRE_MS = 1_500;

/**
 * The service's ORM: the store's entities plus `Note` (its table created here, holding note 1 with
 * body `'original'`). `poolOfOne`: a pool of one connection that fails a call after
 * `POOL_OF_ONE_ACQUIRE_MS` without one, and no retries (a wait for a second connection fails fast).
 */
export async function serviceOrm(db: TestDatabase, { poolOfOne = false }: { poolOfOne?: boolean } = {}): Promise<MikroORM> {
  await db.sql(`create table if not exists citizen_note (id int primary key, body text not null)`);
  await db.sql(`insert into citizen_note (id, body) values (1, 'original') on conflict (id) do update set body = 'original'`);
  return db.createOrm(
    // its own context name: the test's other ORM (`db.runs()`) must not resolve to this one's transactions
    { entities: [...runStoreEntities, NoteEntity], contextName: 'citizen_service', ...(poolOfOne ? { pool: { min: 0, max: 1 } } : {}) },
    poolOfOne ? { acquireTimeoutMs: POOL_OF_ONE_ACQUIRE_MS, retries: 0 } : {},
  );
}

/** Note 1's body as committed (read on a connection of its own). */
export async function committedNote(db: TestDatabase): Promise<string> {
  const [row] = await db.sql<{ body: string }>(`select body from citizen_note where id = 1`);
  return row.body;
}
