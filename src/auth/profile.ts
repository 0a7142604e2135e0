/**
 * GET /auth/me, without HTTP: who a user token belongs to, as the token and the user table
 * tell it, with the user's quota figures. A user unknown here (minted by a service for a user
 * of its own) is described from the token; a failed lookup fails, never a guess.
 */
import { NotAllowed, nullIfNotFound } from '../errors/index.js';
import type { FileService, UsageReport } from '../files/file-service.js';
import type { Principal, Role } from './principal.js';
import type { UserService } from './users.js';

export interface Profile {
  id: string;
  username: string;
  email: string | null;
  /** The token's role (never above the user's current one: the verifier lowered it). */
  role: Role;
  scopes: string[];
  isActive: boolean;
  usage: UsageReport;
}

export class ProfileService {
  constructor(
    private readonly users: Pick<UserService, 'get'>,
    private readonly files: Pick<FileService, 'usage'>,
  ) {}

  async describe(p: Principal): Promise<Profile> {
    if (p.kind !== 'user' || !p.userId) throw new NotAllowed('not_a_user', '/auth/me describes a user token, not a service');
    const [user, usage] = await Promise.all([nullIfNotFound(this.users.get(p.userId)), this.files.usage(p.userId)]);
    return {
      id: p.userId,
      username: user?.username ?? p.username ?? p.userId,
      email: user?.email ?? null,
      role: p.role,
      scopes: p.scopes,
      isActive: user?.isActive ?? true,
      usage,
    };
  }
}
