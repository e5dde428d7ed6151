import { parseAddress } from '@hopmail/mail';
import { ACCEPT, reject, type Verdict } from './verdict.ts';

export interface MailInput {
  /** Reverse-path without brackets; '' is the null sender <> (RFC 5321 §4.5.5). */
  address: string;
  /** The client gave SMTPUTF8 on MAIL FROM (RFC 6531). */
  smtputf8: boolean;
  /** Submission listeners: MAIL needs a prior AUTH (RFC 6409 §4.3). */
  requireAuth?: boolean;
  authenticated?: boolean;
}

// Any UTF-16 code unit above 0x7f (surrogates included): not ASCII.
const NON_ASCII = /[\u0080-\uffff]/;

/** MAIL FROM: syntax only. smtp-server already answered 501 5.1.7 to what it could not parse. */
export function mailPolicy(i: MailInput): Verdict {
  // RFC 4954 §6: 530 5.7.0 Authentication required.
  if (i.requireAuth && !i.authenticated) return reject(530, '5.7.0', 'Authentication required', 'auth-required');
  if (i.address === '') return ACCEPT;
  const parsed = parseAddress(i.address);
  if ('error' in parsed) return reject(501, '5.1.7', `Bad sender address syntax (${parsed.error})`, 'sender-syntax');
  // RFC 6531 §3.5: a non-ASCII address needs the SMTPUTF8 parameter.
  if (!i.smtputf8 && NON_ASCII.test(i.address)) return reject(553, '5.6.7', 'Non-ASCII sender address needs SMTPUTF8', 'sender-needs-smtputf8');
  return ACCEPT;
}
