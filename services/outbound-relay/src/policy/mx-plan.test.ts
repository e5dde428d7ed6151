import { describe, expect, it } from 'vitest';
import { isLoop, planMx } from './mx-plan.ts';

describe('planMx', () => {
  it('orders by preference, random among equals', () => {
    const recs = [
      { exchange: 'c.example', priority: 20 },
      { exchange: 'a.example', priority: 10 },
      { exchange: 'b.example', priority: 10 },
    ];
    const seen = new Set<string>();
    for (let i = 0; i < 50; i++) {
      const p = planMx('example', recs);
      if (p.kind !== 'hosts') throw new Error('expected hosts');
      expect(p.hosts[2]).toBe('c.example');
      seen.add(p.hosts[0]!);
    }
    expect(seen).toEqual(new Set(['a.example', 'b.example']));
  });
  it('no MX records → implicit MX', () => {
    expect(planMx('example.org', 'nodata')).toEqual({ kind: 'hosts', hosts: ['example.org'], implicit: true });
  });
  it('Null MX (RFC 7505)', () => {
    expect(planMx('example.org', [{ exchange: '', priority: 0 }])).toEqual({ kind: 'null-mx' });
    expect(planMx('example.org', [{ exchange: '.', priority: 0 }])).toEqual({ kind: 'null-mx' });
  });
  it('Null MX mixed with real MX uses the real ones', () => {
    expect(planMx('x', [{ exchange: '', priority: 0 }, { exchange: 'mx.x', priority: 5 }])).toEqual({ kind: 'hosts', hosts: ['mx.x'], implicit: false });
  });
});

describe('isLoop', () => {
  const base = { ourHostname: 'mx.hopmail.test', ownAddresses: new Set(['192.0.2.7']), allowLoopback: false };
  it.each([
    ['MX.hopmail.test.', '203.0.113.5', false, true],
    ['mx.other', '127.0.0.5', false, true],
    ['mx.other', '::1', false, true],
    ['mx.other', '192.0.2.7', false, true],
    ['mx.other', '203.0.113.5', false, false],
    ['mx.other', '127.0.0.5', true, false],
    ['mx.hopmail.test', '127.0.0.5', true, true],
  ])('%s at %s (allow loopback %s) → loop %s', (mxHost, ip, allowLoopback, loop) => {
    expect(isLoop({ ...base, mxHost, ip, allowLoopback })).toBe(loop);
  });
});
