import { describe, expect, it } from 'vitest';
import { planEnvelopes } from './envelope.ts';

const srs = { secret: 'a secret of at least 16', maxAgeDays: 21 };
const now = new Date('2025-01-01T00:00:00Z');
const r = (id: number, viaDomain: string | null) => ({ id, viaDomain });

describe('planEnvelopes', () => {
  it('envelope recipients keep the sender; alias targets from outside senders get SRS, one group per alias domain', () => {
    const g = planEnvelopes({ mailFrom: 'ceo@bank.example', senderIsOurs: false, recipients: [r(1, null), r(2, 'a.example'), r(3, 'b.example'), r(4, 'a.example')], srs, now });
    expect(g.map((x) => [x.recipients.map((y) => y.id), x.forwardedBy, x.srs?.result ?? null])).toEqual([
      [[1], null, null],
      [[2, 4], 'a.example', 'rewritten'],
      [[3], 'b.example', 'rewritten'],
    ]);
    expect(g[0]!.mailFrom).toBe('ceo@bank.example');
    expect(g[1]!.mailFrom).toMatch(/^SRS0=.{4}=..=bank\.example=ceo@a\.example$/);
  });

  it('a sender of our own domains passes SPF already: no SRS, no seal', () => {
    const g = planEnvelopes({ mailFrom: 'alice@a.example', senderIsOurs: true, recipients: [r(1, 'a.example')], srs, now });
    expect(g).toEqual([{ recipients: [r(1, 'a.example')], mailFrom: 'alice@a.example', forwardedBy: null, srs: null }]);
  });

  it('the null sender is forwarded (and sealed) as <>', () => {
    const g = planEnvelopes({ mailFrom: '', senderIsOurs: false, recipients: [r(1, 'a.example')], srs, now });
    expect(g).toEqual([{ recipients: [r(1, 'a.example')], mailFrom: '', forwardedBy: 'a.example', srs: { result: 'not-rewritten', reason: 'null-sender' } }]);
  });
});
