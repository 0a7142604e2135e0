/**
 * Who is calling, and what they may do. Roles form a hierarchy (viewer < operator < admin);
 * scopes narrow a token further. A service principal may do everything, for any user.
 */
import type { Role } from '../db/types.js';

export type { Role };
export const ROLES: readonly Role[] = ['viewer', 'operator', 'admin'];
export const SCOPES = ['files:read', 'files:write', 'files:delete', 'users:admin'] as const;
export type Scope = (typeof SCOPES)[number];

const RANK: Record<Role, number> = { viewer: 0, operator: 1, admin: 2 };

export const isRole = (value: unknown): value is Role => typeof value === 'string' && (ROLES as string[]).includes(value);

/** The scopes a role grants by default; a token may carry fewer, never more. */
export function scopesForRole(role: Role): Scope[] {
  if (role === 'viewer') return ['files:read'];
  if (role === 'operator') return ['files:read', 'files:write', 'files:delete'];
  return [...SCOPES];
}

export const roleAtLeast = (role: Role, needed: Role): boolean => RANK[role] >= RANK[needed];

/** The lower of two roles: what a token may do when its user's current role is lower. */
export const lowerRole = (a: Role, b: Role): Role => (RANK[a] <= RANK[b] ? a : b);

export interface Principal {
  kind: 'user' | 'service';
  /** The user the token names (`sub`); null for a service until it names one. */
  userId: string | null;
  username: string | null;
  role: Role;
  scopes: string[];
  /**
   * Present for JWT principals: used by logout and revocation. `revocationId` is the jti, or
   * for an external token without one, a hash of its claims.
   */
  token?: { jti: string | null; revocationId: string; exp: number; source: 'local' | 'external' };
}

/** What a route needs: a minimum role and, optionally, a scope. */
export interface AccessRule {
  role: Role;
  scope?: Scope;
  /** Only a service token will do (e.g. minting tokens). */
  serviceOnly?: boolean;
}

export function allows(principal: Principal, rule: AccessRule): boolean {
  if (principal.kind === 'service') return true;
  if (rule.serviceOnly) return false;
  if (!roleAtLeast(principal.role, rule.role)) return false;
  return rule.scope === undefined || principal.scopes.includes(rule.scope);
}

export const SERVICE_PRINCIPAL: Principal = Object.freeze({
  kind: 'service',
  userId: null,
  username: null,
  role: 'admin',
  scopes: [...SCOPES],
}) as Principal;
