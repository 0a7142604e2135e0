/**
 * The S3 client, set up once from the S3_* settings for AWS S3 and for S3-compatible servers
 * alike (MinIO, R2, Swift's s3api: the test server), with what those servers need:
 *  - checksums only when an operation requires one: SDK ≥ 3.729 otherwise sends stream bodies
 *    as aws-chunked with a CRC32 trailer, which Swift answers with 501;
 *  - Content-MD5 on DeleteObjects, which Swift (and others) require and the SDK no longer sends;
 *  - no `Expect: 100-continue`: with it the SDK opens a fresh connection for every part;
 *  - a keep-alive pool large enough that slow downloads (each holds a socket while its client
 *    reads) never queue everyone else's requests behind them;
 *  - timeouts, so an unreachable or stalled server becomes a clean 503 instead of a hang.
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import { S3Client } from '@aws-sdk/client-s3';

export interface S3Settings {
  /** Unset on AWS. */
  endpoint?: string;
  region: string;
  bucket: string;
  accessKeyId?: string;
  secretAccessKey?: string;
  forcePathStyle: boolean;
  /** '' or ending in '/'. */
  prefix: string;
}

export interface S3Timeouts {
  /** TCP connect (ms). */
  connectMs: number;
  /**
   * No byte either way for this long (ms) fails the request. Long enough for a server that
   * takes its time over a large copy or completion (AWS and Swift send keep-alive whitespace).
   */
  idleMs: number;
}

export const DEFAULT_TIMEOUTS: S3Timeouts = { connectMs: 5_000, idleMs: 120_000 };

/** Sockets per instance: each streaming download or upload holds one for as long as it lasts. */
const MAX_SOCKETS = 1024;

export function makeS3Client(s: S3Settings, timeouts: S3Timeouts = DEFAULT_TIMEOUTS): S3Client {
  // The SDK warns on Node 20 that releases after early January 2027 will need Node 22; the
  // releases package.json pins run on Node 20, so the warning (a multi-line stderr message at
  // every start) says nothing about this install. Its own switch turns it off.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const agent = { keepAlive: true, maxSockets: MAX_SOCKETS };
  const client = new S3Client({
    endpoint: s.endpoint,
    region: s.region,
    forcePathStyle: s.forcePathStyle,
    // Without keys the SDK's default chain applies (environment, profile, instance role).
    credentials: s.accessKeyId ? { accessKeyId: s.accessKeyId, secretAccessKey: s.secretAccessKey ?? '' } : undefined,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    expectContinueHeader: false,
    requestHandler: {
      connectionTimeout: timeouts.connectMs,
      socketTimeout: timeouts.idleMs,
      httpAgent: new http.Agent(agent),
      httpsAgent: new https.Agent(agent),
    },
  });
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const req = args.request as { headers?: Record<string, string>; body?: unknown };
      if (context.commandName === 'DeleteObjectsCommand' && req.headers && req.body != null && !req.headers['content-md5']) {
        req.headers['content-md5'] = createHash('md5')
          .update(req.body as string | Uint8Array)
          .digest('base64');
      }
      return next(args);
    },
    { step: 'build', name: 'deleteObjectsContentMd5', override: true },
  );
  return client;
}
