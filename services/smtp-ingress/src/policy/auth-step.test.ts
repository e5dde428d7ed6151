// The inbound-authentication part of the DATA step in memory: an Authenticator and
// InboundPolicies that answer from tables, the real createDataStep().
import { describe, expect, it } from 'vitest';
import type { Accounts, AuthCheckInput, Authenticator, InboundPolicies } from '../ports.ts';
import type { SessionFacts } from '../session.ts';
import { createDataStep, type DataInput } from './data-step.ts';
import type { AuthResults, InboundPolicy } from './mail-auth-policy.ts';

const accounts: Accounts = { authenticate: async () => null, owns: async () => true };
const results = (dmarc: AuthResults['dmarc']): AuthResults => ({
  authservId: 'mx.test',
  header: 'mx.test;\r\n spf=pass smtp.mailfrom=remote.test;\r\n dmarc=' + dmarc.result,
  spf: { result: 'pass', domain: 'remote.test', identity: 'mailfrom' },
  dkim: [],
  dkimSkipped: 0,
  dmarc,
  arc: { result: 'none', instance: null },
});

function setup(found: AuthResults, policy: InboundPolicy | Error = { dmarcEnforce: true, spfReject: false, authorLocal: false }) {
  const seen: AuthCheckInput[] = [];
  const asked: { domains: readonly string[]; author: string | null }[] = [];
  const authenticator: Authenticator = { authservId: 'mx.test', check: async (input) => (seen.push(input), found) };
  const inboundPolicies: InboundPolicies = {
    forMessage: async (domains, author) => {
      asked.push({ domains, author });
      if (policy instanceof Error) throw policy;
      return policy;
    },
  };
  const step = createDataStep({ accounts, hostname: 'mx.test', maxMessageSize: 100_000, maxReceivedHeaders: 10, authenticator, inboundPolicies });
  return { step, seen, asked };
}

const facts: SessionFacts = {
  sessionId: 's', remoteIp: '192.0.2.1', clientHostname: null, helo: 'client.test', ehlo: true, tls: false, tlsCipher: null, tlsVersion: null, servername: null,
  transaction: { key: {}, mailFrom: 'a@remote.test', smtputf8: false },
};
const MSG = 'Authentication-Results: MX.test; dmarc=pass\r\nFrom: <a@remote.test>\r\nSubject: hi\r\n\r\nHello.\r\n';
const input = (over: Partial<DataInput> = {}): DataInput => ({
  id: '0190a0b0-0000-7000-8000-000000000000', date: new Date(0), session: facts, recipients: ['bob@example.org'], user: null, checkAuth: true,
  message: { kind: 'complete', chunks: [Buffer.from(MSG)], size: MSG.length, wireBytes: MSG.length },
  ...over,
});

describe('the DATA step with inbound authentication', () => {
  it('checks the bytes as received, puts Authentication-Results: on top, drops the forged one, stores the results', async () => {
    const r = results({ result: 'pass', domain: 'remote.test', policy: 'reject' });
    const { step, seen, asked } = setup(r);
    const d = await step(input());
    expect(seen[0]!.raw.toString()).toBe(MSG);
    expect(seen[0]).toMatchObject({ mailFrom: 'a@remote.test', helo: 'client.test', remoteIp: '192.0.2.1' });
    expect(asked).toEqual([{ domains: ['example.org'], author: 'remote.test' }]);
    if (d.kind !== 'commit') throw new Error(d.verdict.text);
    const raw = d.message.raw.toString();
    expect(raw.startsWith(`Authentication-Results: ${r.header}\r\nReceived: from client.test`)).toBe(true);
    expect(raw.endsWith('From: <a@remote.test>\r\nSubject: hi\r\n\r\nHello.\r\n')).toBe(true);
    expect(raw).not.toContain('MX.test; dmarc=pass');
    expect(d.message.authResults).toBe(r);
    expect(d.auth).toMatchObject({ kind: 'accept', forgedRemoved: 1, quarantine: false });
  });

  it('quarantine marks X-Spam-Flag: YES under it', async () => {
    const d = await setup(results({ result: 'fail', domain: 'remote.test', policy: 'quarantine' })).step(input());
    expect(d.kind === 'commit' && d.message.raw.toString()).toMatch(/^Authentication-Results: [^]*\r\nX-Spam-Flag: YES\r\nReceived: /);
  });

  it('p=reject refuses 550 5.7.1 with the results for the log', async () => {
    const d = await setup(results({ result: 'fail', domain: 'remote.test', policy: 'reject' })).step(input());
    expect(d.kind === 'refuse' && [d.verdict.code, d.verdict.enhanced, d.auth?.results.dmarc.result]).toEqual([550, '5.7.1', 'fail']);
  });

  it('the policy lookup failing is 451 4.3.0 (lookup failure), never 5xx', async () => {
    const d = await setup(results({ result: 'fail', domain: 'remote.test', policy: 'reject' }), new Error('pg down')).step(input());
    expect(d.kind === 'refuse' && [d.verdict.code, d.verdict.enhanced, d.lookupFailure?.address]).toEqual([451, '4.3.0', 'remote.test']);
  });

  it('not checked on submission (an authenticated user) nor when the listener does not ask', async () => {
    const s1 = setup(results({ result: 'fail', domain: 'remote.test', policy: 'reject' }));
    const user = await s1.step(input({ user: { id: 1, address: 'a@remote.test' } }));
    const off = await s1.step(input({ checkAuth: false }));
    expect(s1.seen).toEqual([]);
    for (const d of [user, off]) {
      expect(d.kind).toBe('commit');
      expect(d.kind === 'commit' && d.message.authResults).toBeUndefined();
    }
  });
});
