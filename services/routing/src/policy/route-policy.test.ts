import { describe, expect, it } from 'vitest';
import type { Resolution } from '@hopmail/mail';
import { bounceReply, decide, decideInOrder, overQuota, planRecipient, type LockedFacts, type MailboxState, type PlannedMessage, type PlannedRecipient } from './route-policy.ts';

const alice = { id: 1, address: 'alice@example.org' };
const bob = { id: 2, address: 'bob@example.org' };

describe('planRecipient', () => {
  it.each<[Resolution, ReturnType<typeof planRecipient>]>([
    [{ kind: 'ok', mailboxes: [alice], remote: [] }, { kind: 'deliver', mailboxes: [alice], remote: [] }],
    [{ kind: 'ok', mailboxes: [], remote: ['x@remote.test'] }, { kind: 'deliver', mailboxes: [], remote: ['x@remote.test'] }],
    [{ kind: 'not-local' }, { kind: 'relay' }],
    [{ kind: 'unknown' }, { kind: 'bounce', reason: 'unknown' }],
    [{ kind: 'loop' }, { kind: 'bounce', reason: 'loop' }],
    [{ kind: 'too-many' }, { kind: 'bounce', reason: 'too-many' }],
    [{ kind: 'invalid' }, { kind: 'bounce', reason: 'invalid' }],
  ])('%j → %j', (res, plan) => {
    expect(planRecipient(res)).toEqual(plan);
  });
});

describe('bounceReply', () => {
  it.each([
    ['unknown', '550 5.1.1 <a@x.org>: no such user'],
    ['loop', '550 5.4.6 <a@x.org>: alias loop'],
    ['too-many', '550 5.5.3 <a@x.org>: alias expands to too many recipients'],
    ['invalid', '550 5.1.3 <a@x.org>: bad recipient address syntax'],
    ['quota', '552 5.2.2 <a@x.org>: mailbox full'],
  ] as const)('%s', (reason, reply) => {
    expect(bounceReply(reason, 'a@x.org')).toBe(reply);
  });
});

describe('overQuota', () => {
  it.each([
    [{ quotaBytes: 0, usedBytes: 10_000, alreadyHas: false }, 500, false], // 0 = unlimited
    [{ quotaBytes: 1000, usedBytes: 400, alreadyHas: false }, 600, false], // exactly full is allowed
    [{ quotaBytes: 1000, usedBytes: 401, alreadyHas: false }, 600, true],
    [{ quotaBytes: 1000, usedBytes: 0, alreadyHas: false }, 1001, true],
    [{ quotaBytes: 1000, usedBytes: 5000, alreadyHas: true }, 600, false], // redelivered job
  ])('%j + %i → %s', (q, size, expected) => {
    expect(overQuota(q, size)).toBe(expected);
  });
});

const rcpt = (id: number, address: string, plan: PlannedRecipient['plan']): PlannedRecipient => ({ id, address, plan });
const states = (m: Record<number, MailboxState>) => (id: number) => m[id] ?? 'ok';

describe('decide', () => {
  it.each<[string, PlannedRecipient[], Record<number, MailboxState>, boolean, ReturnType<typeof decide>]>([
    [
      'one mailbox: delivered',
      [rcpt(10, 'alice@example.org', { kind: 'deliver', mailboxes: [alice], remote: [] })],
      {},
      false,
      { mailboxRows: [{ mailboxId: 1, recipientId: 10 }], children: [], updates: [{ id: 10, status: 'delivered', reply: null, reason: null }] },
    ],
    [
      'two recipients to one mailbox: one copy, both delivered',
      [
        rcpt(10, 'alias1@example.org', { kind: 'deliver', mailboxes: [alice], remote: [] }),
        rcpt(11, 'alias2@example.org', { kind: 'deliver', mailboxes: [alice], remote: [] }),
      ],
      {},
      false,
      {
        mailboxRows: [{ mailboxId: 1, recipientId: 10 }],
        children: [],
        updates: [
          { id: 10, status: 'delivered', reply: null, reason: null },
          { id: 11, status: 'delivered', reply: null, reason: null },
        ],
      },
    ],
    [
      'alias to local + remote: copy, relay row, expanded',
      [rcpt(10, 'team@example.org', { kind: 'deliver', mailboxes: [alice, bob], remote: ['Dave@Remote.TEST'] })],
      {},
      false,
      {
        mailboxRows: [
          { mailboxId: 1, recipientId: 10 },
          { mailboxId: 2, recipientId: 10 },
        ],
        children: [{ originalId: 10, address: 'Dave@Remote.TEST', domain: 'remote.test', status: 'relay', reply: null }],
        updates: [{ id: 10, status: 'expanded', reply: null, reason: null }],
      },
    ],
    [
      'alias to two local mailboxes: both copies, expanded (RFC 3461 §6.2.7.3)',
      [rcpt(10, 'pair@example.org', { kind: 'deliver', mailboxes: [alice, bob], remote: [] })],
      {},
      false,
      {
        mailboxRows: [
          { mailboxId: 1, recipientId: 10 },
          { mailboxId: 2, recipientId: 10 },
        ],
        children: [],
        updates: [{ id: 10, status: 'expanded', reply: null, reason: null }],
      },
    ],
    [
      'alias to exactly one remote address: its row takes the DSN request over (RFC 3461 §6.2.7.2)',
      [rcpt(10, 'fwd@example.org', { kind: 'deliver', mailboxes: [], remote: ['dave@remote.test'] })],
      {},
      false,
      {
        mailboxRows: [],
        children: [{ originalId: 10, address: 'dave@remote.test', domain: 'remote.test', status: 'relay', reply: null, passOn: true }],
        updates: [{ id: 10, status: 'expanded', reply: null, reason: null }],
      },
    ],
    [
      'non-local envelope recipient: relay itself',
      [rcpt(10, 'x@remote.test', { kind: 'relay' })],
      {},
      false,
      { mailboxRows: [], children: [], updates: [{ id: 10, status: 'relay', reply: null, reason: null }] },
    ],
    [
      'unknown: bounced 5.1.1',
      [rcpt(10, 'nobody@example.org', { kind: 'bounce', reason: 'unknown' })],
      {},
      false,
      { mailboxRows: [], children: [], updates: [{ id: 10, status: 'bounced', reply: '550 5.1.1 <nobody@example.org>: no such user', reason: 'unknown' }] },
    ],
    [
      'unknown with the null sender: failed (no DSN to send)',
      [rcpt(10, 'nobody@example.org', { kind: 'bounce', reason: 'unknown' })],
      {},
      true,
      { mailboxRows: [], children: [], updates: [{ id: 10, status: 'failed', reply: '550 5.1.1 <nobody@example.org>: no such user', reason: 'unknown' }] },
    ],
    [
      'loop: bounced 5.4.6',
      [rcpt(10, 'loop@example.org', { kind: 'bounce', reason: 'loop' })],
      {},
      false,
      { mailboxRows: [], children: [], updates: [{ id: 10, status: 'bounced', reply: '550 5.4.6 <loop@example.org>: alias loop', reason: 'loop' }] },
    ],
    [
      'single mailbox over quota: bounced 5.2.2, no copy',
      [rcpt(10, 'alice@example.org', { kind: 'deliver', mailboxes: [alice], remote: [] })],
      { 1: 'full' },
      false,
      { mailboxRows: [], children: [], updates: [{ id: 10, status: 'bounced', reply: '552 5.2.2 <alice@example.org>: mailbox full', reason: 'quota' }] },
    ],
    [
      'mailbox deleted since RCPT: bounced 5.1.1',
      [rcpt(10, 'alice@example.org', { kind: 'deliver', mailboxes: [alice], remote: [] })],
      { 1: 'gone' },
      false,
      { mailboxRows: [], children: [], updates: [{ id: 10, status: 'bounced', reply: '550 5.1.1 <alice@example.org>: no such user', reason: 'unknown' }] },
    ],
    [
      'alias with one full target: the other gets its copy, the full one its own bounced row',
      [rcpt(10, 'team@example.org', { kind: 'deliver', mailboxes: [alice, bob], remote: [] })],
      { 2: 'full' },
      false,
      {
        mailboxRows: [{ mailboxId: 1, recipientId: 10 }],
        children: [{ originalId: 10, address: 'bob@example.org', domain: 'example.org', status: 'bounced', reply: '552 5.2.2 <bob@example.org>: mailbox full' }],
        updates: [{ id: 10, status: 'expanded', reply: null, reason: null }],
      },
    ],
    [
      'alias whose targets all failed for different reasons: the original bounces as unknown',
      [rcpt(10, 'team@example.org', { kind: 'deliver', mailboxes: [alice, bob], remote: [] })],
      { 1: 'full', 2: 'gone' },
      false,
      { mailboxRows: [], children: [], updates: [{ id: 10, status: 'bounced', reply: '550 5.1.1 <team@example.org>: no such user', reason: 'unknown' }] },
    ],
    [
      'alias whose targets are all full: the original bounces 5.2.2',
      [rcpt(10, 'team@example.org', { kind: 'deliver', mailboxes: [alice, bob], remote: [] })],
      { 1: 'full', 2: 'full' },
      false,
      { mailboxRows: [], children: [], updates: [{ id: 10, status: 'bounced', reply: '552 5.2.2 <team@example.org>: mailbox full', reason: 'quota' }] },
    ],
    [
      'deliver plan with no targets (never produced by the resolver): bounced, not dropped',
      [rcpt(10, 'odd@example.org', { kind: 'deliver', mailboxes: [], remote: [] })],
      {},
      false,
      { mailboxRows: [], children: [], updates: [{ id: 10, status: 'bounced', reply: '550 5.1.1 <odd@example.org>: no such user', reason: 'unknown' }] },
    ],
  ])('%s', (_name, recipients, mb, nullSender, expected) => {
    expect(decide(recipients, states(mb), nullSender)).toEqual(expected);
  });

  it('accounts for every recipient: one update per original, never fewer', () => {
    const rs = [
      rcpt(1, 'a@example.org', { kind: 'deliver', mailboxes: [alice], remote: ['r@remote.test'] }),
      rcpt(2, 'b@example.org', { kind: 'bounce', reason: 'loop' }),
      rcpt(3, 'c@remote.test', { kind: 'relay' }),
      rcpt(4, 'd@example.org', { kind: 'deliver', mailboxes: [bob], remote: [] }),
    ];
    const out = decide(rs, states({ 2: 'full' }), false);
    expect(out.updates.map((u) => u.id)).toEqual([1, 2, 3, 4]);
  });
});

describe('decideInOrder', () => {
  const toAlice = (messageId: string, id: number, size: number): PlannedMessage => ({
    messageId,
    size,
    nullSender: false,
    planned: [rcpt(id, 'alice@example.org', { kind: 'deliver', mailboxes: [alice], remote: [] })],
  });
  const facts = (over: Partial<LockedFacts> = {}): LockedFacts => ({
    queued: new Set([10, 11, 12]),
    mailboxes: new Map([[1, { quotaBytes: 1000, usedBytes: 400 }]]),
    held: new Map(),
    ...over,
  });
  const statuses = (ds: ReturnType<typeof decideInOrder>) => ds.map((d) => d && d.updates.map((u) => u.status));

  it("counts each message's copy against the quota before deciding the next", () => {
    const ds = decideInOrder([toAlice('m1', 10, 300), toAlice('m2', 11, 300), toAlice('m3', 12, 300)], facts());
    expect(statuses(ds)).toEqual([['delivered'], ['delivered'], ['bounced']]);
    expect(ds[2]!.updates[0]!.reply).toBe('552 5.2.2 <alice@example.org>: mailbox full');
  });

  it('a message the mailbox already holds neither counts against itself nor fills it for the next', () => {
    const ds = decideInOrder([toAlice('m1', 10, 600), toAlice('m2', 11, 600)], facts({ mailboxes: new Map([[1, { quotaBytes: 1000, usedBytes: 900 }]]), held: new Map([[1, new Set(['m1'])]]) }));
    expect(statuses(ds)).toEqual([['delivered'], ['bounced']]);
    const roomy = decideInOrder([toAlice('m1', 10, 600), toAlice('m2', 11, 600)], facts({ mailboxes: new Map([[1, { quotaBytes: 1000, usedBytes: 0 }]]), held: new Map([[1, new Set(['m1'])]]) }));
    expect(statuses(roomy)).toEqual([['delivered'], ['delivered']]);
  });

  it('unlimited mailboxes never fill; a mailbox not found is gone; recipients no longer queued are left out', () => {
    const unlimited = facts({ mailboxes: new Map([[1, { quotaBytes: 0, usedBytes: 0 }]]) });
    expect(statuses(decideInOrder([toAlice('m1', 10, 5000), toAlice('m2', 11, 5000)], unlimited))).toEqual([['delivered'], ['delivered']]);
    const gone = decideInOrder([toAlice('m1', 10, 1)], facts({ mailboxes: new Map() }));
    expect(gone[0]!.updates[0]!.reply).toBe('550 5.1.1 <alice@example.org>: no such user');
    const both: PlannedMessage = { ...toAlice('m1', 10, 1), planned: [...toAlice('m1', 10, 1).planned, rcpt(13, 'x@remote.test', { kind: 'relay' })] };
    const taken = decideInOrder([both, toAlice('m2', 14, 1)], facts({ queued: new Set([13]) }));
    expect(taken).toEqual([{ mailboxRows: [], children: [], updates: [{ id: 13, status: 'relay', reply: null, reason: null }] }, null]);
  });
});
