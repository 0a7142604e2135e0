/** Schemas shared by many routes: the JSON error shape for OpenAPI responses. */
import { errorSchema } from '../contract/errors.js';

// The error shape is the wire contract's (src/contract/errors.ts), shared with the SDK.
export { errorSchema };

/** `{400: errorSchema, 401: errorSchema, …}` for a route's `response` map. */
export function errorResponses(...codes: number[]): Record<number, typeof errorSchema> {
  return Object.fromEntries(codes.map((c) => [c, errorSchema]));
}

type SecurityRequirement = { [scheme: string]: string[] }[];

/** OpenAPI security requirements for the three ways to authenticate. */
export const security = {
  user: [{ bearer: [] }, { cookie: [] }] as SecurityRequirement,
  service: [{ serviceToken: [] }] as SecurityRequirement,
  any: [{ bearer: [] }, { cookie: [] }, { serviceToken: [] }] as SecurityRequirement,
  admin: [{ bearer: [] }, { serviceToken: [] }] as SecurityRequirement,
};
