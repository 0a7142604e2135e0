/**
 * The wire contract: zod schemas for every request and reply of the HTTP API, shared by the
 * routes (which validate with them) and the SDK (which takes its types from them). Browser-safe:
 * zod and whatwg-mimetype only, no Node built-ins, no side effects beyond building schemas.
 */
export * from './auth.js';
export * from './errors.js';
export * from './events.js';
export * from './files.js';
export * from './folders.js';
export * from './mime.js';
export * from './names.js';
export * from './uploads.js';
