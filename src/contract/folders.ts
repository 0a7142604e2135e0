/**
 * Folders and moves: GET /v1/files/folders, POST /v1/files/move, DELETE /v1/files/folder.
 * The routes validate with these schemas; the SDK takes its types from them.
 */
import { z } from 'zod';
import { folderSchema, userIdSchema } from './names.js';

export const foldersQuery = z.object({
  /** The parent folder; absent or empty for the root. */
  folder: z.union([z.literal(''), folderSchema]).optional(),
  user_id: userIdSchema.optional(),
});

export const folderSummarySchema = z.object({
  name: z.string(),
  path: z.string(),
  file_count: z.number().int(),
  total_size: z.number().int(),
});
export const foldersReply = z.object({ folders: z.array(folderSummarySchema) });

/**
 * `from`: a key (`storage/…`) or a folder path. `to`: for a key, "folder/" or "" (the root)
 * to keep the filename, else "folder/filename"; for a folder, its new path ("" is the root).
 * The exact name rules are checked by the service, which knows which of the two `from` is.
 */
export const moveBody = z.object({
  from: z.string().min(1).max(16 * 1024),
  to: z.string().max(16 * 1024),
  user_id: userIdSchema.optional(),
});
export const moveReply = z.object({ moved: z.array(z.object({ from: z.string(), to: z.string() })) });

export const deleteFolderQuery = z.object({ folder: folderSchema, user_id: userIdSchema.optional() });
export const deleteFolderReply = z.object({ deleted: z.number().int(), freed_bytes: z.number().int() });

export type FoldersQuery = z.input<typeof foldersQuery>;
export type FolderEntry = z.infer<typeof folderSummarySchema>;
export type FoldersReply = z.infer<typeof foldersReply>;
export type MoveBody = z.input<typeof moveBody>;
export type MoveReply = z.infer<typeof moveReply>;
export type DeleteFolderQuery = z.input<typeof deleteFolderQuery>;
export type DeleteFolderReply = z.infer<typeof deleteFolderReply>;
