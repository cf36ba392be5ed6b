import { DefaultLogger, type LogContext } from '@mikro-orm/core';
import type { MikroORM } from '@mikro-orm/postgresql';
import type { TestDatabase } from './test-database';

/** The SQL of every statement an ORM runs (exactly as sent: parameters inlined), in order. */
export async function recordingOrm(db: TestDatabase): Promise<{ orm: MikroORM; statements: string[] }> {
  const statements: string[] = [];
  const orm = await db.createOrm({
    debug: ['query', 'query-params'],
    loggerFactory: (options) =>
      new (class extends DefaultLogger {
        override logQuery(context: LogContext): void {
          statements.push(context.query ?? '');
        }
      })(options),
  });
  return { orm, statements };
}
