import { describe, expect, it } from 'vitest';
import { srsForward, srsReverse, type SrsKeys } from './srs.ts';

const keys: SrsKeys = { secret: 'a test secret of some length', maxAgeDays: 21 };
const now = new Date('2025-03-01T12:00:00Z');
const day = 86_400_000;
const fwd = (sender: string, at = now) => {
  const r = srsForward(sender, 'forward.example', keys, at);
  if (!r.ok) throw new Error(r.reason);
  return r.address;
};

describe('SRS', () => {
  it('SRS0: forwards user@orig as SRS0=HHHH=TT=orig=user@ours and reverses it', () => {
    const a = fwd('Alice@Orig.example');
    expect(a).toMatch(/^SRS0=[A-Za-z0-9+/]{4}=[A-Z2-7]{2}=Orig\.example=Alice@forward\.example$/);
    expect(srsReverse(a, keys, now)).toEqual({ kind: 'ok', address: 'Alice@Orig.example' });
    // Local parts lower-cased on the way back still match (libsrs2 compares hashes without case).
    expect(srsReverse(a.toLowerCase(), keys, now)).toEqual({ kind: 'ok', address: 'alice@orig.example' });
  });

  it('a local part with = and + survives', () => {
    const a = fwd('a=b+c@orig.example');
    expect(srsReverse(a, keys, now)).toEqual({ kind: 'ok', address: 'a=b+c@orig.example' });
  });

  it('SRS0 from another forwarder becomes SRS1 keeping that forwarder; SRS1 reverses to its SRS0', () => {
    const other: SrsKeys = { secret: 'the other forwarders secret', maxAgeDays: 21 };
    const first = srsForward('user@orig.example', 'first.example', other, now);
    if (!first.ok) throw new Error();
    const second = fwd(first.address);
    expect(second).toMatch(/^SRS1=[A-Za-z0-9+/]{4}=first\.example==[A-Za-z0-9+/]{4}=[A-Z2-7]{2}=orig\.example=user@forward\.example$/);
    expect(srsReverse(second, keys, now)).toEqual({ kind: 'ok', address: first.address });
    // …and that one, at the first forwarder, to the original sender.
    expect(srsReverse(first.address, other, now)).toEqual({ kind: 'ok', address: 'user@orig.example' });
    // An SRS1 sender forwarded once more keeps the first forwarder and is re-hashed with our secret.
    const third = srsForward(second.replace('@forward.example', '@third.example'), 'forward.example', keys, now);
    expect(third.ok && third.address.split('=').slice(2).join('=')).toBe(second.split('=').slice(2).join('='));
  });

  it('accepts the day it was made and until SRS_MAX_AGE_DAYS, not after', () => {
    const a = fwd('x@orig.example');
    expect(srsReverse(a, keys, new Date(now.getTime() + 21 * day)).kind).toBe('ok');
    expect(srsReverse(a, keys, new Date(now.getTime() + 22 * day))).toEqual({ kind: 'invalid', reason: 'expired' });
    // A stamp from "tomorrow" is one of the previous 1024-day cycle: expired.
    expect(srsReverse(fwd('x@orig.example', new Date(now.getTime() + day)), keys, now)).toEqual({ kind: 'invalid', reason: 'expired' });
  });

  it('refuses a wrong hash, another secret, a bad base32 stamp, malformed and over-long addresses', () => {
    const a = fwd('x@orig.example');
    const [, hash, stamp] = a.split('=');
    const flip = (s: string) => (s[0] === 'A' ? 'B' : 'A') + s.slice(1);
    expect(srsReverse(a.replace(`=${hash}=`, `=${flip(hash!)}=`), keys, now)).toEqual({ kind: 'invalid', reason: 'bad-hash' });
    expect(srsReverse(a.replace('=x@', '=y@'), keys, now)).toEqual({ kind: 'invalid', reason: 'bad-hash' });
    expect(srsReverse(a, { ...keys, secret: 'another secret of some length' }, now)).toEqual({ kind: 'invalid', reason: 'bad-hash' });
    expect(srsReverse(a.replace(`=${stamp}=`, '=1!='), keys, now)).toEqual({ kind: 'invalid', reason: 'bad-timestamp' });
    expect(srsReverse(a.replace(`=${stamp}=`, '=A18='), keys, now)).toEqual({ kind: 'invalid', reason: 'bad-timestamp' });
    expect(srsReverse('SRS0=abcd@forward.example', keys, now)).toEqual({ kind: 'invalid', reason: 'malformed' });
    expect(srsReverse('SRS1=abcd=host.example=nope@forward.example', keys, now)).toEqual({ kind: 'invalid', reason: 'malformed' });
    expect(srsReverse(`SRS0=abcd=AA=orig.example=${'x'.repeat(240)}@forward.example`, keys, now)).toEqual({ kind: 'invalid', reason: 'too-long' });
    expect(srsReverse('alice@forward.example', keys, now)).toEqual({ kind: 'not-srs' });
  });

  it('a rotated secret still reverses addresses made with the previous one', () => {
    const a = fwd('x@orig.example');
    expect(srsReverse(a, { secret: 'the new secret of some length', previous: [keys.secret], maxAgeDays: 21 }, now).kind).toBe('ok');
  });

  it('does not rewrite the null sender, and not when the result would be too long', () => {
    expect(srsForward('', 'forward.example', keys, now)).toEqual({ ok: false, reason: 'null-sender' });
    expect(srsForward(`${'x'.repeat(64)}@${'d'.repeat(63)}.${'e'.repeat(63)}.${'f'.repeat(63)}.example`, 'forward.example', keys, now)).toEqual({ ok: false, reason: 'too-long' });
  });
});
