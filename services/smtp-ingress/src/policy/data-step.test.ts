// The DATA step in memory: facts and bytes in, a decision out — no socket, no database.
import { describe, expect, it } from 'vitest';
import type { MailboxRef } from '@hopmail/mail';
import type { Accounts } from '../ports.ts';
import type { SessionFacts } from '../session.ts';
import { createDataStep, type DataDecision, type DataInput } from './data-step.ts';

const ID = '0190a0b0-0000-7000-8000-000000000000';
const DATE = new Date(Date.UTC(2026, 10, 28, 9, 5, 7));
const STAMP = 'Sat, 28 Nov 2026 09:05:07 +0000';
const ALICE: MailboxRef = { id: 1, address: 'alice@example.org' };

/** Alice owns her address (any case), its subaddresses and the alias team@example.org; `down@…` makes the directory fail. */
const accounts: Accounts = {
  authenticate: async () => null,
  async owns(user, address) {
    if (address.startsWith('down@')) throw new Error('directory unreachable');
    const a = address.toLowerCase();
    return a === user.address.toLowerCase() || a === 'alice+news@example.org' || a === 'team@example.org';
  },
};

const step = createDataStep({ accounts, hostname: 'mx.test', maxMessageSize: 1000, maxReceivedHeaders: 3 });

const facts = (over: Partial<SessionFacts> = {}, transaction: Partial<SessionFacts['transaction']> = {}): SessionFacts => ({
  sessionId: 's1',
  remoteIp: '192.0.2.1',
  clientHostname: null,
  helo: 'client.test',
  ehlo: true,
  tls: false,
  tlsCipher: null,
  tlsVersion: null,
  servername: null,
  ...over,
  transaction: { key: {}, mailFrom: 'sender@remote.test', smtputf8: false, ...transaction },
});

const bytes = (text: string, chunkSize = 7): DataInput['message'] => {
  const all = Buffer.from(text, 'utf8');
  const chunks: Buffer[] = [];
  for (let i = 0; i < all.length; i += chunkSize) chunks.push(all.subarray(i, i + chunkSize));
  return { kind: 'complete', chunks, size: all.length, wireBytes: all.length + 5 };
};

const MSG = 'From: <sender@remote.test>\r\nSubject: hi\r\nDate: Fri, 27 Nov 2026 10:00:00 +0000\r\nMessage-ID: <m1@remote.test>\r\n\r\nHello.\r\n';
const submitted = (from: string, extra = 'Date: Fri, 27 Nov 2026 10:00:00 +0000\r\nMessage-ID: <s1@client.test>\r\n') => `${from ? `From: ${from}\r\n` : ''}Subject: s\r\n${extra}\r\nBody.\r\n`;
const received = (n: number) => 'Received: from a by b; x\r\n'.repeat(n);

interface Row {
  name: string;
  message: DataInput['message'];
  session?: SessionFacts;
  user?: MailboxRef | null;
  recipients?: string[];
  expected: string;
}

const outcome = (d: DataDecision) => (d.kind === 'commit' ? 'commit' : `${d.verdict.code} ${d.verdict.enhanced} ${d.verdict.reason}`);
const run = (row: Pick<Row, 'message' | 'session' | 'user' | 'recipients'>) =>
  step({ id: ID, date: DATE, session: row.session ?? facts(), recipients: row.recipients ?? ['alice@example.org'], user: row.user ?? null, message: row.message });

describe('createDataStep: what the DATA reply is', () => {
  const rows: Row[] = [
    { name: 'a clean message on the MX', message: bytes(MSG), expected: 'commit' },
    { name: 'past SMTP_MAX_MESSAGE_SIZE', message: { kind: 'too-big', wireBytes: 5000 }, expected: '552 5.3.4 too-big' },
    { name: 'a bare LF (smuggling)', message: bytes('Subject: x\r\n\r\na\n.\nMAIL FROM:<x@y>\r\n'), expected: '550 5.6.0 bare-line-ending' },
    { name: 'a bare CR', message: bytes('Subject: x\r\n\r\na\r.\r\n'), expected: '550 5.6.0 bare-line-ending' },
    { name: 'as many Received: fields as allowed', message: bytes(received(3) + MSG), expected: 'commit' },
    { name: 'one Received: field too many (a loop)', message: bytes(received(4) + MSG), expected: '554 5.4.6 mail-loop' },
    { name: 'MX: a From: that is not the sender is nobody’s business', message: bytes(submitted('<bob@elsewhere.test>')), expected: 'commit' },
    { name: 'submission: own From:', user: ALICE, message: bytes(submitted('Alice <ALICE@example.org>')), expected: 'commit' },
    { name: 'submission: From: a subaddress and an alias of hers', user: ALICE, message: bytes(submitted('alice+news@example.org, team@example.org')), expected: 'commit' },
    { name: 'submission: From: someone else', user: ALICE, message: bytes(submitted('<bob@example.org>')), expected: '553 5.7.1 from-not-owned' },
    { name: 'submission: one of two From: addresses is someone else', user: ALICE, message: bytes(submitted('alice@example.org, bob@example.org')), expected: '553 5.7.1 from-not-owned' },
    { name: 'submission: no From:', user: ALICE, message: bytes(submitted('')), expected: '550 5.6.0 from-missing' },
    { name: 'submission: an empty From:', user: ALICE, message: bytes(submitted('undisclosed:;')), expected: '550 5.6.0 from-missing' },
    {
      name: 'submission: more From: addresses than anyone has',
      user: ALICE,
      message: bytes(submitted(Array.from({ length: 21 }, () => 'alice@example.org').join(', '))),
      expected: '550 5.6.0 from-too-many',
    },
    { name: 'submission: the directory is unreachable', user: ALICE, message: bytes(submitted('down@example.org')), expected: '451 4.3.0 lookup-failed' },
    { name: 'submission: size and smuggling checks come first', user: ALICE, message: bytes('From: bob@example.org\r\n\r\nx\n'), expected: '550 5.6.0 bare-line-ending' },
  ];
  it.each(rows)('$name → $expected', async (row) => {
    expect(outcome(await run(row))).toBe(row.expected);
  });
});

describe('createDataStep: what is committed', () => {
  it('prepends the Received: field to the bytes as received and records the envelope and session', async () => {
    const d = await run({ message: bytes(MSG), recipients: ['alice@example.org'] });
    expect(d).toEqual({
      kind: 'commit',
      message: {
        id: ID,
        raw: Buffer.from(`Received: from client.test ([192.0.2.1])\r\n\tby mx.test (Hopmail) with ESMTP id ${ID}\r\n\tfor <alice@example.org>; ${STAMP}\r\n${MSG}`),
        mailFrom: 'sender@remote.test',
        recipients: ['alice@example.org'],
        clientIp: '192.0.2.1',
        clientHelo: 'client.test',
        authUser: null,
        tls: false,
        smtputf8: false,
        body8bit: false,
        bodyBinary: false,
        headerMessageId: '<m1@remote.test>',
        requireTls: false,
      },
    });
  });

  it.each([
    ['HELO, no TLS', { ehlo: false }, {}, 'from client.test ([192.0.2.1])', 'SMTP', false],
    ['EHLO', { ehlo: true }, {}, 'from client.test ([192.0.2.1])', 'ESMTP', false],
    ['STARTTLS, reverse DNS known', { tls: true, clientHostname: 'host.remote.test' }, {}, 'from client.test (host.remote.test [192.0.2.1])', 'ESMTPS', false],
    ['AUTH over TLS', { tls: true }, {}, 'from client.test ([192.0.2.1])', 'ESMTPSA', true],
    ['SMTPUTF8', {}, { smtputf8: true }, 'from client.test ([192.0.2.1])', 'UTF8SMTP', false],
    ['no HELO name, IPv6', { helo: null, remoteIp: '2001:db8::1' }, {}, 'from 2001:db8::1 ([IPv6:2001:db8::1])', 'ESMTP', false],
    ['a HELO name that would break the field', { helo: 'evil) (x;y' }, {}, 'from evil___x_y ([192.0.2.1])', 'ESMTP', false],
  ] as const)('%s: Received: %s with %s', async (_name, over, transaction, from, protocol, auth) => {
    const session = facts(over, transaction);
    const d = await run({ session, user: auth ? ALICE : null, message: bytes(submitted('alice@example.org')) });
    if (d.kind !== 'commit') throw new Error(outcome(d));
    const head = d.message.raw.toString('utf8').split('\r\n').slice(0, 2).join('\r\n');
    expect(head).toBe(`Received: ${from}\r\n\tby mx.test (Hopmail) with ${protocol} id ${ID}`);
    expect(d.message).toMatchObject({ tls: session.tls, smtputf8: session.transaction.smtputf8, authUser: auth ? 'alice@example.org' : null, clientHelo: session.helo });
  });

  it('names no recipient in the Received: field when there are several (no Bcc disclosure)', async () => {
    const d = await run({ message: bytes(MSG), recipients: ['alice@example.org', 'bob@example.org'] });
    if (d.kind !== 'commit') throw new Error(outcome(d));
    expect(d.message.raw.toString('utf8')).toContain(`id ${ID};\r\n\t${STAMP}\r\n${MSG}`);
    expect(d.message.recipients).toEqual(['alice@example.org', 'bob@example.org']);
  });

  it('sees 8-bit bodies', async () => {
    const d = await run({ message: bytes(`Subject: x\r\n\r\nzürich\r\n`) });
    expect(d.kind === 'commit' && d.message.body8bit).toBe(true);
  });

  it('submission: adds Date and Message-ID after the Received: field when missing (RFC 6409 §8.2, §8.3)', async () => {
    const body = submitted('alice@example.org', '');
    const d = await run({ session: facts({ tls: true }), user: ALICE, message: bytes(body) });
    if (d.kind !== 'commit') throw new Error(outcome(d));
    const text = d.message.raw.toString('utf8');
    expect(text.endsWith(`\r\nDate: ${STAMP}\r\nMessage-ID: <${ID}@mx.test>\r\n${body}`)).toBe(true);
    expect(text.startsWith('Received: ')).toBe(true);
    expect(d.message.headerMessageId).toBe(`<${ID}@mx.test>`);
  });

  it('submission: leaves a message that has both alone', async () => {
    const body = submitted('alice@example.org');
    const d = await run({ session: facts({ tls: true }), user: ALICE, message: bytes(body) });
    if (d.kind !== 'commit') throw new Error(outcome(d));
    expect(d.message.raw.toString('utf8').endsWith(`; ${STAMP}\r\n${body}`)).toBe(true);
    expect(d.message.headerMessageId).toBe('<s1@client.test>');
  });

  it('says which From: address could not be looked up', async () => {
    const d = await run({ user: ALICE, message: bytes(submitted('alice@example.org, down@example.org')) });
    expect(d).toMatchObject({ kind: 'refuse', lookupFailure: { address: 'down@example.org', error: expect.any(Error) } });
  });
});
