// Bearer-token check (RFC 6750). Both sides are hashed to a fixed length first so that
// timingSafeEqual neither throws on a length mismatch nor leaks the token's length.
import { createHash, timingSafeEqual } from 'node:crypto';

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

export type AuthVerdict = 'ok' | 'missing' | 'invalid';

/** The credential of an `Authorization: Bearer <x>` header, or null. */
export function parseBearer(authorization: string | undefined): string | null {
  const m = authorization ? /^Bearer[ ]+([^\s]+)[ ]*$/i.exec(authorization) : null;
  return m ? m[1]! : null;
}

export function bearerChecker(token: string): (authorization: string | undefined) => AuthVerdict {
  const expected = digest(token);
  return (authorization) => {
    if (!authorization) return 'missing';
    const m = /^Bearer[ ]+([^\s]+)[ ]*$/i.exec(authorization);
    if (!m) return 'invalid';
    return timingSafeEqual(digest(m[1]!), expected) ? 'ok' : 'invalid';
  };
}

/** RFC 6750 §3: the challenge a 401 carries. */
export function challenge(verdict: Exclude<AuthVerdict, 'ok'>): string {
  return verdict === 'missing' ? 'Bearer realm="hopmail-admin"' : 'Bearer realm="hopmail-admin", error="invalid_token"';
}
