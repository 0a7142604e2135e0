/**
 * CORS for browser apps on other origins: only origins in CORS_ORIGINS are echoed, always
 * with credentials (cookie auth); an unknown origin gets no CORS headers at all.
 */
import cors from '@fastify/cors';
import type { FastifyInstance } from 'fastify';
import { TUS_EXPOSED_HEADERS, TUS_REQUEST_HEADERS } from '../tus/protocol.js';

export async function registerCors(app: FastifyInstance, allowed: string[]): Promise<void> {
  const origins = new Set(allowed);
  await app.register(cors, {
    origin: (origin, callback) => callback(null, origin !== undefined && origins.has(origin)),
    credentials: true,
    methods: ['GET', 'HEAD', 'PUT', 'POST', 'PATCH', 'DELETE', 'OPTIONS'],
    allowedHeaders: ['Authorization', 'Content-Type', 'Content-MD5', 'X-Checksum-SHA256', 'Range', 'If-Range', 'If-None-Match', 'If-Modified-Since', ...TUS_REQUEST_HEADERS],
    exposedHeaders: ['Content-Range', 'ETag', 'Content-Disposition', 'Accept-Ranges', 'Content-Length', 'Last-Modified', ...TUS_EXPOSED_HEADERS],
    maxAge: 600,
  });
}
