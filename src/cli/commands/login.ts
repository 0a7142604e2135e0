/**
 * `login [--username U] [--password-stdin]` and `logout`. Login keeps only the refresh token
 * (credentials.ts, 0600); the password is prompted with the echo off, or read from stdin.
 */
import { str } from '../args.js';
import type { Command } from '../command.js';
import { forgetLogin, saveLogin } from '../credentials.js';
import { UsageError } from '../errors.js';
import { askLine, askSecret, readFirstLine } from '../prompt.js';
import { loginWithPassword, resolveServer } from '../session.js';

export const loginCommand: Command = {
  name: 'login',
  usage: '[--username U] [--password-stdin]',
  summary: 'log in and keep a refresh token (0600) for the next commands',
  options: { username: { type: 'string', short: 'u' }, 'password-stdin': { type: 'boolean' } },
  async run({ out, env, args }) {
    if (args.positionals.length) throw new UsageError(`unexpected argument: ${args.positionals[0]}`);
    const server = await resolveServer(env, str(args.values.server));
    let username = str(args.values.username);
    if (username === undefined) {
      if (!out.streams.stdin.isTTY) throw new UsageError('--username is needed when there is no terminal to ask');
      username = (await askLine(out.streams, 'username: ')).trim();
    }
    const password = args.values['password-stdin'] ? await readFirstLine(out.streams) : await askSecret(out.streams, 'password: ');
    if (!username || !password) throw new UsageError('a username and a password are needed');
    const reply = await loginWithPassword(server, username, password);
    await saveLogin(env.configDir, { server, username: reply.user.username, refresh_token: reply.refresh_token });
    out.result({ server, user: reply.user }, () => [`logged in to ${server} as ${reply.user.username} (${reply.user.role})`]);
  },
};

export const logoutCommand: Command = {
  name: 'logout',
  usage: '',
  summary: 'end the saved session (revoked on the server) and forget it',
  options: {},
  async run({ out, env, args, session }) {
    if (args.positionals.length) throw new UsageError(`unexpected argument: ${args.positionals[0]}`);
    const s = await session();
    await s.logout();
    await forgetLogin(env.configDir, s.server);
    out.result({ server: s.server, logged_out: true }, () => [`logged out of ${s.server}`]);
  },
};
