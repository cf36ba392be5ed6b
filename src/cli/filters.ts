/** The filter flags shared by `stats` and `export`: --thread, --assistant, --status, --since, --until. */
import { RUN_STATUSES, type RunStatus } from '../api/types';
import { CliError, EXIT_USAGE } from './errors';

export const filterOptions = {
  thread: { type: 'string' },
  assistant: { type: 'string' },
  since: { type: 'string' },
  until: { type: 'string' },
} as const;

export interface RunFilter {
  threadId?: string;
  assistantId?: string;
  statuses?: RunStatus[];
  /** Unix seconds, inclusive. */
  since?: number;
  /** Unix seconds, exclusive. */
  until?: number;
}

/** Unix seconds from `1716000000` or an ISO date (`2024-05-18`, `2024-05-18T10:00:00Z`). */
export function parseTime(flag: string, value: string): number {
  if (/^\d+$/.test(value)) return Number(value);
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw new CliError(`--${flag}: expected unix seconds or an ISO date (2024-05-18T10:00:00Z), got '${value}'`, EXIT_USAGE);
  return Math.floor(ms / 1000);
}

/** `queued,in_progress` → the statuses, each checked. */
export function parseStatuses(value: string): RunStatus[] {
  const statuses = value.split(',').map((s) => s.trim()).filter(Boolean);
  for (const s of statuses) {
    if (!(RUN_STATUSES as readonly string[]).includes(s)) {
      throw new CliError(`--status: unknown status '${s}' (one of: ${RUN_STATUSES.join(', ')})`, EXIT_USAGE);
    }
  }
  return statuses as RunStatus[];
}

export function filterFromFlags(values: { thread?: string; assistant?: string; status?: string; since?: string; until?: string }): RunFilter {
  return {
    threadId: values.thread,
    assistantId: values.assistant,
    statuses: values.status === undefined ? undefined : parseStatuses(values.status),
    since: values.since === undefined ? undefined : parseTime('since', values.since),
    until: values.until === undefined ? undefined : parseTime('until', values.until),
  };
}
