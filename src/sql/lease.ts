/**
 * Workers' leases (pure builders, no I/O): the heartbeat that extends a lease for its holder, and
 * the lease condition that a worker's transition carries (`transitionStatement`'s `lease`).
 * Lease times are on the database clock, `clock_timestamp()`, so workers' clocks do not matter.
 */
import type { LeaseToken } from '../api/types';
import { Params, type Statement } from './statement';
import { BARE } from './tables';

/** The lease's new expiry: `leaseSeconds` (a parameter, bound after the text's earlier ones) from now. */
export const LEASE_EXPIRY = 'clock_timestamp() + make_interval(secs => ?::double precision)';

/** The statuses in which a run is held by a worker (a lease means something only in them). */
export const HELD_STATUSES = `'in_progress', 'cancelling'`;

/** Whether the row's lease is the token's: a column expression, its two parameters added to `p`. */
export function leaseHeld(p: Params, lease: LeaseToken): string {
  return `coalesce(lease_owner = ${p.add(lease.worker)} and attempt = ${p.add(lease.attempt)}, false)`;
}

/**
 * `heartbeat`: ONE conditional update that moves the lease's expiry to `leaseSeconds` from now,
 * only if the token still holds the run (same owner, same attempt) and the run is held by a worker
 * (`in_progress` or `cancelling`). The row is locked first (`for update`, which waits for a racing
 * recovery or claim and then reads the newest row version), so the result row tells why nothing
 * moved: `[{ fromStatus, held, leaseExpiresAt }]` (`leaseExpiresAt` null when not extended), or no
 * row when the run does not exist.
 */
export function heartbeatStatement(runId: string, lease: LeaseToken & { leaseSeconds: number }): Statement {
  const p = new Params();
  const held = leaseHeld(p, lease);
  const sql =
    `with cur as materialized (select id, status, ${held} as held from ${BARE.run_object} where id = ${p.add(runId)} for update)` +
    `, upd as (update ${BARE.run_object} r set lease_expires_at = ${LEASE_EXPIRY.replace('?', p.add(lease.leaseSeconds))} from cur ` +
    `where r.id = cur.id and cur.held and cur.status in (${HELD_STATUSES}) returning r.lease_expires_at)` +
    ` select cur.status as "fromStatus", cur.held, upd.lease_expires_at as "leaseExpiresAt" from cur left join upd on true`;
  return { sql, params: p.values };
}
