import { describe, expect, it } from 'vitest';
import { orderAddresses, type AddressOrder } from './address-order.ts';

const ips = ['192.0.2.1', '192.0.2.2', '192.0.2.3', '2001:db8::1', '2001:db8::2'];

describe('orderAddresses (RFC 8305 §4)', () => {
  it.each<[AddressOrder, string[]]>([
    ['ipv6', ['2001:db8::1', '192.0.2.1', '2001:db8::2', '192.0.2.2', '192.0.2.3']],
    ['ipv4', ['192.0.2.1', '2001:db8::1', '192.0.2.2', '2001:db8::2', '192.0.2.3']],
    ['ipv6-first', ['2001:db8::1', '2001:db8::2', '192.0.2.1', '192.0.2.2', '192.0.2.3']],
    ['ipv4-first', ['192.0.2.1', '192.0.2.2', '192.0.2.3', '2001:db8::1', '2001:db8::2']],
    ['ipv6-only', ['2001:db8::1', '2001:db8::2']],
    ['ipv4-only', ['192.0.2.1', '192.0.2.2', '192.0.2.3']],
  ])('%s', (order, want) => expect(orderAddresses(ips, order)).toEqual(want));

  it('one family only: that family whatever the preference, except *-only of the other', () => {
    expect(orderAddresses(['192.0.2.1', '192.0.2.2'], 'ipv6')).toEqual(['192.0.2.1', '192.0.2.2']);
    expect(orderAddresses(['192.0.2.1'], 'ipv6-only')).toEqual([]);
  });
});
