// Our own MTA-STS policy (RFC 8461 §3.2), pure: one policy for every local domain (they share
// the MX MAIL_HOSTNAME), and the id published in each domain's _mta-sts TXT record: derived
// from the policy text, so changing the mode, the MX or max_age changes the id and senders
// fetch the new policy (§3.1).
import { createHash } from 'node:crypto';

export interface OurStsSettings {
  mailHostname: string;
  mode: 'enforce' | 'testing' | 'none';
  maxAge: number;
}

export function ourStsPolicy(s: OurStsSettings): { body: string; id: string } {
  const body = `version: STSv1\r\nmode: ${s.mode}\r\nmx: ${s.mailHostname.toLowerCase().replace(/\.$/, '')}\r\nmax_age: ${s.maxAge}\r\n`;
  return { body, id: createHash('sha256').update(body).digest('hex').slice(0, 20) };
}

/** `mta-sts.example.org[:port]` → `example.org`; null for any other Host. */
export function policyDomainOfHost(host: string | undefined): string | null {
  const m = /^mta-sts\.([a-z0-9.-]+?)\.?(:\d+)?$/i.exec(host ?? '');
  return m ? m[1]!.toLowerCase() : null;
}
