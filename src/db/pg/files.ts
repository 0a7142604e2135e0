/**
 * FileStore on PostgreSQL (skeleton: to be written).
 */
import type * as T from '../types.js';
import type { PgClient } from './client.js';

export class PgFileStore implements T.FileStore {
  constructor(private readonly db: PgClient) {}

  async getFile(_key: string): Promise<T.FileRecord | null> {
    throw new Error('PgStore.files.getFile: not written yet');
  }

  async getFileById(_id: string): Promise<T.FileRecord | null> {
    throw new Error('PgStore.files.getFileById: not written yet');
  }

  async findFilesByIds(_ids: string[]): Promise<T.FileRecord[]> {
    throw new Error('PgStore.files.findFilesByIds: not written yet');
  }

  async longKeys(_minBytes: number, _after: string | null, _limit: number): Promise<string[]> {
    throw new Error('PgStore.files.longKeys: not written yet');
  }

  async listFiles(_userId: string, _query: T.ListQuery): Promise<T.ListPage> {
    throw new Error('PgStore.files.listFiles: not written yet');
  }

  async insertFile(_file: T.FileRecord, _quota: T.QuotaCheck): Promise<void> {
    throw new Error('PgStore.files.insertFile: not written yet');
  }

  async deleteFile(_key: string): Promise<T.FileRecord | null> {
    throw new Error('PgStore.files.deleteFile: not written yet');
  }

  async usage(_userId: string): Promise<T.Usage> {
    throw new Error('PgStore.files.usage: not written yet');
  }
}
