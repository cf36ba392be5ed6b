/**
 * The statements of the wake-ups (repositories/wakeups.ts): `LISTEN` on the listening connection,
 * and the read a status waiter re-checks its run with.
 */
import type { Statement } from './statement';

/** An identifier in double quotes (a channel name is one). Only ever the package's own constants. */
const quoted = (name: string): string => `"${name.replace(/"/g, '""')}"`;

/** `listen "<channel>"` for each channel, as one simple-protocol text (no parameters: LISTEN takes none). */
export function listenStatement(channels: readonly string[]): Statement {
  return { sql: channels.map((c) => `listen ${quoted(c)}`).join('; '), params: [] };
}

/** The run's status, or no row: what a status waiter re-checks before reading the whole run. */
export function runStatusStatement(id: string): Statement {
  return { sql: `select status from "run_object" where id = ?`, params: [id] };
}
