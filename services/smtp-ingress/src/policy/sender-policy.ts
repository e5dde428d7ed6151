// Whose name an authenticated user may send under (RFC 6409 §6.1: the MSA checks that the
// submitter is authorised to use the sender address). Own address, a subaddress of it, or
// an alias whose targets reach the user's mailbox; catch-alls do not count.

import { ACCEPT, reject, type Verdict } from './verdict.ts';

export interface SenderInput {
  /** The address the client claims; '' for the null sender. */
  address: string;
  /** The directory says the address reaches the user's own mailbox. */
  owned: boolean;
  stage: 'envelope' | 'header';
  user: string;
}

export function senderPolicy(i: SenderInput): Verdict {
  // The null reverse-path names nobody, and the From: header is checked as well.
  if (i.stage === 'envelope' && i.address === '') return ACCEPT;
  if (i.owned) return ACCEPT;
  const where = i.stage === 'envelope' ? 'Sender address' : 'From: header address';
  return reject(553, '5.7.1', `<${i.address}>: ${where} rejected: not owned by user ${i.user}`, i.stage === 'envelope' ? 'sender-not-owned' : 'from-not-owned');
}

/** Each From: address costs a directory lookup; no real message has more authors than this. */
export const MAX_FROM_ADDRESSES = 20;

/** A submitted message must name its author (RFC 5322 §3.6: From: is required). */
export function fromHeaderPolicy(i: { addresses: string[] | null }): Verdict {
  if (!i.addresses || i.addresses.length === 0) return reject(550, '5.6.0', 'Message has no usable From: header address (RFC 5322 section 3.6)', 'from-missing');
  if (i.addresses.length > MAX_FROM_ADDRESSES) return reject(550, '5.6.0', `More than ${MAX_FROM_ADDRESSES} From: header addresses`, 'from-too-many');
  return ACCEPT;
}
