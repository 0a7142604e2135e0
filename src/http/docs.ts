/** OpenAPI from the same zod schemas that validate: /openapi.json and Swagger UI at /docs. */
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import { jsonSchemaTransform } from 'fastify-type-provider-zod';
import { VERSION } from '../version.js';
import { finishOpenApi } from './openapi.js';

export async function registerDocs(app: FastifyInstance, deps: { publicBaseUrl: string }): Promise<void> {
  await app.register(swagger, {
    openapi: {
      info: { title: 'Stream-Line file server', version: VERSION, description: 'Uploads, downloads and the tokens that guard them.' },
      servers: [{ url: deps.publicBaseUrl }],
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
          cookie: { type: 'apiKey', in: 'cookie', name: 'auth_token' },
          serviceToken: { type: 'apiKey', in: 'header', name: 'X-Service-Token' },
        },
      },
    },
    transform: jsonSchemaTransform,
    // operationIds, named key parameters, public routes, byte bodies: see openapi.ts.
    transformObject: (doc) => finishOpenApi(('openapiObject' in doc ? doc.openapiObject : doc.swaggerObject) as Record<string, unknown>),
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
}
