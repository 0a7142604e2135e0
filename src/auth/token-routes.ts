/**
 * POST /v1/files/generate-token: a backend service mints an access token for a user of its
 * own. Parameters come from the query or a JSON (or form) body, as the seed clients send them
 * either way; the minting policy is TokenIssuer's (token-issuer.ts).
 */
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { generateTokenParams as params, generateTokenReply } from '../contract/auth.js';
import { errorResponses, security } from '../http/schemas.js';
import type { TokenIssuer } from './token-issuer.js';

// Request and reply schemas are the wire contract's (src/contract/auth.ts), shared with the SDK.

export interface TokenRouteDeps {
  issuer: Pick<TokenIssuer, 'mintForService'>;
}

export async function tokenRoutes(app: FastifyInstance, { issuer }: TokenRouteDeps): Promise<void> {
  const r = app.withTypeProvider<ZodTypeProvider>();

  r.post(
    '/v1/files/generate-token',
    {
      schema: {
        tags: ['auth'],
        summary: 'Mint an access token for a user (service token only)',
        security: security.service,
        querystring: params,
        body: params.nullish(),
        response: {
          200: generateTokenReply,
          ...errorResponses(400, 401, 403),
        },
      },
      config: { access: { role: 'admin', serviceOnly: true } },
    },
    async (request) => {
      const input = { ...request.query, ...(request.body ?? {}) };
      const minted = await issuer.mintForService({
        userId: input.user_id,
        expiresHours: input.expires_hours,
        role: input.role,
        scope: input.scope,
      });
      return {
        token: minted.token,
        token_type: 'bearer' as const,
        expires_in: minted.expiresIn,
        expires_at: new Date(minted.exp * 1000).toISOString(),
        user_id: minted.userId,
      };
    },
  );
}
