// Which envelope each due recipient of a message leaves with. Mail an alias of ours forwards
// to another domain, from a sender outside our domains, gets an SRS envelope sender in the
// alias's domain (SPF then asks about us, not about the original sender's servers) and an
// ARC seal by that domain; everything else leaves with the sender it came with. Recipients
// needing different envelopes are separate SMTP transactions. Pure.
import { srsForward, type SrsKeys } from '@hopmail/sender-auth';

export interface EnvelopeRecipient {
  /** The local domain of the alias that produced this recipient; null for an envelope recipient. */
  viaDomain: string | null;
}

export interface EnvelopeGroup<R> {
  recipients: R[];
  /** MAIL FROM to send. */
  mailFrom: string;
  /** The alias domain that forwards this mail (ARC-seals it); null when not forwarded. */
  forwardedBy: string | null;
  /** For forwarded mail: rewritten, or why not. */
  srs: { result: 'rewritten' } | { result: 'not-rewritten'; reason: string } | null;
}

export function planEnvelopes<R extends EnvelopeRecipient>(args: { mailFrom: string; senderIsOurs: boolean; recipients: readonly R[]; srs: SrsKeys; now: Date }): EnvelopeGroup<R>[] {
  const plain: R[] = [];
  const forwarded = new Map<string, R[]>();
  for (const r of args.recipients) {
    if (r.viaDomain === null || args.senderIsOurs) plain.push(r);
    else forwarded.set(r.viaDomain, [...(forwarded.get(r.viaDomain) ?? []), r]);
  }
  const groups: EnvelopeGroup<R>[] = [];
  if (plain.length) groups.push({ recipients: plain, mailFrom: args.mailFrom, forwardedBy: null, srs: null });
  for (const [domain, recipients] of forwarded) {
    const s = srsForward(args.mailFrom, domain, args.srs, args.now);
    groups.push({ recipients, mailFrom: s.ok ? s.address : args.mailFrom, forwardedBy: domain, srs: s.ok ? { result: 'rewritten' } : { result: 'not-rewritten', reason: s.reason } });
  }
  return groups;
}
