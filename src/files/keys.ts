/**
 * Object keys: `storage/{user_id}/{folder}/{id}_{filename}` (or without the folder), where
 * `id` is 128 random bits in hex. Keys are built only from validated parts, and parsed back
 * with the same rules, so a key from the wire can never name anything else.
 */
import { randomBytes } from 'node:crypto';
import { isValidUserId } from '../auth/user-id.js';
import { InvalidInput } from '../errors/index.js';
import { folderProblem, nameProblem } from './names.js';

export interface KeyParts {
  userId: string;
  folder: string; // '' when none
  id: string;
  filename: string;
}

const ID = /^([0-9a-f]{32})_(.+)$/s;

export const newFileId = (): string => randomBytes(16).toString('hex');

export function buildKey(parts: KeyParts): string {
  return ['storage', parts.userId, ...(parts.folder ? [parts.folder] : []), `${parts.id}_${parts.filename}`].join('/');
}

/** Parses and validates a key; throws 400 `invalid_key` naming what is wrong. */
export function parseKey(key: string): KeyParts {
  const segments = key.split('/');
  const fail = (why: string): never => {
    throw new InvalidInput('invalid_key', `Invalid key: ${why}`);
  };
  if (segments.length < 3 || segments[0] !== 'storage') fail('must start with storage/{user_id}/');
  const userId = segments[1]!;
  if (!isValidUserId(userId)) fail('bad user_id');
  const last = segments[segments.length - 1]!;
  const match = ID.exec(last);
  if (!match) fail('the last segment must be {id}_{filename}');
  const filename = match![2]!;
  const nameIssue = nameProblem(filename);
  if (nameIssue) fail(`filename ${nameIssue}`);
  const folder = segments.slice(2, -1).join('/');
  if (folder) {
    const folderIssue = folderProblem(folder);
    if (folderIssue) fail(`folder ${folderIssue}`);
  }
  return { userId, folder, id: match![1]!, filename };
}

/** The key's path with each segment percent-encoded, for URLs. */
export function encodeKeyPath(key: string): string {
  return key.split('/').map(encodeURIComponent).join('/');
}
