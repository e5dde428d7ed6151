// The console's only way to the API: typed by the generated Paths (openapi.gen.ts), so a call
// to a route, parameter or field the OpenAPI document lacks does not compile. Same origin; the
// session cookie goes along by itself, and every change carries the session's CSRF token.
// Errors become ApiFailure with a sentence a person can read; a 401 tells the app to go back to
// sign-in (remembering the page).
import type { Paths } from './openapi.gen.ts';

export type { Paths };
type Method = 'get' | 'post' | 'patch' | 'delete';
export type Op<P extends keyof Paths, M extends keyof Paths[P]> = Paths[P][M];
export type ResponseOf<P extends keyof Paths, M extends keyof Paths[P]> = Op<P, M> extends { response: infer R } ? R : never;
export type BodyOf<P extends keyof Paths, M extends keyof Paths[P]> = Op<P, M> extends { body: infer B } ? B : never;
export type QueryOf<P extends keyof Paths, M extends keyof Paths[P]> = Op<P, M> extends { query: infer Q } ? Q : never;

type Args<O> = (O extends { params: infer X } ? { params: X } : { params?: undefined }) &
  (O extends { query: infer Q } ? { query?: Q } : { query?: undefined }) &
  (O extends { body: infer B } ? { body: B } : { body?: undefined });

export class ApiFailure extends Error {
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.name = 'ApiFailure';
    this.status = status;
    this.code = code;
  }
}

let csrfToken: string | null = null;
let onUnauthorized: (() => void) | null = null;

export function setCsrfToken(token: string | null): void {
  csrfToken = token;
}
/** Called on any 401 except the sign-in's own (the session expired or was signed out elsewhere). */
export function setUnauthorizedHandler(fn: (() => void) | null): void {
  onUnauthorized = fn;
}

/** '/v1/domains/{name}' + {name: 'a/b'} → '/v1/domains/a%2Fb'; query values dropped when empty. */
export function buildUrl(path: string, params?: Record<string, string>, query?: Record<string, unknown>): string {
  let url = path.replace(/\{([^}]+)\}/g, (_m, name: string) => {
    const v = params?.[name];
    if (v === undefined) throw new Error(`missing path parameter ${name}`);
    return encodeURIComponent(v);
  });
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  const s = q.toString();
  if (s) url += `?${s}`;
  return url;
}

/** A readable sentence for an error answer (never a blank page, never raw HTML). */
export function describeFailure(status: number, body: unknown): ApiFailure {
  const e = (body as { error?: { code?: unknown; message?: unknown } } | null)?.error;
  if (e && typeof e.message === 'string' && typeof e.code === 'string') return new ApiFailure(status, e.code, e.message);
  if (status === 502 || status === 503 || status === 504) return new ApiFailure(status, 'unavailable', `The server is unavailable (HTTP ${status}); try again in a moment.`);
  return new ApiFailure(status, 'http', `The server answered HTTP ${status} without an explanation.`);
}

export async function request(method: string, url: string, body?: unknown, opts: { signIn?: boolean } = {}): Promise<unknown> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && csrfToken) headers['x-csrf-token'] = csrfToken;
  let res: Response;
  try {
    res = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: 'same-origin' });
  } catch (err) {
    throw new ApiFailure(0, 'network', `Cannot reach the server: ${(err as Error).message || 'network error'}.`);
  }
  const text = await res.text();
  let json: unknown = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  if (!res.ok) {
    if (res.status === 401 && !opts.signIn) onUnauthorized?.();
    throw describeFailure(res.status, json);
  }
  return json;
}

/** A typed call: api('get', '/v1/domains', { query: { limit: 50 } }). */
export function api<P extends keyof Paths, M extends keyof Paths[P] & Method>(method: M, path: P, args: Args<Op<P, M>>, opts: { signIn?: boolean } = {}): Promise<ResponseOf<P, M>> {
  const a = args as { params?: Record<string, string>; query?: Record<string, unknown>; body?: unknown };
  return request(method.toUpperCase(), buildUrl(path as string, a.params, a.query), a.body, opts) as Promise<ResponseOf<P, M>>;
}
