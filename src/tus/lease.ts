/**
 * One writer per tus upload, across instances: a PATCH (or a termination, or a final
 * concatenation using the upload) holds the upload's lease in the database (LeaseStore: one
 * conditional upsert) while it runs. A second PATCH of the same upload, on this instance or
 * another, fails to take it and answers 409 at once — so two racing PATCHes at one offset
 * give one 204 and one 409, never interleaved bytes. The lease is renewed while the body
 * streams; a holder that cannot renew it (database gone, process stalled past the TTL) is
 * told through its signal and stops before another writer may start. A holder killed with
 * -9 keeps it until the TTL runs out: its upload answers 409 that long (tus clients retry).
 */
import { randomUUID } from 'node:crypto';
import type { LeaseStore } from '../db/types.js';
import { TusProtocolError } from '../errors/index.js';
import type { Clock } from '../util/clock.js';

/** How long a PATCH holds its upload without renewing; renewed every third of it. */
export const TUS_LEASE_MS = 15_000;

export const leaseName = (uploadId: string): string => `tus:${uploadId}`;

export async function withUploadLease<T>(leases: LeaseStore, clock: Clock, uploadIds: string[], fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const holder = randomUUID();
  const taken: string[] = [];
  const lost = new AbortController();
  try {
    for (const id of uploadIds) {
      if (!(await leases.tryAcquire(leaseName(id), holder, TUS_LEASE_MS, clock.now()))) {
        throw new TusProtocolError('offset_mismatch', 'Another request is writing this upload; HEAD it for the current offset and retry');
      }
      taken.push(id);
    }
    const renewal = setInterval(() => {
      void Promise.all(taken.map((id) => leases.tryAcquire(leaseName(id), holder, TUS_LEASE_MS, clock.now())))
        .then((ok) => (ok.every(Boolean) ? undefined : lost.abort(new Error('the upload lease was lost'))))
        .catch((err: unknown) => lost.abort(err));
    }, TUS_LEASE_MS / 3);
    renewal.unref();
    try {
      return await fn(lost.signal);
    } finally {
      clearInterval(renewal);
    }
  } finally {
    await Promise.all(taken.map((id) => leases.release(leaseName(id), holder).catch(() => undefined)));
  }
}
