import { hash, verify } from '@node-rs/argon2';

// Argon2id with the library's defaults (m=19 MiB, t=2, p=1), the same parameters the
// admin API stores; the dummy hash must cost what a real one costs.
export function hashPassword(password: string | Buffer): Promise<string> {
  return hash(password);
}

let dummy: Promise<string> | undefined;

/** A hash nobody's password matches, verified for unknown users so they cost the same. */
export function dummyHash(): Promise<string> {
  dummy ??= hashPassword(`hopmail-dummy-${Math.random()}`);
  return dummy;
}

/** Never throws: a malformed or non-Argon2id stored hash simply does not match. */
export async function verifyPassword(stored: string | null, password: Buffer): Promise<boolean> {
  const usable = stored !== null && stored.startsWith('$argon2id$');
  try {
    const ok = await verify(usable ? stored : await dummyHash(), password);
    return usable && ok;
  } catch {
    return false;
  }
}
