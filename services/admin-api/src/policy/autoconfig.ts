// Client auto-configuration documents (issue #15): a person types an address and a password,
// the client finds IMAP, POP3 and submission. Pure builders; http/autoconfig.ts serves them.
//   - Thunderbird autoconfig, clientConfig version 1.1
//     (https://wiki.mozilla.org/Thunderbird:Autoconfiguration:ConfigFileFormat)
//   - Microsoft Autodiscover "POX" (Outlook 2007+ schema, responseschema/2006a)
//   - an Apple configuration profile (.mobileconfig, com.apple.mail.managed), unsigned
// The ports are the ones the cluster publishes (compose and Kubernetes Services): implicit TLS
// first (RFC 8314 §4.1 prefers it), STARTTLS as the alternative.

export interface MailServers {
  /** MAIL_HOSTNAME: the name clients connect to (and the certificate's). */
  host: string;
}

export const PORTS = { imaps: 993, imap: 143, pop3s: 995, pop3: 110, submissions: 465, submission: 587 } as const;

const ADDRESS = /^[^\s@<>"'&]{1,64}@([A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?)+)$/;

/** The domain of a plausible address, lower-cased; null for anything else. */
export function addressDomain(address: string): string | null {
  const m = ADDRESS.exec(address.trim());
  return m ? m[1]!.toLowerCase() : null;
}

export function xmlEscape(s: string): string {
  return s.replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c]!);
}

/** Thunderbird's config-v1.1.xml for one domain. `%EMAILADDRESS%` is filled in by the client. */
export function thunderbirdConfig(domain: string, s: MailServers): string {
  const h = xmlEscape(s.host);
  const d = xmlEscape(domain);
  const server = (kind: 'incomingServer' | 'outgoingServer', type: string, port: number, socketType: 'SSL' | 'STARTTLS') =>
    `    <${kind} type="${type}">
      <hostname>${h}</hostname>
      <port>${port}</port>
      <socketType>${socketType}</socketType>
      <authentication>password-cleartext</authentication>
      <username>%EMAILADDRESS%</username>
    </${kind}>`;
  return `<?xml version="1.0" encoding="UTF-8"?>
<clientConfig version="1.1">
  <emailProvider id="${d}">
    <domain>${d}</domain>
    <displayName>${d}</displayName>
    <displayShortName>${d}</displayShortName>
${server('incomingServer', 'imap', PORTS.imaps, 'SSL')}
${server('incomingServer', 'imap', PORTS.imap, 'STARTTLS')}
${server('incomingServer', 'pop3', PORTS.pop3s, 'SSL')}
${server('incomingServer', 'pop3', PORTS.pop3, 'STARTTLS')}
${server('outgoingServer', 'smtp', PORTS.submissions, 'SSL')}
${server('outgoingServer', 'smtp', PORTS.submission, 'STARTTLS')}
  </emailProvider>
</clientConfig>
`;
}

/** The address in an Autodiscover POX request body, or null. */
export function autodiscoverRequestAddress(body: string): string | null {
  const m = /<EMailAddress>\s*([^<\s]{1,320})\s*<\/EMailAddress>/i.exec(body.slice(0, 16_384));
  return m ? m[1]! : null;
}

export function autodiscoverResponse(address: string, s: MailServers): string {
  const h = xmlEscape(s.host);
  const a = xmlEscape(address);
  const protocol = (type: string, port: number, ssl: boolean) => `      <Protocol>
        <Type>${type}</Type>
        <Server>${h}</Server>
        <Port>${port}</Port>
        <LoginName>${a}</LoginName>
        <DomainRequired>off</DomainRequired>
        <SPA>off</SPA>
        <SSL>${ssl ? 'on' : 'off'}</SSL>${ssl ? '' : '\n        <Encryption>TLS</Encryption>'}
        <AuthRequired>on</AuthRequired>
      </Protocol>`;
  return `<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006">
  <Response xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a">
    <Account>
      <AccountType>email</AccountType>
      <Action>settings</Action>
${protocol('IMAP', PORTS.imaps, true)}
${protocol('POP3', PORTS.pop3s, true)}
${protocol('SMTP', PORTS.submissions, true)}
    </Account>
  </Response>
</Autodiscover>
`;
}

/** A stable UUID-shaped identifier from text (profiles are replaced, not duplicated, on reinstall). */
function uuidFrom(text: string, hash: (s: string) => string): string {
  const hex = hash(text);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`.toUpperCase();
}

/** An unsigned Apple configuration profile with one mail account (IMAP over TLS, submission over TLS). */
export function appleMobileconfig(address: string, s: MailServers, hash: (s: string) => string): string {
  const a = xmlEscape(address);
  const h = xmlEscape(s.host);
  const domain = addressDomain(address) ?? 'mail';
  const reverse = domain.split('.').reverse().join('.');
  return `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
  <key>PayloadContent</key>
  <array>
    <dict>
      <key>EmailAccountDescription</key><string>${a}</string>
      <key>EmailAccountName</key><string>${a}</string>
      <key>EmailAccountType</key><string>EmailTypeIMAP</string>
      <key>EmailAddress</key><string>${a}</string>
      <key>IncomingMailServerAuthentication</key><string>EmailAuthPassword</string>
      <key>IncomingMailServerHostName</key><string>${h}</string>
      <key>IncomingMailServerPortNumber</key><integer>${PORTS.imaps}</integer>
      <key>IncomingMailServerUseSSL</key><true/>
      <key>IncomingMailServerUsername</key><string>${a}</string>
      <key>OutgoingMailServerAuthentication</key><string>EmailAuthPassword</string>
      <key>OutgoingMailServerHostName</key><string>${h}</string>
      <key>OutgoingMailServerPortNumber</key><integer>${PORTS.submissions}</integer>
      <key>OutgoingMailServerUseSSL</key><true/>
      <key>OutgoingMailServerUsername</key><string>${a}</string>
      <key>OutgoingPasswordSameAsIncomingPassword</key><true/>
      <key>PayloadDisplayName</key><string>${a}</string>
      <key>PayloadIdentifier</key><string>${xmlEscape(reverse)}.hopmail.mail.${uuidFrom(`mail:${address}`, hash)}</string>
      <key>PayloadType</key><string>com.apple.mail.managed</string>
      <key>PayloadUUID</key><string>${uuidFrom(`mail:${address}`, hash)}</string>
      <key>PayloadVersion</key><integer>1</integer>
    </dict>
  </array>
  <key>PayloadDisplayName</key><string>${a}</string>
  <key>PayloadIdentifier</key><string>${xmlEscape(reverse)}.hopmail.${uuidFrom(`profile:${address}`, hash)}</string>
  <key>PayloadRemovalDisallowed</key><false/>
  <key>PayloadType</key><string>Configuration</string>
  <key>PayloadUUID</key><string>${uuidFrom(`profile:${address}`, hash)}</string>
  <key>PayloadVersion</key><integer>1</integer>
</dict>
</plist>
`;
}

/** RFC 6186 SRV records an operator publishes for a domain (listed by the DNS doctor's callers). */
export function srvRecords(domain: string, s: MailServers): string[] {
  return [
    `_imaps._tcp.${domain}. SRV 0 1 ${PORTS.imaps} ${s.host}.`,
    `_imap._tcp.${domain}. SRV 10 1 ${PORTS.imap} ${s.host}.`,
    `_pop3s._tcp.${domain}. SRV 20 1 ${PORTS.pop3s} ${s.host}.`,
    `_submissions._tcp.${domain}. SRV 0 1 ${PORTS.submissions} ${s.host}.`,
    `_submission._tcp.${domain}. SRV 10 1 ${PORTS.submission} ${s.host}.`,
  ];
}
