/**
 * `StreamLineClient`: the typed SDK over the HTTP API (docs/api.md). One instance per server
 * and identity; methods are grouped by route family (`auth`, `admin`, `uploads`, `files`),
 * every request and reply typed from the zod schemas in src/contract/ that the server
 * validates with. Built on `fetch` only: the same module runs in browsers, Node ≥ 20, Deno
 * and Bun.
 *
 * ```ts
 * const sl = new StreamLineClient({ baseUrl: 'https://files.example.com' });
 * await sl.auth.login('alice', 'secret');
 * const file = await sl.uploads.upload(input.files[0], { folder: 'photos', onProgress: (p) => bar(p.fraction) });
 * for await (const f of sl.files.iterate({ folder: 'photos' })) console.log(f.key, f.size);
 * ```
 */
import type { SessionTokens } from './tokens.js';
import { TokenHolder } from './tokens.js';
import { defaultRetry, Transport, type CallOptions } from './transport.js';
import type { RetryPolicy } from './retry.js';
import { AuthApi } from './api-auth.js';
import { AdminApi } from './api-admin.js';
import { UploadsApi } from './api-uploads.js';
import { FilesApi } from './api-files.js';

export interface StreamLineClientOptions {
  /** The server's base URL, e.g. https://files.example.com (no trailing path needed). */
  baseUrl: string;
  /** A user access token (Bearer). With `refreshToken` the SDK renews it when it expires. */
  accessToken?: string;
  /** A refresh token (from login): the SDK gets an access token from it when it needs one. */
  refreshToken?: string;
  /** Act as a backend service (X-Service-Token); name the user with `userId` on each call. */
  serviceToken?: string;
  /**
   * The user every user-scoped call acts for unless it names another (`user_id`): what a
   * service token needs; an admin may set it to act for someone else.
   */
  userId?: string;
  /**
   * 'cookie': a browser session kept in the server's HttpOnly cookies (`auth.loginCookie`; no
   * token is ever readable by scripts). The SDK sends the cookies (credentials 'include'),
   * refreshes through the refresh cookie before the access cookie lapses, and once on a 401
   * (also for a session a previous page load started). Default 'bearer'. The page must be on
   * the server's origin or one in its CORS_ORIGINS.
   */
  session?: 'bearer' | 'cookie';
  /**
   * `fetch` credentials mode (default 'include' for a cookie session, else the runtime's
   * 'same-origin'). 'include' sends the browser's cookies to a server on another origin
   * listed in its CORS_ORIGINS.
   */
  credentials?: RequestInit['credentials'];
  /** Called whenever login, refresh or logout changes the session (persist the refresh token here). */
  onTokens?: (tokens: SessionTokens | null) => void;
  /** Retries on network errors, 5xx and 429 (default: 4 tries after the first, 250 ms doubling, full jitter). */
  retry?: Partial<RetryPolicy>;
  /** Headers added to every request. */
  headers?: Record<string, string>;
  /** A fetch implementation (default: the global one). */
  fetch?: typeof fetch;
}

export class StreamLineClient {
  /** Login, refresh, logout, the current user, and the issuer's public keys. */
  readonly auth: AuthApi;
  /** User management (admin token or service token) and service-minted tokens. */
  readonly admin: AdminApi;
  /** Resumable uploads (and the protocol's single steps). */
  readonly uploads: UploadsApi;
  /** Listing, metadata, deletion, usage, downloads, signed URLs and ZIP batches. */
  readonly files: FilesApi;
  private readonly transport: Transport;

  constructor(options: StreamLineClientOptions) {
    const fetchImpl = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    const tokens = new TokenHolder({ accessToken: options.accessToken, refreshToken: options.refreshToken }, options.onTokens);
    this.transport = new Transport({
      baseUrl: options.baseUrl,
      fetch: fetchImpl,
      retry: defaultRetry(options.retry),
      tokens,
      serviceToken: options.serviceToken,
      userId: options.userId,
      session: options.session,
      credentials: options.credentials ?? (options.session === 'cookie' ? 'include' : undefined),
      headers: options.headers,
    });
    this.auth = new AuthApi(this.transport);
    this.admin = new AdminApi(this.transport);
    this.uploads = new UploadsApi(this.transport);
    this.files = new FilesApi(this.transport);
  }

  /** The server's base URL, without a trailing slash. */
  get baseUrl(): string {
    return this.transport.baseUrl;
  }

  /**
   * Any route, with this client's credentials, retries and token refresh: the escape hatch
   * for routes newer than this SDK. Returns the Response (2xx/3xx) with its body unread.
   */
  request(call: CallOptions): Promise<Response> {
    return this.transport.send(call);
  }
}
