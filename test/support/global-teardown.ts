import { dropDatabase } from '../../src/dev/databases';

export default async function globalTeardown(): Promise<void> {
  const state = globalThis.__ARS_TEST_SERVER__;
  if (!state) return;
  try {
    await dropDatabase(state.server.adminUrl, state.template);
  } finally {
    await state.server.stop();
  }
}
