/**
 * One HTTP call with everything around it: the base URL, credentials (Bearer access token,
 * X-Service-Token, or the browser's cookie), retries with backoff (retry.ts), one token refresh
 * and one re-send when the server answers 401 to an access token the SDK can renew, and
 * errors turned into StreamLineError. Bodies are values (string, bytes, Blob, FormData), never
 * streams, so every try sends the same bytes again.
 */
import type { CookieSessionReply, TokenPair } from '../contract/auth.js';
import { errorFromResponse, StreamLineError, StreamLineNetworkError } from './errors.js';
import { DEFAULT_RETRY, isRetryable, retryDelay, sleep, type RetryPolicy } from './retry.js';
import { TokenHolder, tokensFromPair } from './tokens.js';

export type QueryValue = string | number | boolean | undefined | null;

export interface CallOptions {
  method?: string;
  /** Path under the base URL, starting with "/". */
  path: string;
  query?: Record<string, QueryValue>;
  /** Sent as JSON. */
  json?: unknown;
  /**
   * Sent as is (bytes, a Blob, FormData), or made anew for each try by a function (a stream
   * can be read only once).
   */
  body?: RequestInit['body'] | (() => RequestInit['body']);
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /** Send credentials (default true). */
  auth?: boolean;
  /** Override the client's retry policy for this call (false: one try). */
  retry?: Partial<RetryPolicy> | false;
  /** Called before each retry with the error that caused it (for logs and counters). */
  onRetry?: (err: StreamLineError, attempt: number, delayMs: number) => void;
}

export interface TransportOptions {
  baseUrl: string;
  fetch: typeof fetch;
  retry: RetryPolicy;
  tokens: TokenHolder;
  serviceToken?: string;
  /** The user that user-scoped calls act for when they name none (a service's user). */
  userId?: string;
  /** 'cookie': sessions live in the server's HttpOnly cookies (login with session "cookie"). */
  session?: 'bearer' | 'cookie';
  credentials?: RequestInit['credentials'];
  headers?: Record<string, string>;
}

const isAbort = (err: unknown, signal?: AbortSignal): boolean =>
  (signal?.aborted ?? false) || (err instanceof Error && (err.name === 'AbortError' || err.name === 'TimeoutError'));

export class Transport {
  readonly baseUrl: string;

  constructor(private readonly opts: TransportOptions) {
    this.baseUrl = opts.baseUrl.replace(/\/+$/, '');
  }

  get tokens(): TokenHolder {
    return this.opts.tokens;
  }

  /** The client's default `user_id` for user-scoped calls, if it has one. */
  get userId(): string | undefined {
    return this.opts.userId;
  }

  /** `path` under the base URL (or an absolute URL, e.g. a signed one), with `query` added. */
  url(path: string, query?: Record<string, QueryValue>): string {
    const u = new URL(/^https?:\/\//i.test(path) ? path : this.baseUrl + path);
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined && v !== null) u.searchParams.set(k, String(v));
    return u.toString();
  }

  /** The call's answer as parsed JSON; a non-2xx answer throws StreamLineError. */
  async json<T>(call: CallOptions): Promise<T> {
    const res = await this.send(call);
    return (await res.json()) as T;
  }

  /**
   * Sends the call, retrying as the policy says, and returns the 2xx (or 3xx) Response with its
   * body unread. Throws StreamLineError for any other answer, StreamLineNetworkError when no
   * answer came, and the signal's reason once it aborts.
   */
  async send(call: CallOptions): Promise<Response> {
    const policy: RetryPolicy = call.retry === false ? { ...this.opts.retry, retries: 0 } : { ...this.opts.retry, ...call.retry };
    let refreshed = false;
    for (let attempt = 1; ; attempt++) {
      const useAuth = call.auth !== false;
      if (useAuth && this.tokens.needsRefresh()) await this.refresh(call.signal);
      const sentBearer = useAuth && !this.opts.serviceToken ? this.tokens.accessToken : undefined;
      let res: Response;
      try {
        res = await this.opts.fetch(this.url(call.path, call.query), this.init(call, useAuth));
      } catch (err) {
        if (isAbort(err, call.signal)) throw call.signal?.reason ?? err;
        const netErr = new StreamLineNetworkError(`${call.method ?? 'GET'} ${call.path}: ${(err as Error)?.message ?? String(err)}`, err);
        await this.backoff(policy, attempt, netErr, call);
        continue;
      }
      if (res.ok || (res.status >= 300 && res.status < 400)) return res;
      const err = await errorFromResponse(res);
      // An expired (or revoked) access token, or a lapsed access cookie, the SDK can renew:
      // refresh once, send once more.
      const renewable = (sentBearer && this.tokens.refreshToken) || (useAuth && this.opts.session === 'cookie' && !this.opts.serviceToken);
      if (res.status === 401 && renewable && !refreshed) {
        refreshed = true;
        await this.refresh(call.signal);
        attempt--;
        continue;
      }
      await this.backoff(policy, attempt, err, call);
    }
  }

  /**
   * Renews the access token with the refresh token, or a cookie session with the refresh
   * cookie (single-flight). A refused refresh ends the session.
   */
  async refresh(signal?: AbortSignal): Promise<void> {
    await this.tokens.refreshOnce(async (refreshToken) => {
      try {
        if (refreshToken === undefined) {
          const reply = await this.json<CookieSessionReply>({ method: 'POST', path: '/auth/refresh', json: {}, auth: false, signal });
          this.tokens.setCookieSession(reply.expires_in);
          return;
        }
        const pair = await this.json<TokenPair>({ method: 'POST', path: '/auth/refresh', json: { refresh_token: refreshToken }, auth: false, signal });
        this.tokens.set(tokensFromPair(pair));
      } catch (err) {
        if (err instanceof StreamLineError && err.status === 401) this.tokens.set(null);
        throw err;
      }
    }, this.opts.session === 'cookie');
  }

  /** Is this client in cookie-session mode? */
  get cookieMode(): boolean {
    return this.opts.session === 'cookie';
  }

  private async backoff(policy: RetryPolicy, attempt: number, err: StreamLineError, call: CallOptions): Promise<void> {
    const delay = isRetryable(err) ? retryDelay(policy, attempt, err) : null;
    if (delay === null) throw err;
    call.onRetry?.(err, attempt, delay);
    await sleep(delay, call.signal);
  }

  private init(call: CallOptions, useAuth: boolean): RequestInit {
    const headers: Record<string, string> = { ...this.opts.headers, ...call.headers };
    if (useAuth) {
      if (this.opts.serviceToken) headers['x-service-token'] = this.opts.serviceToken;
      else if (this.tokens.accessToken) headers.authorization = `Bearer ${this.tokens.accessToken}`;
    }
    let body = (typeof call.body === 'function' ? call.body() : call.body) ?? null;
    if (call.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(call.json);
    }
    const init: RequestInit = { method: call.method ?? 'GET', headers, body, signal: call.signal, credentials: this.opts.credentials, redirect: 'follow' };
    // A stream body needs half duplex (fetch's rule); only runtimes that stream uploads get one.
    if (body instanceof ReadableStream) (init as RequestInit & { duplex: 'half' }).duplex = 'half';
    return init;
  }
}

/**
 * Can this runtime's fetch send a ReadableStream body over HTTP/1.1? Node's (undici), Deno's
 * and Bun's can; browsers need HTTP/2 for it, so they get the bytes whole. In Node a part sent
 * as 1 MiB stream chunks costs undici about half the CPU of one 8 MiB Uint8Array body, and
 * CPU is what an upload on a small machine shares with everything else.
 */
export const streamsRequestBodies = (): boolean => {
  const p = (globalThis as { process?: { versions?: { node?: string } } }).process;
  return typeof p?.versions?.node === 'string';
};

export const defaultRetry = (overrides?: Partial<RetryPolicy>): RetryPolicy => ({ ...DEFAULT_RETRY, ...overrides });
