/**
 * BatchStore on PostgreSQL (skeleton: to be written).
 */
import type * as T from '../types.js';
import type { PgClient } from './client.js';

export class PgBatchStore implements T.BatchStore {
  constructor(private readonly db: PgClient) {}

  async createBatch(_batch: T.BatchRecord, _maxOpen: number): Promise<void> {
    throw new Error('PgStore.batches.createBatch: not written yet');
  }

  async countOpenBatches(_userId: string, _now: number): Promise<number> {
    throw new Error('PgStore.batches.countOpenBatches: not written yet');
  }

  async getBatch(_tokenHash: string, _now: number): Promise<T.BatchRecord | null> {
    throw new Error('PgStore.batches.getBatch: not written yet');
  }

  async pruneBatches(_now: number): Promise<number> {
    throw new Error('PgStore.batches.pruneBatches: not written yet');
  }
}
