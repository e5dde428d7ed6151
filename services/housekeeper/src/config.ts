import { bool, commonConfig, int, localPart, port, str, z } from '@hopmail/config';
import { dnsClientConfig } from '@hopmail/dns-client';

export const configSchema = z.object({
  ...commonConfig,
  HEALTH_PORT: port(9107, 'port of /healthz, /readyz and /metrics for the housekeeper'),
  EVENTS_PUBLISH: bool(true, 'run the outbox publisher that moves public trace events from PostgreSQL to the Redis stream (one replica at a time holds its lock)'),
  EVENTS_PUBLISH_INTERVAL_MS: int(500, 20, 60_000, 'how often the publisher looks for new events'),
  EVENTS_STREAM_MAXLEN: int(100_000, 100, 100_000_000, 'approximate length the Redis event stream is trimmed to (XADD MAXLEN ~)'),
  WEBHOOK_DISPATCH: bool(true, 'run the webhook dispatcher in this process (consumer group on the event stream; safe in every replica)'),
  WEBHOOK_POLL_INTERVAL_MS: int(500, 20, 60_000, 'how often due webhook deliveries are looked for; the stream read blocks at most this long'),
  WEBHOOK_TIMEOUT_MS: int(5000, 100, 60_000, 'timeout of one webhook POST, connect to last byte'),
  WEBHOOK_CONCURRENCY: int(8, 1, 256, 'webhook POSTs in flight at once in this process'),
  WEBHOOK_RETRY_MIN_MS: int(10_000, 10, 86_400_000, 'first retry delay of a failed webhook delivery; doubles per attempt'),
  WEBHOOK_RETRY_MAX_MS: int(3_600_000, 10, 86_400_000, 'longest delay between tries of one delivery'),
  WEBHOOK_MAX_ATTEMPTS: int(10, 1, 100, 'tries of one delivery before it is given up (status failed)'),
  WEBHOOK_DISABLE_AFTER: int(50, 1, 100_000, 'consecutive failed POSTs after which a webhook is disabled (re-enable with PATCH enabled=true)'),
  WEBHOOK_ALLOW_PRIVATE: bool(false, 'allow connections to webhook receivers that resolve to loopback, private, link-local or other non-public addresses (a receiver inside your own network); set it like admin-api\'s, which checks literal addresses at registration'),
  EVENTS_RETENTION_DAYS: int(30, 1, 3650, 'message trace events older than this are deleted (in batches, one replica at a time)'),
  WEBHOOK_DELIVERY_RETENTION_DAYS: int(7, 1, 3650, 'finished webhook deliveries older than this are deleted'),
  REFUSAL_RETENTION_DAYS: int(30, 1, 3650, 'refused and greylisted attempts smtp-ingress recorded (smtp_refusals, GET /v1/messages/refusals) older than this are deleted'),
  MESSAGE_RETENTION_DAYS: int(7, 0, 3650, 'finished messages (in no mailbox, every recipient final, DSNs sent) received longer ago than this are deleted with their recipients; 0 keeps them'),
  QUEUE_SAMPLE_INTERVAL_MS: int(10_000, 0, 3_600_000, 'how often the queue depths are sampled for the console overview (one replica at a time; 0: never); samples and traffic minutes older than a day are deleted then'),
  ...dnsClientConfig,
  TLSRPT_SEND: bool(true, 'send the daily TLS-RPT aggregate reports (RFC 8460) of the relay\'s TLS outcomes to each destination\'s _smtp._tls rua (one replica at a time)'),
  TLSRPT_INTERVAL_MS: int(3_600_000, 1000, 86_400_000, 'how often finished days are looked for; a day is reported once, in the first pass after it ends (UTC)'),
  TLSRPT_SUBMITTER: str('localhost', 'our name in the reports (TLS-Report-Submitter, report ids): the public MX host name'),
  TLSRPT_ORGANIZATION: str('Hopmail', 'organization-name of the reports'),
  TLSRPT_CONTACT: str('', 'contact-info of the reports (an address or URL); empty: TLSRPT_FROM'),
  TLSRPT_FROM: str('', 'sender of mailto: reports, an address at one of our domains with an active DKIM key (RFC 8460 §5.3 requires the signature), not at TLSRPT_LOCAL_PART; empty: mailto: reports are not sent'),
  TLSRPT_LOCAL_PART: localPart('tls-reports', 'the TLS-RPT report address at our domains, as smtp-ingress and routing have it: TLSRPT_FROM may not use it, since routing takes only reports there and bounces of our reports would be discarded'),
  TLSRPT_HTTP_TIMEOUT_MS: int(10_000, 100, 120_000, 'timeout of one https: report POST'),
  TLSRPT_CA_FILE: str('', 'PEM CA certificates trusted besides the system roots for https: report receivers (a private PKI; tests)'),
  HOUSEKEEPING_INTERVAL_MS: int(3_600_000, 1000, 86_400_000, 'how often the retention pass runs'),
}).refine((c) => c.TLSRPT_FROM.toLowerCase().slice(0, Math.max(0, c.TLSRPT_FROM.lastIndexOf('@'))) !== c.TLSRPT_LOCAL_PART.toLowerCase(), {
  path: ['TLSRPT_FROM'],
  message: 'is the TLS-RPT report address (TLSRPT_LOCAL_PART): routing takes only reports there, so bounces of our own reports would be discarded; send them from another address',
});

export type Config = z.output<typeof configSchema>;
