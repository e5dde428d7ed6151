import type { Resolution } from '@hopmail/mail';
import { ACCEPT, reject, type Verdict } from './verdict.ts';

// Any UTF-16 code unit above 0x7f (surrogates included): not ASCII.
const NON_ASCII = /[\u0080-\uffff]/;

export interface RcptSyntaxInput {
  address: string;
  smtputf8: boolean;
}

/** Checks that need no lookup; null when the address may be resolved. */
export function rcptSyntaxPolicy(i: RcptSyntaxInput): Verdict | null {
  if (!i.smtputf8 && NON_ASCII.test(i.address)) return reject(553, '5.6.7', 'Non-ASCII recipient address needs SMTPUTF8', 'recipient-needs-smtputf8');
  return null;
}

export interface RcptInput {
  address: string;
  resolution: Resolution;
  /** The client authenticated (submission, later): it may relay. */
  authenticated: boolean;
}

/**
 * RCPT TO after resolveRecipient() (RFC 5321 §3.3, §4.2.2 reply codes; RFC 3463 codes).
 * A lookup that fails (PostgreSQL down) never gets here: the hook answers 451 4.3.0.
 */
export function rcptPolicy(i: RcptInput): Verdict {
  const a = `<${i.address}>`;
  switch (i.resolution.kind) {
    case 'ok':
      return ACCEPT;
    // 554 as Postfix's relay_domains_reject_code; the issue fixes it (RFC 5321 §4.3.2 would
    // list 550 for RCPT, and clients treat both as permanent).
    case 'not-local':
      return i.authenticated ? ACCEPT : reject(554, '5.7.1', `${a}: Relay access denied`, 'relay-denied');
    case 'unknown':
      return reject(550, '5.1.1', `${a}: Recipient address rejected: User unknown`, 'unknown-user');
    // An alias loop is a configuration error that a retry in minutes will not fix, and
    // X.4.6 is RFC 3463's "routing loop detected": permanent, like routing's bounce.
    case 'loop':
      return reject(550, '5.4.6', `${a}: Alias loop detected`, 'alias-loop');
    case 'too-many':
      return reject(550, '5.5.3', `${a}: Alias expands to too many recipients`, 'alias-too-many');
    case 'invalid':
      return reject(501, '5.1.3', `${a}: Bad recipient address syntax`, 'recipient-syntax');
    default: {
      const never: never = i.resolution;
      throw new Error(`unhandled resolution ${String(never)}`);
    }
  }
}
