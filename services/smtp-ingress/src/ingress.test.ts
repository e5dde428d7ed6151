// The ingress behind its ports, in memory: SessionFacts in, verdicts, commits, log lines and
// counters out — no smtp-server, no socket, no database. (The same steps over real sockets,
// PostgreSQL and Redis: transcript, storage and submission tests.)
import { describe, expect, it } from 'vitest';
import type { NewMessage } from '@hopmail/db';
import type { Directory } from '@hopmail/mail';
import { createLogger, createRegistry } from '@hopmail/service-kit';
import { IngressError } from './errors.ts';
import { EVENTS } from './events.ts';
import { createIngress } from './ingress.ts';
import { createMetrics } from './metrics.ts';
import type { CollectedMessage } from './policy/data-step.ts';
import type { Accounts, MessageStore } from './ports.ts';
import type { SessionFacts } from './session.ts';

const MAILBOXES = new Map([['alice@example.org', { id: 1, address: 'alice@example.org' }]]);
const directory: Directory = {
  domainKind: async (d) => (d === 'example.org' || d === 'mx.test' ? 'local' : null),
  findMailbox: async (a) => MAILBOXES.get(a) ?? null,
  findAlias: async (s) => (s === 'postmaster@mx.test' ? ['alice@example.org'] : null),
};

function setup(commit: (m: NewMessage) => Promise<void> = async () => {}) {
  const logs: Record<string, unknown>[] = [];
  const committed: NewMessage[] = [];
  const store: MessageStore = {
    commit: (m) => {
      committed.push(m);
      return commit(m);
    },
  };
  const accounts: Accounts = {
    authenticate: async (username, password) => (username === 'alice@example.org' && password === 'pw' ? MAILBOXES.get(username)! : null),
    owns: async (user, address) => {
      if (address.startsWith('down@')) throw new Error('directory unreachable');
      return address === user.address;
    },
  };
  const registry = createRegistry('smtp-ingress');
  const ingress = createIngress({
    options: {
      hostname: 'mx.test',
      maxConnectionsPerIp: 10,
      maxMessageSize: 1000,
      maxReceivedHeaders: 50,
      resolve: { localPartCaseSensitive: false, subaddressDelimiter: '+', maxDepth: 10, maxTargets: 100 },
      srs: { secret: 'ingress test srs secret', maxAgeDays: 21 },
      auth: { maxPerIp: 10, maxPerAccount: 10, baseDelayMs: 0, maxDelayMs: 0 },
    },
    directory,
    store,
    accounts,
    limiter: { failures: async () => ({ ip: 0, account: 0 }), recordFailure: async () => {}, recordSuccess: async () => {} },
    logger: createLogger('smtp-ingress', 'debug', { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) }),
    metrics: createMetrics(registry),
    sleep: async () => {},
  });
  const facts: SessionFacts = {
    sessionId: 'sess-1',
    remoteIp: '192.0.2.7',
    clientHostname: null,
    helo: 'client.test',
    ehlo: true,
    tls: true,
    tlsCipher: 'TLS_AES_256_GCM_SHA384',
    tlsVersion: 'TLSv1.3',
    servername: null,
    transaction: { key: {}, mailFrom: 'alice@example.org', smtputf8: false },
  };
  const metric = async (name: string) => (await registry.getSingleMetricAsString(name)).split('\n').filter((l) => !l.startsWith('#'));
  return { ingress, facts, logs, committed, metric };
}

const complete = (text: string): Promise<CollectedMessage> => Promise.resolve({ kind: 'complete', chunks: [Buffer.from(text)], size: text.length, wireBytes: text.length });
const MSG = 'From: alice@example.org\r\nDate: x\r\nMessage-ID: <1@x>\r\n\r\nhi\r\n';

describe('ingress steps over in-memory ports', () => {
  it('commits and answers 250 with the queue id; logs and counts the message', async () => {
    const t = setup();
    expect(t.ingress.connect(t.facts, 'mx').kind).toBe('accept');
    expect(await t.ingress.mailFrom(t.facts, 'sender@remote.test')).toEqual({ kind: 'accept' });
    const out = await t.ingress.data(t.facts, ['alice@example.org'], complete(MSG));
    expect(out.verdict.kind).toBe('accept');
    const id = t.committed[0]!.id;
    expect(out.reply).toBe(`2.0.0 Ok: queued as ${id}`);
    expect(t.committed[0]!.raw.toString().endsWith(MSG)).toBe(true);
    expect(t.logs.find((l) => l.event === EVENTS.messageAccepted)).toMatchObject({ msgId: id, sessionId: 'sess-1', listener: 'mx', rcpts: 1, size: MSG.length });
    expect(await t.metric('hopmail_smtp_messages_accepted_total')).toContainEqual(expect.stringMatching(/listener="mx".* 1$/));
    t.ingress.close(t.facts.sessionId);
    expect(t.logs.find((l) => l.event === EVENTS.disconnect)).toMatchObject({ messages: 1 });
  });

  it('a connection lost during DATA: 451 4.4.2, nothing committed', async () => {
    const t = setup();
    t.ingress.connect(t.facts, 'mx');
    const out = await t.ingress.data(t.facts, ['alice@example.org'], Promise.resolve({ kind: 'aborted', wireBytes: 12 }));
    expect(out.verdict).toMatchObject({ kind: 'defer', code: 451, enhanced: '4.4.2', reason: 'aborted' });
    expect(t.committed).toEqual([]);
    expect(t.logs.find((l) => l.event === EVENTS.messageAborted)).toMatchObject({ bytes: 12, msgId: expect.any(String) });
  });

  it('a failed commit: 451 4.3.0 from the error registry, logged', async () => {
    const t = setup(async (m) => {
      throw new IngressError('storeFailed', `message ${m.id} not stored`, new Error('connection terminated'));
    });
    t.ingress.connect(t.facts, 'mx');
    const out = await t.ingress.data(t.facts, ['alice@example.org'], complete(MSG));
    expect(out.verdict).toEqual({ kind: 'defer', code: 451, enhanced: '4.3.0', text: 'Temporary storage failure, try again later', reason: 'store-failed' });
    expect(t.logs.find((l) => l.event === EVENTS.storeFailed)).toMatchObject({ level: 'error', err: { message: 'connection terminated' } });
  });

  it('rewrites <postmaster> to postmaster@hostname (RFC 5321 §4.1.1.3) for the listener to keep', async () => {
    const t = setup();
    t.ingress.connect(t.facts, 'mx');
    const recipient = { address: 'PostMaster' };
    expect(await t.ingress.rcptTo(t.facts, recipient)).toEqual({ kind: 'accept' });
    expect(recipient.address).toBe('postmaster@mx.test');
  });

  it('submission: AUTH, then the sender must be the user; a directory failure is 451 4.3.0', async () => {
    const t = setup();
    t.ingress.connect(t.facts, 'submission', true);
    expect((await t.ingress.mailFrom(t.facts, 'alice@example.org')).kind).toBe('reject');
    const auth = await t.ingress.auth(t.facts, { method: 'PLAIN', username: 'alice@example.org', password: 'pw', authzid: '' });
    expect(auth).toEqual({ verdict: { kind: 'accept' }, user: 'alice@example.org' });
    expect(await t.ingress.mailFrom(t.facts, 'bob@example.org')).toMatchObject({ code: 553, enhanced: '5.7.1', reason: 'sender-not-owned' });
    expect(await t.ingress.mailFrom(t.facts, 'down@example.org')).toMatchObject({ code: 451, enhanced: '4.3.0', reason: 'lookup-failed' });
    const out = await t.ingress.data(t.facts, ['bob@remote.test'], complete('From: down@example.org\r\n\r\nx\r\n'));
    expect(out.verdict).toMatchObject({ code: 451, enhanced: '4.3.0', reason: 'lookup-failed' });
    expect(t.logs.filter((l) => l.event === EVENTS.lookupFailed).map((l) => l.from)).toEqual(['down@example.org', 'down@example.org']);
    expect(t.committed).toEqual([]);
  });

  it('after TLS nothing learnt before counts (RFC 3207 §4.2): the login is forgotten', async () => {
    const t = setup();
    t.ingress.connect(t.facts, 'submission', true);
    await t.ingress.auth(t.facts, { method: 'PLAIN', username: 'alice@example.org', password: 'pw', authzid: '' });
    t.ingress.secure(t.facts);
    expect(await t.ingress.mailFrom(t.facts, 'alice@example.org')).toMatchObject({ code: 530, reason: 'auth-required' });
    expect(t.logs.find((l) => l.event === EVENTS.tls)).toMatchObject({ cipher: 'TLS_AES_256_GCM_SHA384', version: 'TLSv1.3' });
  });
});
