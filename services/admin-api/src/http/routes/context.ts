import type { PasswordHasher } from '../../adapters/password.ts';
import type { Store } from '../../adapters/store.ts';
import { ApiError, badRequest } from '../../errors.ts';
import type { Checked } from '../../policy/names.ts';
import { decodeCursor, encodeCursor } from '../../policy/cursor.ts';

export interface RouteDeps {
  store: Store;
  hasher: PasswordHasher;
  defaultLimit: number;
}

/** The value of a policy check, or a 400 naming the field. */
export function must<T>(c: Checked<T>): T {
  if (!c.ok) throw badRequest(c.message);
  return c.value;
}

export function pageArgs(q: { limit?: number; cursor?: string }, defaultLimit: number): { limit: number; after: string | null } {
  let after: string | null = null;
  if (q.cursor !== undefined) {
    after = decodeCursor(q.cursor);
    if (after === null) throw new ApiError('invalid_cursor', 'querystring.cursor is not a cursor this server issued');
  }
  return { limit: q.limit ?? defaultLimit, after };
}

export function pageOut<T>(p: { items: T[]; nextKey: string | null }): { items: T[]; nextCursor: string | null } {
  return { items: p.items, nextCursor: p.nextKey === null ? null : encodeCursor(p.nextKey) };
}
