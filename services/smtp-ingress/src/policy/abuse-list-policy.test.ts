import { describe, expect, it } from 'vitest';
import { blocklistVerdict, buildAbuseLists, type AbuseListEntry } from './abuse-list-policy.ts';

let id = 0;
const net = (list: 'allow' | 'block', network: string, reason = ''): AbuseListEntry => ({ id: ++id, list, network, domain: null, reason });
const dom = (list: 'allow' | 'block', domain: string, reason = ''): AbuseListEntry => ({ id: ++id, list, network: null, domain, reason });

const lists = buildAbuseLists([
  net('block', '198.51.100.0/24', 'spam run'),
  net('allow', '198.51.100.7/32'),
  net('block', '2001:db8::/32', 'v6 spam'),
  net('allow', '2001:db8:1::/48'),
  net('block', '203.0.113.9/32'),
  dom('block', 'spam.example', 'junk'),
  dom('allow', 'partner.example'),
]);

describe('abuse lists', () => {
  it.each([
    ['198.51.100.1', 'block', '198.51.100.0/24'],
    ['198.51.100.7', 'allow', '198.51.100.7/32'], // the allowlist cuts an exception out of a blocked network
    ['::ffff:198.51.100.200', 'block', '198.51.100.0/24'], // IPv4-mapped (dual-stack listener)
    ['2001:db8:ffff::1', 'block', '2001:db8::/32'],
    ['2001:DB8:1:2::3', 'allow', '2001:db8:1::/48'],
    ['203.0.113.9', 'block', '203.0.113.9/32'],
    ['203.0.113.10', null, null],
    ['2001:db9::1', null, null],
    ['not-an-ip', null, null],
  ])('client %s → %s', (ip, list, value) => {
    const hit = lists.client(ip);
    expect(hit?.list ?? null).toBe(list);
    expect(hit?.value ?? null).toBe(value);
  });

  it.each([
    ['a@spam.example', 'block'],
    ['a@mail.SPAM.example', 'block'], // subdomains, any case
    ['a@notspam.example', null], // a label boundary, not a suffix of characters
    ['a@partner.example', 'allow'],
    ['', null], // the null sender
    ['"odd@local"@spam.example', 'block'],
  ])('sender %s → %s', (from, list) => {
    expect(lists.sender(from)?.list ?? null).toBe(list);
  });

  it('blocked client or sender: 554 5.7.1 naming the entry and the reason; allowlisted client: no refusal', () => {
    expect(blocklistVerdict('198.51.100.1', lists.client('198.51.100.1'), null, 'x@y.test')).toEqual({
      kind: 'reject', code: 554, enhanced: '5.7.1', text: 'Client host [198.51.100.1] blocked by the blocklist (198.51.100.0/24): spam run', reason: 'blocklist-client',
    });
    expect(blocklistVerdict('198.51.100.7', lists.client('198.51.100.7'), null, 'x@y.test')).toBeNull();
    const s = blocklistVerdict('198.51.100.7', lists.client('198.51.100.7'), lists.sender('x@mail.spam.example'), 'x@mail.spam.example');
    expect(s).toMatchObject({ code: 554, enhanced: '5.7.1', text: 'Sender domain mail.spam.example blocked by the blocklist (spam.example): junk', reason: 'blocklist-sender' });
  });

  it('the reason and a UTF-8 domain never put control characters or non-ASCII into the reply', () => {
    const l = buildAbuseLists([dom('block', 'bücher.example', 'bad\r\nline\u00e9'), net('block', '192.0.2.0/24')]);
    const v = blocklistVerdict('192.0.2.1', null, l.sender('a@bücher.example'), 'a@bücher.example');
    expect(v?.text).toMatch(/^[\x20-\x7e]+$/);
    expect(blocklistVerdict('192.0.2.1', l.client('192.0.2.1'), null, '')?.text).toBe('Client host [192.0.2.1] blocked by the blocklist (192.0.2.0/24)');
  });
});
