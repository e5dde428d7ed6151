import { describe, expect, it } from 'vitest';
import { DEFAULT_RESOLVE_OPTIONS, resolveRecipient, type Directory, type Resolution } from './resolve.ts';

// An in-memory Directory: the resolver is pure apart from these lookups.
function directory(data: { domains: Record<string, 'local' | 'relay'>; mailboxes: string[]; aliases: Record<string, string[]> }, caseSensitive = false): Directory {
  const norm = (a: string) => (caseSensitive ? a.replace(/@.*/, (d) => d.toLowerCase()) : a.toLowerCase());
  const mailboxes = new Map(data.mailboxes.map((a, i) => [norm(a), { id: i + 1, address: a }]));
  const aliases = new Map(Object.entries(data.aliases).map(([k, v]) => [norm(k), v]));
  return {
    domainKind: async (d) => data.domains[d.toLowerCase()] ?? null,
    findMailbox: async (a) => mailboxes.get(norm(a)) ?? null,
    findAlias: async (s) => aliases.get(norm(s)) ?? null,
  };
}

const dir = directory({
  domains: { 'example.org': 'local', 'other.org': 'local', 'relay.net': 'relay' },
  mailboxes: ['alice@example.org', 'bob@example.org', 'carol@other.org'],
  aliases: {
    'team@example.org': ['alice@example.org', 'bob@example.org', 'dave@remote.com'],
    'nested@example.org': ['team@example.org', 'carol@other.org'],
    'loop1@example.org': ['loop2@example.org'],
    'loop2@example.org': ['loop1@example.org'],
    'copy@example.org': ['alice@example.org'],
    'alice@example.org': ['alice@example.org', 'archive@remote.com'],
    '@other.org': ['@example.org'],
    'dup@example.org': ['team@example.org', 'alice@example.org'],
    'partial@example.org': ['bob@example.org', 'loop1@example.org'],
    'cased@example.org': ['Dave@Remote.com', 'dave@remote.com', 'dave@REMOTE.COM'],
  },
});

const ids = (r: Resolution) => (r.kind === 'ok' ? { mailboxes: r.mailboxes.map((m) => m.address).sort(), remote: [...r.remote].sort() } : r.kind);

describe('resolveRecipient', () => {
  it.each([
    ['bob@example.org', { mailboxes: ['bob@example.org'], remote: [] }],
    ['BOB@Example.ORG', { mailboxes: ['bob@example.org'], remote: [] }],
    ['bob+news@example.org', { mailboxes: ['bob@example.org'], remote: [] }],
    ['team@example.org', { mailboxes: ['alice@example.org', 'bob@example.org'], remote: ['archive@remote.com', 'dave@remote.com'] }],
    ['nested@example.org', { mailboxes: ['alice@example.org', 'bob@example.org', 'carol@other.org'], remote: ['archive@remote.com', 'dave@remote.com'] }],
    // alias named like a mailbox that keeps a copy and forwards one
    ['alice@example.org', { mailboxes: ['alice@example.org'], remote: ['archive@remote.com'] }],
    // catch-all with domain rewrite: carol exists at other.org; anyone else is rewritten
    ['carol@other.org', { mailboxes: ['carol@other.org'], remote: [] }],
    ['bob@other.org', { mailboxes: ['bob@example.org'], remote: [] }],
    // two paths to one mailbox: one copy
    ['dup@example.org', { mailboxes: ['alice@example.org', 'bob@example.org'], remote: ['archive@remote.com', 'dave@remote.com'] }],
    // remote local parts are the remote host's business: case kept apart, domain case not
    ['cased@example.org', { mailboxes: [], remote: ['Dave@remote.com', 'dave@remote.com'] }],
    ['nobody@example.org', 'unknown'],
    ['nobody@nowhere.com', 'not-local'],
    ['x@relay.net', 'not-local'],
    ['loop1@example.org', 'loop'],
    // one looping branch fails the recipient instead of silently dropping that branch
    ['partial@example.org', 'loop'],
    ['not an address', 'invalid'],
  ])('%s', async (addr, expected) => {
    expect(ids(await resolveRecipient(addr, dir))).toEqual(expected);
  });

  it('honours case-sensitive local parts when configured', async () => {
    const cs = directory({ domains: { 'x.org': 'local' }, mailboxes: ['Bob@x.org'], aliases: {} }, true);
    const opts = { ...DEFAULT_RESOLVE_OPTIONS, localPartCaseSensitive: true };
    expect(ids(await resolveRecipient('Bob@X.ORG', cs, opts))).toEqual({ mailboxes: ['Bob@x.org'], remote: [] });
    expect(ids(await resolveRecipient('bob@x.org', cs, opts))).toBe('unknown');
  });

  it('stops deep alias chains', async () => {
    const aliases: Record<string, string[]> = {};
    for (let i = 0; i < 20; i++) aliases[`a${i}@x.org`] = [`a${i + 1}@x.org`];
    const deep = directory({ domains: { 'x.org': 'local' }, mailboxes: ['a20@x.org'], aliases });
    expect(ids(await resolveRecipient('a0@x.org', deep))).toBe('loop');
    expect(ids(await resolveRecipient('a0@x.org', deep, { ...DEFAULT_RESOLVE_OPTIONS, maxDepth: 25 }))).toEqual({ mailboxes: ['a20@x.org'], remote: [] });
  });

  it('limits the number of expanded targets', async () => {
    const many = directory({ domains: { 'x.org': 'local' }, mailboxes: [], aliases: { 'all@x.org': Array.from({ length: 50 }, (_, i) => `u${i}@remote.com`) } });
    expect(ids(await resolveRecipient('all@x.org', many, { ...DEFAULT_RESOLVE_OPTIONS, maxTargets: 10 }))).toBe('too-many');
  });
});
