/** The one rule for user ids, shared by tokens, routes and storage paths (defined in the wire contract). */
export { isValidUserId, USER_ID_PATTERN, userIdSchema } from '../contract/names.js';
