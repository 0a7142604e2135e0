/**
 * Name rules (a filename, a folder, a MIME type as sent): defined in the wire contract
 * (src/contract/names.ts) so that the SDK checks names exactly as the server does.
 */
export { filenameSchema, folderProblem, folderSchema, mimeSchema, nameProblem } from '../contract/names.js';
