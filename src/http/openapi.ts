/**
 * Finishes the OpenAPI document that @fastify/swagger generates from the route schemas, so
 * that generators (openapi-typescript + openapi-fetch, Redocly) can use it: a stable
 * `operationId` per operation, named key parameters instead of Fastify's `{*}` wildcard,
 * `security: []` on public routes, and the byte-level request and response bodies that the
 * JSON schemas cannot express (raw part uploads, multipart forms, ranged downloads).
 */
type Json = Record<string, unknown>;
type Operation = Json & {
  operationId?: string;
  parameters?: Json[];
  security?: unknown[];
  responses?: Record<string, unknown>;
  requestBody?: Json;
};

/** Stable names for generated clients; a route missing here gets a name from its method and path. */
const OPERATION_IDS: Record<string, string> = {
  'GET /healthz': 'getHealth',
  'POST /auth/login': 'login',
  'POST /auth/refresh': 'refreshToken',
  'GET /auth/me': 'getMe',
  'POST /auth/logout': 'logout',
  'GET /.well-known/jwks.json': 'getJwks',
  'GET /.well-known/openid-configuration': 'getOpenidConfiguration',
  'POST /v1/files/generate-token': 'generateToken',
  'POST /v1/admin/users': 'createUser',
  'GET /v1/admin/users': 'listUsers',
  'GET /v1/admin/users/{id}': 'getUser',
  'PATCH /v1/admin/users/{id}': 'updateUser',
  'DELETE /v1/admin/users/{id}': 'deleteUser',
  'GET /v1/admin/events': 'listEvents',
  'GET /v1/files/all': 'listFiles',
  'GET /v1/files/usage': 'getUsage',
  'GET /v1/files/metadata/{key}': 'getFileMetadata',
  'DELETE /v1/files/{key}': 'deleteFile',
  'POST /v1/files/init': 'initUpload',
  'GET /v1/files/upload/{uploadId}': 'getUpload',
  'DELETE /v1/files/upload/{uploadId}': 'abortUpload',
  'PUT /v1/files/part': 'putPart',
  'POST /v1/files/part': 'postPart',
  'POST /v1/files/complete': 'completeUpload',
  'POST /v1/files': 'uploadFiles',
  'GET /storage/{path}': 'downloadFile',
  'HEAD /storage/{path}': 'headFile',
  'GET /get/{encodedKey}': 'downloadSigned',
  'HEAD /get/{encodedKey}': 'headSigned',
  'GET /v1/files/signed-url': 'createSignedUrl',
  'POST /v1/files/signed-upload-url': 'createSignedUploadUrl',
  'PUT /v1/upload/signed': 'signedUploadPut',
  'POST /v1/upload/signed': 'signedUploadPost',
  'DELETE /v1/upload/signed': 'signedUploadAbort',
  'GET /v1/upload/signed': 'signedUploadRead',
  'HEAD /v1/upload/signed': 'signedUploadHead',
  'POST /v1/files/batch-download': 'createBatchDownload',
  'GET /v1/files/batch-download/{token}': 'downloadBatch',
  'OPTIONS /v1/tus/': 'tusDiscover',
  'OPTIONS /v1/tus/{id}': 'tusDiscoverUpload',
  'POST /v1/tus/': 'tusCreate',
  'HEAD /v1/tus/{id}': 'tusHead',
  'PATCH /v1/tus/{id}': 'tusPatch',
  'DELETE /v1/tus/{id}': 'tusTerminate',
  'POST /v1/tus/{id}': 'tusMethodOverride',
};

/** Fastify's `{*}` wildcard, per path prefix: the name and meaning of what it holds. */
const WILDCARDS: { prefix: string; name: string; description: string }[] = [
  {
    prefix: '/v1/files/metadata/',
    name: 'key',
    description: 'The file key (`storage/{user_id}/…`). Its slashes may be sent as they are or percent-encoded (`%2F`); both forms are accepted.',
  },
  { prefix: '/v1/files/', name: 'key', description: 'The file key (`storage/{user_id}/…`), slashes literal or percent-encoded.' },
  {
    prefix: '/storage/',
    name: 'path',
    description: 'The key without its leading `storage/`: `{user_id}/{folder…}/{id}_{filename}`; slashes literal or percent-encoded.',
  },
  { prefix: '/get/', name: 'encodedKey', description: 'base64url (or standard base64) of the file key, as in a signed URL.' },
];

/** Routes anyone may call; `/storage` takes credentials when PUBLIC_STORAGE=false (hence `{}` first). */
const PUBLIC: Record<string, unknown[]> = {
  '/healthz': [],
  '/auth/login': [],
  '/auth/refresh': [],
  '/.well-known/jwks.json': [],
  '/.well-known/openid-configuration': [],
  '/get/{encodedKey}': [],
  // The URL's own signature (upload, exp, sig in the query) is the credential.
  '/v1/upload/signed': [],
  '/v1/files/batch-download/{token}': [],
  '/storage/{path}': [{}, { bearer: [] }, { cookie: [] }, { serviceToken: [] }],
};

const errorContent = { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } };
const header = (description: string, type = 'string') => ({ description, schema: { type } });
const fileHeaders = {
  'Accept-Ranges': header('Always `bytes`.'),
  ETag: header('Strong validator: the quoted SHA-256 of the content.'),
  'Last-Modified': header('When the file was stored.'),
  'Cache-Control': header('`public, max-age=…` on public /storage, `private, max-age=…` on signed URLs.'),
  'Content-Disposition': header('`inline` (passive types only) or `attachment`, with an RFC 6266 `filename*`.'),
  'Content-Security-Policy': header('`sandbox` on every file response: nothing served here runs script in this origin.'),
  'X-Content-Type-Options': header('`nosniff`.'),
};
const binary = (mime: string) => ({ [mime]: { schema: { type: 'string', format: 'binary' } } });

function downloadResponses(withBody: boolean): Record<string, unknown> {
  const body = (mime: string) => (withBody ? { content: binary(mime) } : {});
  return {
    200: { description: 'The whole file.', headers: { ...fileHeaders, 'Content-Length': header('Bytes in the body.', 'integer') }, ...body('application/octet-stream') },
    206: {
      description: 'One range (`Content-Range`), or several as `multipart/byteranges`.',
      headers: { ...fileHeaders, 'Content-Range': header('`bytes a-b/size` for a single range.'), 'Content-Length': header('Bytes in the body.', 'integer') },
      ...(withBody ? { content: { ...binary('application/octet-stream'), ...binary('multipart/byteranges') } } : {}),
    },
    304: { description: 'Not modified (`If-None-Match` / `If-Modified-Since`).', headers: { ETag: fileHeaders.ETag } },
    416: { description: 'Range not satisfiable.', headers: { 'Content-Range': header('`bytes */size`.') }, content: errorContent },
  };
}

const conditionalHeaders = [
  ['Range', '`bytes=a-b`, `bytes=a-`, `bytes=-n`, or several ranges separated by commas.'],
  ['If-Range', 'An ETag (strong comparison) or a date: the range applies only if the file is unchanged.'],
  ['If-None-Match', 'ETags: 304 when one matches.'],
  ['If-Modified-Since', 'A date: 304 when the file is not newer.'],
  ['If-Match', 'ETags: 412 unless one matches.'],
].map(([name, description]) => ({ in: 'header', name, required: false, description, schema: { type: 'string' } }));

const checksumHeaders = [
  { in: 'header', name: 'X-Checksum-SHA256', required: false, description: 'SHA-256 of the part (hex or base64): mismatch → 400, part not kept.', schema: { type: 'string' } },
  { in: 'header', name: 'Content-MD5', required: false, description: 'base64 MD5 of the part: mismatch → 400, part not kept.', schema: { type: 'string' } },
];

const partForm = {
  'multipart/form-data': {
    schema: {
      type: 'object',
      required: ['uploadId', 'partNumber', 'file'],
      properties: { uploadId: { type: 'string' }, partNumber: { type: 'integer', minimum: 1 }, file: { type: 'string', format: 'binary' } },
    },
    encoding: { file: { contentType: 'application/octet-stream' } },
  },
};

/** Request bodies of the routes that read bytes instead of JSON. */
const BYTE_BODIES: Record<string, Json> = {
  'PUT /v1/files/part': { required: true, description: 'The part\'s bytes (`?uploadId=…&partNumber=…`).', content: binary('application/octet-stream') },
  'POST /v1/files/part': {
    required: true,
    description: 'The part\'s bytes with `?uploadId=…&partNumber=…`, or a multipart form carrying them.',
    content: { ...binary('application/octet-stream'), ...partForm },
  },
  'PUT /v1/upload/signed': { required: true, description: 'The whole file, or with `&partNumber=N` that part\'s bytes.', content: binary('application/octet-stream') },
  'POST /v1/upload/signed': { required: false, description: 'With `&partNumber=N`, the part\'s bytes; with `&complete=1`, none.', content: binary('application/octet-stream') },
  'POST /v1/files': {
    required: true,
    description: 'One or more file fields (any field name) and an optional `folder` field.',
    content: {
      'multipart/form-data': {
        schema: { type: 'object', properties: { folder: { type: 'string' }, file: { type: 'array', items: { type: 'string', format: 'binary' } } } },
      },
    },
  },
  'POST /v1/tus/': { required: false, description: 'creation-with-upload: the first bytes (Content-Type `application/offset+octet-stream`).', content: binary('application/offset+octet-stream') },
  'PATCH /v1/tus/{id}': { required: true, description: 'The bytes at `Upload-Offset`.', content: binary('application/offset+octet-stream') },
  'POST /v1/tus/{id}': { required: false, description: 'With `X-HTTP-Method-Override: PATCH`, the bytes at `Upload-Offset`.', content: binary('application/offset+octet-stream') },
};

function generatedId(method: string, path: string): string {
  const words = path.replace(/[{}*]/g, '').split(/[^A-Za-z0-9]+/).filter(Boolean);
  return method.toLowerCase() + words.map((w) => w[0]!.toUpperCase() + w.slice(1)).join('');
}

function renameWildcard(path: string, op: Operation): string {
  if (!path.endsWith('{*}')) return path;
  const prefix = path.slice(0, -'{*}'.length);
  const w = WILDCARDS.find((c) => c.prefix === prefix);
  if (!w) return path;
  for (const p of op.parameters ?? []) {
    if (p.in === 'path' && p.name === '*') {
      Object.assign(p, { name: w.name, description: w.description, allowReserved: true });
    }
  }
  return `${prefix}{${w.name}}`;
}

/** `transformObject` for @fastify/swagger: returns the finished document. */
export function finishOpenApi(generated: Json): Json {
  // A plain copy: Fastify shares one schema object between a GET route and its HEAD twin.
  const doc = JSON.parse(JSON.stringify(generated)) as Json;
  const paths = (doc.paths ?? {}) as Record<string, Record<string, Operation>>;
  const finished: Record<string, Record<string, Operation>> = {};
  for (const [rawPath, ops] of Object.entries(paths)) {
    for (const [method, op] of Object.entries(ops)) {
      const path = renameWildcard(rawPath, op);
      const id = `${method.toUpperCase()} ${path}`;
      op.operationId = OPERATION_IDS[id] ?? generatedId(method, path);
      if (PUBLIC[path] !== undefined) op.security = PUBLIC[path];
      if (BYTE_BODIES[id]) op.requestBody = BYTE_BODIES[id];
      if (path === '/v1/files/part' || (path === '/v1/upload/signed' && (method === 'put' || method === 'post'))) op.parameters = [...(op.parameters ?? []), ...checksumHeaders];
      if (path === '/storage/{path}' || path === '/get/{encodedKey}') {
        op.parameters = [...(op.parameters ?? []), ...conditionalHeaders];
        op.responses = { ...downloadResponses(method === 'get'), ...op.responses };
      }
      if (path === '/v1/files/batch-download/{token}') {
        op.responses = { 200: { description: 'The ZIP archive, streamed.', headers: { 'Content-Disposition': fileHeaders['Content-Disposition'] }, content: binary('application/zip') }, ...op.responses };
      }
      const responses = (op.responses ??= {});
      if (!Object.keys(responses).some((c) => c.startsWith('4'))) {
        responses[400] = { description: 'Malformed request (refused by the HTTP parser).', content: errorContent };
      }
      if (responses['2XX'] !== undefined && responses[200] === undefined) {
        responses[200] = responses['2XX'];
        delete responses['2XX'];
      }
      (finished[path] ??= {})[method] = op;
    }
  }
  const components = (doc.components ?? {}) as Json;
  return {
    ...doc,
    paths: finished,
    components: {
      ...components,
      schemas: {
        ...((components.schemas as Json | undefined) ?? {}),
        Error: {
          type: 'object',
          required: ['statusCode', 'error', 'code', 'message'],
          properties: { statusCode: { type: 'integer' }, error: { type: 'string' }, code: { type: 'string' }, message: { type: 'string' } },
        },
      },
    },
  };
}
