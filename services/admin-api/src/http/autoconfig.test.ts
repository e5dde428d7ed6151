// The auto-configuration documents, parsed by real XML and plist parsers (Python's
// xml.etree and plistlib) and checked for what Thunderbird, Outlook and Apple devices read:
// hostnames, ports, socket types, authentication, user names.
import { execFileSync } from 'node:child_process';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { autoconfigPlugin } from './autoconfig.ts';
import { srvRecords } from '../policy/autoconfig.ts';

const app = Fastify();
beforeAll(async () => {
  await app.register(autoconfigPlugin, { servers: { host: 'mail.example.net' }, isLocalDomain: async (d) => d === 'example.org' });
  await app.ready();
});
afterAll(() => app.close());

function py(script: string, input: string): unknown {
  return JSON.parse(execFileSync('python3', ['-c', script], { input, encoding: 'utf8' }));
}

const THUNDERBIRD = `
import sys, json, xml.etree.ElementTree as ET
root = ET.fromstring(sys.stdin.read())
assert root.tag == 'clientConfig' and root.get('version') == '1.1'
p = root.find('emailProvider')
out = {'id': p.get('id'), 'domains': [d.text for d in p.findall('domain')], 'servers': []}
for s in list(p.findall('incomingServer')) + list(p.findall('outgoingServer')):
    out['servers'].append([s.tag, s.get('type'), s.findtext('hostname'), int(s.findtext('port')), s.findtext('socketType'), s.findtext('authentication'), s.findtext('username')])
print(json.dumps(out))
`;

describe('Thunderbird autoconfig', () => {
  it.each(['/mail/config-v1.1.xml?emailaddress=ann%40example.org', '/.well-known/autoconfig/mail/config-v1.1.xml'])('%s lists IMAP, POP3 and submission with their socket types', async (url) => {
    const r = await app.inject({ method: 'GET', url, headers: { host: 'autoconfig.example.org' } });
    expect(r.statusCode).toBe(200);
    expect(r.headers['content-type']).toMatch(/^application\/xml/);
    const doc = py(THUNDERBIRD, r.body) as { id: string; domains: string[]; servers: unknown[][] };
    expect(doc.id).toBe('example.org');
    expect(doc.domains).toEqual(['example.org']);
    const u = '%EMAILADDRESS%';
    expect(doc.servers).toEqual([
      ['incomingServer', 'imap', 'mail.example.net', 993, 'SSL', 'password-cleartext', u],
      ['incomingServer', 'imap', 'mail.example.net', 143, 'STARTTLS', 'password-cleartext', u],
      ['incomingServer', 'pop3', 'mail.example.net', 995, 'SSL', 'password-cleartext', u],
      ['incomingServer', 'pop3', 'mail.example.net', 110, 'STARTTLS', 'password-cleartext', u],
      ['outgoingServer', 'smtp', 'mail.example.net', 465, 'SSL', 'password-cleartext', u],
      ['outgoingServer', 'smtp', 'mail.example.net', 587, 'STARTTLS', 'password-cleartext', u],
    ]);
  });

  it('404 for a domain not hosted here, or no domain at all', async () => {
    expect((await app.inject({ method: 'GET', url: '/mail/config-v1.1.xml?emailaddress=x%40elsewhere.test' })).statusCode).toBe(404);
    expect((await app.inject({ method: 'GET', url: '/mail/config-v1.1.xml', headers: { host: '127.0.0.1' } })).statusCode).toBe(404);
  });
});

describe('Autodiscover (POX)', () => {
  it('answers the Outlook request with IMAP, POP3 and SMTP over TLS', async () => {
    const body = `<?xml version="1.0" encoding="utf-8"?><Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"><Request><EMailAddress>ann@example.org</EMailAddress><AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema></Request></Autodiscover>`;
    const r = await app.inject({ method: 'POST', url: '/autodiscover/autodiscover.xml', headers: { 'content-type': 'text/xml' }, payload: body });
    expect(r.statusCode).toBe(200);
    const doc = py(
      `
import sys, json, xml.etree.ElementTree as ET
ns = {'a': 'http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a'}
root = ET.fromstring(sys.stdin.read())
acc = root.find('a:Response/a:Account', ns)
print(json.dumps({'type': acc.findtext('a:AccountType', namespaces=ns), 'action': acc.findtext('a:Action', namespaces=ns),
  'protocols': [[p.findtext('a:Type', namespaces=ns), p.findtext('a:Server', namespaces=ns), int(p.findtext('a:Port', namespaces=ns)), p.findtext('a:SSL', namespaces=ns), p.findtext('a:LoginName', namespaces=ns)] for p in acc.findall('a:Protocol', ns)]}))
`,
      r.body,
    );
    expect(doc).toEqual({
      type: 'email',
      action: 'settings',
      protocols: [
        ['IMAP', 'mail.example.net', 993, 'on', 'ann@example.org'],
        ['POP3', 'mail.example.net', 995, 'on', 'ann@example.org'],
        ['SMTP', 'mail.example.net', 465, 'on', 'ann@example.org'],
      ],
    });
    expect((await app.inject({ method: 'POST', url: '/autodiscover/autodiscover.xml', headers: { 'content-type': 'text/xml' }, payload: body.replace('example.org', 'elsewhere.test') })).statusCode).toBe(404);
  });
});

describe('Apple .mobileconfig', () => {
  it('is a plist with one IMAP account over TLS, stable identifiers, the address escaped', async () => {
    const r = await app.inject({ method: 'GET', url: '/mail/apple.mobileconfig?emailaddress=ann%40example.org' });
    expect(r.statusCode).toBe(200);
    expect(r.headers['content-type']).toBe('application/x-apple-aspen-config');
    const doc = py(`import sys, json, plistlib\nprint(json.dumps(plistlib.loads(sys.stdin.buffer.read() if hasattr(sys.stdin, 'buffer') else sys.stdin.read().encode())))`, r.body) as Record<string, unknown> & { PayloadContent: Record<string, unknown>[] };
    expect(doc.PayloadType).toBe('Configuration');
    const mail = doc.PayloadContent[0]!;
    expect(mail).toMatchObject({
      PayloadType: 'com.apple.mail.managed',
      EmailAccountType: 'EmailTypeIMAP',
      EmailAddress: 'ann@example.org',
      IncomingMailServerHostName: 'mail.example.net',
      IncomingMailServerPortNumber: 993,
      IncomingMailServerUseSSL: true,
      OutgoingMailServerPortNumber: 465,
      OutgoingMailServerUseSSL: true,
    });
    const again = await app.inject({ method: 'GET', url: '/mail/apple.mobileconfig?emailaddress=ann%40example.org' });
    expect(again.body).toBe(r.body);
    expect((await app.inject({ method: 'GET', url: '/mail/apple.mobileconfig?emailaddress=%3Cscript%3E%40example.org' })).statusCode).toBe(404);
  });
});

describe('RFC 6186 SRV records', () => {
  it('lists IMAP, POP3 and submission for the operator to publish', () => {
    expect(srvRecords('example.org', { host: 'mail.example.net' })).toContain('_imaps._tcp.example.org. SRV 0 1 993 mail.example.net.');
  });
});
