/**
 * `stream-line-upload-server/client`: the typed TypeScript SDK. Browser-safe (fetch and
 * WebCrypto only), ESM, no side effects at import. Node-only helpers (upload from a path,
 * download to a path) are in `stream-line-upload-server/client/node`.
 */
export { StreamLineClient, type StreamLineClientOptions } from './client.js';
export { AuthApi, type OpenIdConfiguration } from './api-auth.js';
export { AdminApi, type EventsQuery } from './api-admin.js';
export { UploadsApi } from './api-uploads.js';
export { FilesApi, type DownloadOptions, type ListOptions } from './api-files.js';
export type { UploadOptions, UploadStart } from './upload.js';
export type { SignedUploadOptions } from './signed-upload.js';
export { encodeKey } from './upload.js';
export type { UploadProgress } from './progress.js';
export { blobSource, sha256Hex, type ByteSource } from './source.js';
export { StreamLineError, StreamLineNetworkError, isStreamLineError, type ClientErrorCode, type StreamLineErrorInit } from './errors.js';
export { DEFAULT_RETRY, type RetryPolicy } from './retry.js';
export type { CallOptions, QueryValue } from './transport.js';
export type { SessionTokens } from './tokens.js';
export type { ErrorCode } from '../errors/codes.js';
export type {
  AdminUser,
  CookieLoginReply,
  CookieSessionReply,
  CreateUserBody,
  GenerateTokenParams,
  GenerateTokenReply,
  Jwks,
  LoginReply,
  MeReply,
  Role,
  TokenPair,
  UpdateUserBody,
  UserSummary,
} from '../contract/auth.js';
export type { BatchBody, BatchReply, DeleteFileReply, Disposition, FileRecord, ListOrder, ListQuery, ListReply, ListSort, SignedUrlQuery, SignedUrlReply, UsageReply } from '../contract/files.js';
export type { DeleteFolderReply, FolderEntry, FoldersReply, MoveBody, MoveReply } from '../contract/folders.js';
export type { SignedUploadBody, SignedUploadReply } from '../contract/signed-uploads.js';
export type { DeliveryStatus, EventListQuery, EventListReply, WebhookDelivery } from '../contract/events.js';
export type { AbortReply, CompleteBody, InitBody, InitReply, InitUpload, OneRequestReply, PartReply, UploadedPart, UploadMode, UploadStatus } from '../contract/uploads.js';
export type { ErrorReply } from '../contract/errors.js';
