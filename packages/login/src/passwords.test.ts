import { describe, expect, it } from 'vitest';
import { hash } from '@node-rs/argon2';
import { waitFor } from '@hopmail/test-kit';
import { dummyHash, hashPassword, verifyPassword } from './passwords.ts';

describe('verifyPassword', () => {
  it('accepts the right password and refuses others, never throwing', async () => {
    const h = await hashPassword('correct horse');
    expect(h.startsWith('$argon2id$')).toBe(true);
    expect(await verifyPassword(h, Buffer.from('correct horse'))).toBe(true);
    expect(await verifyPassword(h, Buffer.from('wrong'))).toBe(false);
    expect(await verifyPassword(null, Buffer.from('anything'))).toBe(false);
    expect(await verifyPassword('not a hash', Buffer.from('x'))).toBe(false);
    expect(await verifyPassword('', Buffer.from(''))).toBe(false);
  });

  it('refuses non-Argon2id hashes even when the password matches', async () => {
    const argon2i = await hash('pw', { algorithm: 1 as never });
    expect(argon2i.startsWith('$argon2i$')).toBe(true);
    expect(await verifyPassword(argon2i, Buffer.from('pw'))).toBe(false);
  });

  it('the dummy hash follows the parameters of the real hashes it meets', async () => {
    await dummyHash();
    const heavier = await hash('pw', { memoryCost: 8192, timeCost: 3, parallelism: 1 });
    expect(await verifyPassword(heavier, Buffer.from('pw'))).toBe(true);
    await waitFor(async () => /^\$argon2id\$v=19\$m=8192,t=3,p=1\$/.test(await dummyHash()), { what: 'heavier dummy' });
    await verifyPassword(await hashPassword('x'), Buffer.from('x'));
    await waitFor(async () => /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/.test(await dummyHash()), { what: 'default dummy' });
  });

  it('costs about the same for an unknown user (dummy hash) as for a real one', async () => {
    const real = await hashPassword('pw');
    await dummyHash();
    const time = async (stored: string | null) => {
      const t0 = performance.now();
      for (let i = 0; i < 3; i++) await verifyPassword(stored, Buffer.from('guess'));
      return performance.now() - t0;
    };
    const [known, unknown] = [await time(real), await time(null)];
    // Same parameters, same work: within a wide factor on a busy CI machine.
    expect(unknown / known).toBeGreaterThan(0.33);
    expect(unknown / known).toBeLessThan(3);
  });
});
