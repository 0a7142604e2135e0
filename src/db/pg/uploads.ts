/**
 * UploadStore on PostgreSQL (skeleton: to be written).
 */
import type * as T from '../types.js';
import type { PgClient } from './client.js';

export class PgUploadStore implements T.UploadStore {
  constructor(private readonly db: PgClient) {}

  async createUploads(_uploads: T.UploadRecord[], _quota: T.QuotaCheck): Promise<void> {
    throw new Error('PgStore.uploads.createUploads: not written yet');
  }

  async getUpload(_id: string): Promise<T.UploadRecord | null> {
    throw new Error('PgStore.uploads.getUpload: not written yet');
  }

  async putPart(_uploadId: string, _part: T.PartRecord, _now: number): Promise<T.PutPartOutcome> {
    throw new Error('PgStore.uploads.putPart: not written yet');
  }

  async listParts(_uploadId: string): Promise<T.PartRecord[]> {
    throw new Error('PgStore.uploads.listParts: not written yet');
  }

  async beginAssembly(_uploadId: string, _fileKey: string, _now: number, _leaseUntil: number): Promise<boolean> {
    throw new Error('PgStore.uploads.beginAssembly: not written yet');
  }

  async renewAssembly(_uploadId: string, _fileKey: string, _leaseUntil: number): Promise<boolean> {
    throw new Error('PgStore.uploads.renewAssembly: not written yet');
  }

  async abortAssembly(_uploadId: string, _fileKey: string, _now: number): Promise<boolean> {
    throw new Error('PgStore.uploads.abortAssembly: not written yet');
  }

  async reclaimAssembly(_uploadId: string, _fileKey: string, _now: number): Promise<boolean> {
    throw new Error('PgStore.uploads.reclaimAssembly: not written yet');
  }

  async expiredAssemblies(_now: number, _limit: number, _afterId?: string): Promise<T.UploadRecord[]> {
    throw new Error('PgStore.uploads.expiredAssemblies: not written yet');
  }

  async finishAssembly(_uploadId: string, _file: T.FileRecord): Promise<boolean> {
    throw new Error('PgStore.uploads.finishAssembly: not written yet');
  }

  async deleteUpload(_id: string, _when?: { states?: T.UploadState[]; idleBefore?: number }): Promise<T.DeleteUploadOutcome> {
    throw new Error('PgStore.uploads.deleteUpload: not written yet');
  }

  async staleUploads(_before: number, _limit: number, _after?: { updatedAt: number; id: string }): Promise<T.UploadRecord[]> {
    throw new Error('PgStore.uploads.staleUploads: not written yet');
  }

  async countUploads(_state: T.UploadState): Promise<number> {
    throw new Error('PgStore.uploads.countUploads: not written yet');
  }

  async knownUploadIds(_ids: string[]): Promise<Set<string>> {
    throw new Error('PgStore.uploads.knownUploadIds: not written yet');
  }
}
