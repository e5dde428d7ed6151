// The admin API over HTTP. Errors become ApiFailure with the exit code scripts rely on.

export const EXIT = {
  ok: 0,
  api: 1, // the API refused or failed (other 4xx, 5xx)
  usage: 2, // bad command line
  auth: 3, // 401 missing/invalid token, 403 not allowed, 429 locked out after failures
  notFound: 4, // 404
  conflict: 5, // 409 (already exists, not empty)
  unavailable: 6, // API unreachable, or 503 (its database is down)
} as const;

export class ApiFailure extends Error {
  readonly exitCode: number;
  readonly status: number | null;
  readonly code: string;
  constructor(message: string, status: number | null, code: string) {
    super(message);
    this.status = status;
    this.code = code;
    this.exitCode =
      status === null || status === 503 ? EXIT.unavailable
        : status === 401 || status === 403 || status === 429 ? EXIT.auth
          : status === 404 ? EXIT.notFound
            : status === 409 ? EXIT.conflict
              : EXIT.api;
  }
}

export interface Client {
  call<T = any>(method: string, path: string, body?: unknown): Promise<T>;
}

export function createClient(baseUrl: string, token: string): Client {
  const base = baseUrl.replace(/\/+$/, '');
  return {
    async call(method, path, body) {
      let res: Response;
      try {
        res = await fetch(base + path, {
          method,
          headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
          body: body === undefined ? undefined : JSON.stringify(body),
          signal: AbortSignal.timeout(120_000),
        });
      } catch (err) {
        throw new ApiFailure(`cannot reach ${base}: ${(err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : (err as Error).message}`, null, 'unreachable');
      }
      const text = await res.text();
      let json: any;
      try {
        json = text ? JSON.parse(text) : null;
      } catch {
        json = null;
      }
      if (!res.ok) {
        const e = json?.error;
        throw new ApiFailure(e?.message ? `${e.message} (${res.status} ${e.code})` : `HTTP ${res.status}`, res.status, e?.code ?? 'http');
      }
      return json;
    },
  };
}

/** `?a=1&b=2` from the defined entries. */
export function qs(params: Record<string, string | number | undefined>): string {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) u.set(k, String(v));
  const s = u.toString();
  return s ? `?${s}` : '';
}
