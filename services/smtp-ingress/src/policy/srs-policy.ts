// RCPT TO an SRS address of ours (a bounce of mail an alias forwarded, see outbound-relay):
// a valid one is rewritten to the address it stands for and relayed there — we made it, so
// we may; a forged one (bad hash, bad or expired day stamp, malformed) is refused 550 5.7.1
// (RFC 3463 X.7.1: delivery not authorised). Decided at RCPT so the sender's MTA learns at
// once, and so that what is committed is the real recipient, routed like any other. Pure.
import type { SrsReverse } from '@hopmail/sender-auth';
import { reject, type Refusal } from './verdict.ts';

export type SrsRcpt = { kind: 'not-srs' } | { kind: 'rewrite'; address: string } | { kind: 'refuse'; verdict: Refusal };

const WHY = {
  'bad-hash': 'its hash does not match',
  'bad-timestamp': 'its time stamp is not base32',
  expired: 'it has expired',
  malformed: 'it is malformed',
} as const;

/** `ours`: the address's domain is one of ours (an SRS address elsewhere is just an address). */
export function srsRcptPolicy(i: { address: string; ours: boolean; reversed: SrsReverse }): SrsRcpt {
  if (!i.ours || i.reversed.kind === 'not-srs') return { kind: 'not-srs' };
  if (i.reversed.kind === 'ok') return { kind: 'rewrite', address: i.reversed.address };
  const a = `<${i.address}>`;
  if (i.reversed.reason === 'too-long') return { kind: 'refuse', verdict: reject(501, '5.1.3', `${a}: Bad recipient address syntax (longer than 253 octets)`, 'recipient-syntax') };
  return { kind: 'refuse', verdict: reject(550, '5.7.1', `${a}: Invalid SRS address: ${WHY[i.reversed.reason]}`, `srs-${i.reversed.reason}`) };
}
