// The DATA step without sockets (CONVENTIONS §3, §4): from what the listener reported and the
// bytes the collector gathered, decide the reply and what to commit — the Received: field,
// the scan, the size, smuggling and loop checks and, on submission, the From: checks and the
// Date/Message-ID additions. Pure apart from the Accounts port (From: ownership), so
// data-step.test.ts runs it in memory.

import type { NewMessage } from '@hopmail/db';
import type { MailboxRef } from '@hopmail/mail';
import { errorVerdict } from '../errors.ts';
import type { Accounts, Authenticator, InboundPolicies } from '../ports.ts';
import { scanMessage } from '../protocol/message.ts';
import { protocolType, receivedHeader } from '../protocol/received.ts';
import { fromAddresses, missingSubmissionFields } from '../protocol/submission.ts';
import type { SessionFacts } from '../session.ts';
import { authStep, type AuthStepOutcome } from './auth-step.ts';
import { dataPolicy, tooBig } from './data-policy.ts';
import { fromHeaderPolicy, senderPolicy } from './sender-policy.ts';
import type { Refusal } from './verdict.ts';

/** The message as the collector (adapters/data-collector.ts) hands it over. */
export type CollectedMessage =
  /** The chunks smtp-server emitted (dot-unstuffed, no final dot), `size` octets in all. */
  | { kind: 'complete'; chunks: readonly Buffer[]; size: number; wireBytes: number }
  /** Past SMTP_MAX_MESSAGE_SIZE: drained to the final dot, nothing kept. */
  | { kind: 'too-big'; wireBytes: number }
  /** The connection closed before the final dot. */
  | { kind: 'aborted'; wireBytes: number };

export interface DataInput {
  /** Message id (UUIDv7): the queue id in the Received: field and the messages row. */
  id: string;
  date: Date;
  session: SessionFacts;
  recipients: readonly string[];
  /** The authenticated mailbox (submission rules apply), or null. */
  user: MailboxRef | null;
  message: Exclude<CollectedMessage, { kind: 'aborted' }>;
  /** Check SPF, DKIM, DMARC and ARC (mail from the outside: MX listener, no AUTH; issue 12). */
  checkAuth?: boolean;
}

export type DataDecision =
  | { kind: 'commit'; message: NewMessage; auth?: AuthStepOutcome }
  /** `lookupFailure`: the directory could not say whether a From: address is the user's. */
  | { kind: 'refuse'; verdict: Refusal; lookupFailure?: { address: string; error: unknown }; auth?: AuthStepOutcome };

export interface DataStepOptions {
  accounts: Accounts;
  hostname: string;
  maxMessageSize: number;
  maxReceivedHeaders: number;
  /** Inbound authentication (issue 12); without it nothing is checked. */
  authenticator?: Authenticator;
  inboundPolicies?: InboundPolicies;
}

export type DataStep = (input: DataInput) => Promise<DataDecision>;

const refuse = (verdict: Refusal): DataDecision => ({ kind: 'refuse', verdict });

export function createDataStep(options: DataStepOptions): DataStep {
  const { accounts, hostname, maxMessageSize, maxReceivedHeaders } = options;

  return async function dataStep({ id, date, session, recipients, user, message, checkAuth }) {
    if (message.kind === 'too-big') return refuse(tooBig(maxMessageSize));
    const { transaction } = session;
    const header = Buffer.from(
      receivedHeader({
        helo: session.helo || session.remoteIp,
        rdns: session.clientHostname,
        ip: session.remoteIp,
        hostname,
        protocol: protocolType({ ehlo: session.ehlo, tls: session.tls, auth: user !== null, smtputf8: transaction.smtputf8 }),
        id,
        recipients,
        date,
      }),
      'utf8',
    );
    // One copy: the trace field and the chunks joined once.
    let raw = Buffer.concat([header, ...message.chunks], header.length + message.size);
    const scan = scanMessage(raw.subarray(header.length));
    const verdict = dataPolicy({ sizeExceeded: false, maxSize: maxMessageSize, scan, maxReceived: maxReceivedHeaders, binary: transaction.binaryMime === true });
    if (verdict.kind !== 'accept') return refuse(verdict);
    let headerMessageId = scan.messageId;

    let auth: AuthStepOutcome | undefined;
    if (checkAuth && !user && options.authenticator && options.inboundPolicies) {
      // On the bytes as received; our fields go on top (RFC 8601 §5: above the trace fields).
      const body = raw.subarray(header.length);
      auth = await authStep({ authenticator: options.authenticator, policies: options.inboundPolicies }, { body, mailFrom: transaction.mailFrom, helo: session.helo, remoteIp: session.remoteIp, recipients });
      if (auth.kind === 'refuse') return { kind: 'refuse', verdict: auth.verdict, lookupFailure: auth.lookupFailure, auth };
      raw = Buffer.concat([auth.fields, header, auth.body]);
    }

    if (user) {
      // Submission (RFC 6409): the author must be the user, and Date / Message-ID are
      // added when the client left them out (§8.2, §8.3).
      const body = raw.subarray(header.length);
      const from = fromAddresses(body);
      const fromVerdict = fromHeaderPolicy({ addresses: from });
      if (fromVerdict.kind !== 'accept') return refuse(fromVerdict);
      for (const address of from!) {
        let owned: boolean;
        try {
          owned = await accounts.owns(user, address);
        } catch (error) {
          return { kind: 'refuse', verdict: errorVerdict('lookupFailed', 'lookup-failed'), lookupFailure: { address, error } };
        }
        const senderVerdict = senderPolicy({ address, owned, stage: 'header', user: user.address });
        if (senderVerdict.kind !== 'accept') return refuse(senderVerdict);
      }
      const added = missingSubmissionFields(body, { id, hostname, date });
      if (added.fields) {
        const extra = Buffer.from(added.fields, 'utf8');
        raw = Buffer.concat([header, extra, body], raw.length + extra.length);
        if (added.messageId) headerMessageId = added.messageId;
      }
    }

    return {
      kind: 'commit',
      message: {
        id,
        raw,
        mailFrom: transaction.mailFrom,
        recipients,
        clientIp: session.remoteIp,
        clientHelo: session.helo,
        authUser: user ? user.address : null,
        tls: session.tls,
        smtputf8: transaction.smtputf8,
        body8bit: scan.eightBit,
        bodyBinary: transaction.binaryMime === true,
        headerMessageId,
        authResults: auth?.results,
        requireTls: transaction.requireTls === true,
      },
      auth,
    };
  };
}
