// One signed webhook POST over node:http(s), restricted (unless allowed) to public addresses
// on the address actually connected to (destination.ts). Redirects are not followed. Shared
// by the housekeeper's dispatcher and admin-api's "send a test event"; each passes the errors
// it raises for a private destination and a timeout.
import { createHmac } from 'node:crypto';
import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { LookupFunction } from 'node:net';
import { isPublicAddress, literalAddress } from './destination.ts';

export const SIGNATURE_HEADER = 'hopmail-signature';

/**
 * `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>` — the timestamp is signed
 * with the body so a receiver can refuse replays older than a few minutes.
 */
export function sign(secret: string, body: string, unixSeconds: number): string {
  const mac = createHmac('sha256', secret).update(`${unixSeconds}.${body}`, 'utf8').digest('hex');
  return `t=${unixSeconds},v1=${mac}`;
}

export interface WebhookPostErrors {
  privateDestination(message: string): Error;
  timeout(message: string): Error;
}

/**
 * A `lookup` for http(s).request that resolves as usual and then refuses the connection when
 * any address of the name is not public: the check applies to the very address connected to.
 */
export function publicOnlyLookupWith(privateDestination: WebhookPostErrors['privateDestination']): LookupFunction {
  return (hostname: string, options: LookupOptions, callback): void => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses: LookupAddress[]) => {
      if (err) return callback(err, []);
      const bad = addresses.find((a) => !isPublicAddress(a.address));
      if (bad) return callback(privateDestination(`${hostname} resolves to ${bad.address}, which is not a public address (WEBHOOK_ALLOW_PRIVATE)`), []);
      if (options.all) return callback(null, addresses);
      return callback(null, addresses[0]!.address, addresses[0]!.family);
    });
  };
}

export interface WebhookPost {
  url: string;
  headers: Record<string, string>;
  body: string;
  timeoutMs: number;
  /** WEBHOOK_ALLOW_PRIVATE: skip the public-address check. */
  allowPrivate: boolean;
  /** Read up to this many bytes of the response body (0: drain it unread). */
  readBodyBytes?: number;
}

/** POSTs the body; resolves with the HTTP status (and the start of the body when asked). */
export function postWebhookWith(post: WebhookPost, errors: WebhookPostErrors): Promise<{ status: number; body: string }> {
  const u = new URL(post.url);
  if (!post.allowPrivate) {
    const literal = literalAddress(u);
    if (literal !== null && !isPublicAddress(literal)) return Promise.reject(errors.privateDestination(`${literal} is not a public address (WEBHOOK_ALLOW_PRIVATE)`));
  }
  const request = u.protocol === 'https:' ? httpsRequest : httpRequest;
  const limit = post.readBodyBytes ?? 0;
  return new Promise((resolve, reject) => {
    const req = request(
      u,
      {
        method: 'POST',
        headers: { ...post.headers, 'content-length': String(Buffer.byteLength(post.body)) },
        signal: AbortSignal.timeout(post.timeoutMs),
        ...(post.allowPrivate ? {} : { lookup: publicOnlyLookupWith(errors.privateDestination) }),
      },
      (res: IncomingMessage) => {
        const status = res.statusCode ?? 0;
        if (limit === 0) {
          res.resume(); // drained unread so the socket can close
          return resolve({ status, body: '' });
        }
        const chunks: Buffer[] = [];
        let size = 0;
        const done = () => resolve({ status, body: Buffer.concat(chunks).subarray(0, limit).toString('utf8') });
        res.on('data', (c: Buffer) => {
          if (size < limit) chunks.push(c);
          size += c.length;
          if (size >= limit) {
            res.destroy();
            done();
          }
        });
        res.on('end', done);
        res.on('error', done);
      },
    );
    req.on('error', (err: Error) => reject(err.name === 'AbortError' || err.name === 'TimeoutError' ? errors.timeout(`timeout after ${post.timeoutMs} ms`) : err));
    req.end(post.body);
  });
}
