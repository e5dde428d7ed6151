import { hash, verify } from '@node-rs/argon2';

// Argon2id with the library's defaults (m=19 MiB, t=2, p=1), the admin API's defaults too.
export function hashPassword(password: string | Buffer): Promise<string> {
  return hash(password);
}

const PHC_PARAMS = /^\$argon2id\$v=\d+\$m=(\d+),t=(\d+),p=(\d+)\$/;
let dummy: Promise<string> | undefined;
let dummyParams = '';

/** A hash nobody's password matches, verified for unknown users so they cost the same. */
export function dummyHash(): Promise<string> {
  dummy ??= hashPassword(`hopmail-dummy-${Math.random()}`).then((h) => {
    dummyParams ||= PHC_PARAMS.exec(h)?.slice(1).join(',') ?? '';
    return h;
  });
  return dummy;
}

/**
 * The admin API's Argon2 parameters are configurable: the dummy follows the parameters of
 * the real hashes we see, so an unknown user keeps costing what a known one costs.
 */
function follow(stored: string): void {
  const m = PHC_PARAMS.exec(stored);
  if (!m || !dummyParams) return;
  const params = m.slice(1).join(',');
  if (params === dummyParams) return;
  dummyParams = params;
  const [memoryCost, timeCost, parallelism] = m.slice(1).map(Number);
  const next = hash(`hopmail-dummy-${Math.random()}`, { memoryCost, timeCost, parallelism });
  // Keep the old dummy until the new one exists, so no login waits for it.
  next.then((h) => (dummy = Promise.resolve(h)), () => {});
}

/** Never throws: a malformed or non-Argon2id stored hash simply does not match. */
export async function verifyPassword(stored: string | null, password: Buffer): Promise<boolean> {
  const usable = stored !== null && stored.startsWith('$argon2id$');
  if (usable) follow(stored);
  try {
    const ok = await verify(usable ? stored : await dummyHash(), password);
    return usable && ok;
  } catch {
    return false;
  }
}
