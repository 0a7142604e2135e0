/**
 * Tokens from an external issuer (AUTH_JWT_PUBLIC_KEY_BASE64 or AUTH_JWT_JWKS_URL), checked
 * with the same rules as ours: asymmetric algorithms only (pinned to the key type for a PEM),
 * exp required, iss/aud when configured (a warning at start when not), `type` (if present)
 * must be "access". What such a token may do is capped in AccessVerifier (role ≤ operator
 * unless trusted, and never above a local user's own role).
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { createRemoteJWKSet, jwtVerify, type JWTPayload } from 'jose';

const ASYMMETRIC = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'];

/** The algorithms a public key may verify (none for an unsupported key type or curve). */
export function algorithmsFor(key: KeyObject): string[] {
  switch (key.asymmetricKeyType) {
    case 'rsa':
      return ['RS256', 'RS384', 'RS512'];
    case 'rsa-pss':
      return ['PS256', 'PS384', 'PS512'];
    case 'ec': {
      const curve = key.asymmetricKeyDetails?.namedCurve;
      return curve === 'prime256v1' ? ['ES256'] : curve === 'secp384r1' ? ['ES384'] : curve === 'secp521r1' ? ['ES512'] : [];
    }
    case 'ed25519':
      return ['EdDSA', 'Ed25519'];
    default:
      return [];
  }
}

export interface ExternalSettings {
  publicKeyPem: string | undefined;
  jwksUrl: string | undefined;
  issuer: string | undefined;
  audience: string | undefined;
}

export type ExternalVerify = (token: string) => Promise<JWTPayload>;

/**
 * Start-up warnings for an external issuer configured loosely. Without an expected issuer and
 * audience, any token signed by that key is taken, including ones the issuer made for another
 * service (ID tokens, tokens for another API).
 */
export function externalIssuerWarnings(settings: ExternalSettings): string[] {
  if (!settings.publicKeyPem && !settings.jwksUrl) return [];
  const missing = [
    settings.issuer ? null : 'AUTH_JWT_EXTERNAL_ISSUER',
    settings.audience ? null : 'AUTH_JWT_EXTERNAL_AUDIENCE',
  ].filter((m): m is string => m !== null);
  if (missing.length === 0) return [];
  return [
    `external token issuer configured without ${missing.join(' and ')}: every token signed by its key is accepted, ` +
      'including tokens it issued for other services',
  ];
}

/** Returns a verifier for the configured external issuer, or null when none is configured. */
export function externalVerifier(settings: ExternalSettings): ExternalVerify | null {
  const options = {
    issuer: settings.issuer,
    audience: settings.audience,
    requiredClaims: ['exp'],
    clockTolerance: 30,
  };
  const check = (payload: JWTPayload): JWTPayload => {
    if (payload.type !== undefined && payload.type !== 'access') throw new Error('not an access token');
    // jose checks iat only with maxTokenAge: a token "issued" in the future is refused here.
    if (typeof payload.iat === 'number' && payload.iat > Math.floor(Date.now() / 1000) + options.clockTolerance) {
      throw new Error('iat in the future');
    }
    return payload;
  };
  if (settings.publicKeyPem) {
    const key = createPublicKey(settings.publicKeyPem);
    const algorithms = algorithmsFor(key);
    if (algorithms.length === 0) throw new Error('AUTH_JWT_PUBLIC_KEY_BASE64: unsupported key type');
    return async (token) => check((await jwtVerify(token, key, { ...options, algorithms })).payload);
  }
  if (settings.jwksUrl) {
    const jwks = createRemoteJWKSet(new URL(settings.jwksUrl));
    return async (token) => check((await jwtVerify(token, jwks, { ...options, algorithms: ASYMMETRIC })).payload);
  }
  return null;
}
