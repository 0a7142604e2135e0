/**
 * The seed's Python client library (seeds/000) must work unchanged. Each call below is sent
 * over a real socket exactly as `requests` sends it (URL quoting, query encoding, headers,
 * a bodiless POST), and checked the way the client checks it: raise_for_status → any 2xx.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/app.js';
import { bytes, listen, request, sha256, type RawResponse } from './upload-kit.js';

/** requests.utils.requote_uri: keeps reserved characters and %XX, quotes the rest (space, non-ASCII). */
const requote = (url: string): string => url.replace(/[^A-Za-z0-9\-._~!#$%&'()*+,/:;=?@[\]]/gu, (ch) => encodeURIComponent(ch));
/** urllib.parse.urlencode (quote_plus), as requests encodes `params`. */
const urlencode = (params: Record<string, string | number>): string =>
  Object.entries(params)
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v)).replace(/%20/g, '+')}`)
    .join('&');

const raiseForStatus = (res: RawResponse): RawResponse => {
  if (res.status < 200 || res.status >= 300) throw new Error(`HTTP ${res.status}: ${res.body}`);
  return res;
};

describe('the seed client library (seeds/000) against this server', () => {
  let s: TestServer;
  let port: number;
  const base = { 'accept-encoding': 'gzip, deflate', accept: '*/*', connection: 'keep-alive' };
  beforeAll(async () => {
    s = await startTestServer();
    port = await listen(s);
  });
  afterAll(async () => s.close());

  const service = (method: string, path: string, body?: Buffer, extra: Record<string, string> = {}) =>
    request(port, {
      method,
      path: requote(path),
      headers: { ...base, 'user-agent': 'StreamLine-Service-Client/1.0', 'x-service-token': s.serviceToken, ...(body ? { 'content-length': body.length } : {}), ...extra },
      body,
    }).then(raiseForStatus);
  const user = (token: string, method: string, path: string, json?: unknown) => {
    const body = json === undefined ? undefined : Buffer.from(JSON.stringify(json));
    return request(port, {
      method,
      path: requote(path),
      headers: { ...base, 'user-agent': 'StreamLine-User-Client/1.0', authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json', 'content-length': body.length } : {}) },
      body,
    }).then(raiseForStatus);
  };

  it('create_user_session → init_upload → part → complete_upload → list_user_files → get_file_metadata → delete_file', async () => {
    // generate_user_token: session.post(url, params={...}) — a POST with no body (Content-Length: 0).
    const tokenRes = await service('POST', `/v1/files/generate-token?${urlencode({ user_id: 'test-user', expires_hours: 2 })}`, Buffer.alloc(0));
    const tokenData = JSON.parse(tokenRes.body);
    expect(tokenData).toMatchObject({ token: expect.any(String), token_type: 'bearer', user_id: 'test-user' });
    const jwt = tokenData.token as string;

    // UserSession.list_my_files(): GET /v1/files/all with no params.
    expect(JSON.parse((await user(jwt, 'GET', '/v1/files/all')).body)).toMatchObject({ files: [], total_count: 0, total_size: 0 });

    // init_upload(filename, file_size, folder, mime_type)
    const data = bytes(4096);
    const filename = 'holiday photo 夏.jpg';
    const initRes = await user(jwt, 'POST', '/v1/files/init', { mode: 'single', files: [{ name: filename, size: data.length, mime: 'image/jpeg' }], folder: 'main/pictures' });
    const upload = JSON.parse(initRes.body);
    expect(upload.uploadId).toEqual(expect.any(String));

    // The part (not in the client library; any client sends the bytes like this).
    const partRes = await request(port, {
      method: 'PUT',
      path: `/v1/files/part?uploadId=${upload.uploadId}&partNumber=1`,
      headers: { authorization: `Bearer ${jwt}`, 'content-type': 'application/octet-stream', 'content-length': data.length },
      body: data,
    }).then(raiseForStatus);
    expect(JSON.parse(partRes.body).sha256).toBe(sha256(data));

    // complete_upload(upload_id, filename, folder)
    const record = JSON.parse((await user(jwt, 'POST', '/v1/files/complete', { uploadId: upload.uploadId, meta: { filename, folder: 'main/pictures' } })).body);
    expect(record).toMatchObject({ filename, folder: 'main/pictures', size: data.length, mime: 'image/jpeg', user_id: 'test-user' });

    // list_user_files(user_id, folder): params={"user_id", "folder"} → folder=main%2Fpictures
    const listed = JSON.parse((await service('GET', `/v1/files/all?${urlencode({ user_id: 'test-user', folder: 'main/pictures' })}`)).body);
    expect(listed).toMatchObject({ total_count: 1, total_size: data.length });
    expect(listed.files[0].key).toBe(record.key);
    const listedMain = JSON.parse((await service('GET', `/v1/files/all?${urlencode({ user_id: 'test-user', folder: 'main' })}`)).body);
    expect(listedMain.total_count).toBe(1);

    // get_file_metadata(file_key): the key put raw into the path (requests quotes the space and CJK).
    const meta = JSON.parse((await service('GET', `/v1/files/metadata/${record.key}`)).body);
    expect(meta).toEqual(record);

    // delete_file(file_key) → response.status_code == 200
    const del = await service('DELETE', `/v1/files/${record.key}`);
    expect(del.status).toBe(200);
    expect(JSON.parse(del.body)).toEqual({ deleted: true, key: record.key });
    await expect(service('GET', `/v1/files/metadata/${record.key}`)).rejects.toThrow(/HTTP 404/);
    expect(JSON.parse((await service('GET', `/v1/files/all?${urlencode({ user_id: 'test-user' })}`)).body).total_count).toBe(0);
  });

  it('list_user_files without a folder, and the Node/axios client (params + null body) as well', async () => {
    const none = JSON.parse((await service('GET', `/v1/files/all?${urlencode({ user_id: 'user123' })}`)).body);
    expect(none).toEqual({ files: [], total_count: 0, total_size: 0, next_cursor: null });
    // axios.post(url, null, { params }): no body, no Content-Type.
    const axiosToken = await service('POST', `/v1/files/generate-token?${urlencode({ user_id: 'frontend-user', expires_hours: 1 })}`);
    expect(JSON.parse(axiosToken.body).user_id).toBe('frontend-user');
  });
});
