/**
 * LeaseStore on PostgreSQL (skeleton: to be written).
 */
import type * as T from '../types.js';
import type { PgClient } from './client.js';

export class PgLeaseStore implements T.LeaseStore {
  constructor(private readonly db: PgClient) {}

  async tryAcquire(_name: string, _holder: string, _ttlMs: number, _now: number): Promise<boolean> {
    throw new Error('PgStore.leases.tryAcquire: not written yet');
  }

  async release(_name: string, _holder: string): Promise<void> {
    throw new Error('PgStore.leases.release: not written yet');
  }

  async holder(_name: string, _now: number): Promise<string | null> {
    throw new Error('PgStore.leases.holder: not written yet');
  }
}
