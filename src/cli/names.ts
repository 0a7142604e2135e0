/**
 * The user commands' names, apart from their code, so that the entry points can dispatch
 * without loading the commands (and the admin CLI without loading the SDK).
 */
export const USER_COMMAND_NAMES: readonly string[] = ['login', 'logout', 'upload', 'download', 'ls', 'rm', 'mv', 'share', 'zip'];

/** The admin CLI's commands (src/cli.ts), which the binary hands over to it. */
export const ADMIN_COMMAND_NAMES: readonly string[] = ['users', 'keys', 'migrate', 'copy-data'];
