/**
 * The events a change reports, built before the store call that makes the change and written
 * by it in the same transaction (the outbox, src/db/outbox-types.ts). The body is fixed here,
 * once: `{"type","id","created_at","data":{…the record…}}`, the record in its public wire
 * shape (a file as GET /v1/files lists it, a user as the admin API shows it — never a hash).
 * With no WEBHOOK_URLS every method returns undefined and nothing is written.
 */
import { randomBytes } from 'node:crypto';
import { publicUser } from '../auth/users.js';
import type { FileRecord, OutboxEvent, UploadRecord, UserRecord } from '../db/types.js';
import { publicRecord } from '../files/records.js';
import { systemClock, type Clock } from '../util/clock.js';

export const EVENT_TYPES = ['file.created', 'file.deleted', 'file.moved', 'upload.expired', 'user.created', 'user.disabled'] as const;
export type EventType = (typeof EVENT_TYPES)[number];

export interface EventOptions {
  urls: string[];
  publicBaseUrl: string;
  clock?: Clock;
}

export class EventFactory {
  private readonly clock: Clock;

  constructor(private readonly opts: EventOptions) {
    this.clock = opts.clock ?? systemClock;
  }

  /** False without WEBHOOK_URLS: no event is built or written. */
  get enabled(): boolean {
    return this.opts.urls.length > 0;
  }

  fileCreated(file: FileRecord): OutboxEvent | undefined {
    return this.make('file.created', file.userId, () => publicRecord(file, this.opts.publicBaseUrl));
  }

  fileDeleted(file: FileRecord): OutboxEvent | undefined {
    return this.make('file.deleted', file.userId, () => publicRecord(file, this.opts.publicBaseUrl));
  }

  /**
   * The hook for moves (POST /v1/files/move): the file under its new key, with the key it had.
   * A move service passes this to the store write that switches the record.
   */
  fileMoved(from: FileRecord, to: FileRecord): OutboxEvent | undefined {
    return this.make('file.moved', to.userId, () => ({ ...publicRecord(to, this.opts.publicBaseUrl), previous_key: from.key, previous_folder: from.folder === '' ? null : from.folder }));
  }

  uploadExpired(upload: UploadRecord): OutboxEvent | undefined {
    return this.make('upload.expired', upload.userId, () => ({
      upload_id: upload.id,
      user_id: upload.userId,
      mode: upload.mode,
      filename: upload.filename,
      folder: upload.folder === '' ? null : upload.folder,
      size: upload.size,
      mime: upload.mime,
      created_at: new Date(upload.createdAt).toISOString(),
      last_activity_at: new Date(upload.updatedAt).toISOString(),
    }));
  }

  userCreated(user: UserRecord): OutboxEvent | undefined {
    return this.make('user.created', user.id, () => publicUser(user));
  }

  /** `deleted`: the account was deleted (DELETE), not only disabled (PATCH is_active=false). */
  userDisabled(user: UserRecord, deleted = false): OutboxEvent | undefined {
    return this.make('user.disabled', user.id, () => ({ ...publicUser({ ...user, isActive: false }), deleted }));
  }

  private make(type: EventType, userId: string, data: () => unknown): OutboxEvent | undefined {
    if (!this.enabled) return undefined;
    const createdAt = this.clock.now();
    const id = `msg_${randomBytes(16).toString('hex')}`;
    const payload = JSON.stringify({ type, id, created_at: new Date(createdAt).toISOString(), data: data() });
    return { id, type, userId, createdAt, payload, urls: this.opts.urls };
  }
}

/** The factory of a server with no webhooks (the default in services built without one). */
export const noEvents = new EventFactory({ urls: [], publicBaseUrl: '' });
