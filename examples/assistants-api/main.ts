/**
 * The reference server with its demo worker, on the database in `DATABASE_URL` (the package's
 * migrations are applied first):
 *
 *   DATABASE_URL=postgresql://user@host:5432/db PORT=8080 npx ts-node examples/assistants-api/main.ts
 *
 * Prints one line when it listens (`listening on http://127.0.0.1:8080/v1`); stops on SIGINT/SIGTERM.
 */
import { MikroORM } from '@mikro-orm/postgresql';
import { runStoreConfig } from '../../src';
import { createAssistantsApiServer } from './server';
import { DemoWorker } from './worker';

async function main(): Promise<void> {
  const clientUrl = process.env.DATABASE_URL;
  if (!clientUrl) {
    console.error('DATABASE_URL is not set: point it at a PostgreSQL database (the runs tables are created there)');
    process.exitCode = 2;
    return;
  }
  const host = process.env.HOST ?? '127.0.0.1';
  const port = Number(process.env.PORT ?? 8080);
  const orm = await MikroORM.init(runStoreConfig({ clientUrl }));
  await orm.getMigrator().up();

  const logError = (error: unknown) => console.error(error);
  const worker = new DemoWorker({ orm, onError: logError });
  const server = createAssistantsApiServer({ orm, onServerError: logError });
  server.listen(port, host, () => {
    const address = server.address();
    console.log(`listening on http://${host}:${typeof address === 'object' && address ? address.port : port}/v1`);
  });
  worker.start();

  const stop = async () => {
    server.close();
    server.closeIdleConnections();
    await worker.stop();
    await orm.close();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

void main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
