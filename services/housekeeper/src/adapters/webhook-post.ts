// One webhook POST over node:http(s), so that the connection can be restricted to public
// addresses (@hopmail/events destination.ts) on the address actually connected to. Redirects
// are not followed (a 3xx is a failure, like any non-2xx).
import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { LookupFunction } from 'node:net';
import { isPublicAddress, literalAddress } from '@hopmail/events';
import { HousekeeperError } from '../errors.ts';

/**
 * A `lookup` for http(s).request that resolves as usual and then refuses the connection when
 * any address of the name is not public: the check applies to the very address connected to.
 */
export const publicOnlyLookup: LookupFunction = (hostname: string, options: LookupOptions, callback): void => {
  dnsLookup(hostname, { ...options, all: true }, (err, addresses: LookupAddress[]) => {
    if (err) return callback(err, []);
    const bad = addresses.find((a) => !isPublicAddress(a.address));
    if (bad) return callback(new HousekeeperError('privateDestination', `${hostname} resolves to ${bad.address}, which is not a public address (WEBHOOK_ALLOW_PRIVATE)`), []);
    if (options.all) return callback(null, addresses);
    return callback(null, addresses[0]!.address, addresses[0]!.family);
  });
};

export interface WebhookPost {
  url: string;
  headers: Record<string, string>;
  body: string;
  timeoutMs: number;
  /** WEBHOOK_ALLOW_PRIVATE: skip the public-address check. */
  allowPrivate: boolean;
}

/** POSTs the body; resolves with the HTTP status once the response head arrived. */
export function postWebhook(post: WebhookPost): Promise<number> {
  const u = new URL(post.url);
  if (!post.allowPrivate) {
    const literal = literalAddress(u);
    if (literal !== null && !isPublicAddress(literal)) {
      return Promise.reject(new HousekeeperError('privateDestination', `${literal} is not a public address (WEBHOOK_ALLOW_PRIVATE)`));
    }
  }
  const request = u.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise<number>((resolve, reject) => {
    const req = request(
      u,
      {
        method: 'POST',
        headers: { ...post.headers, 'content-length': String(Buffer.byteLength(post.body)) },
        signal: AbortSignal.timeout(post.timeoutMs),
        ...(post.allowPrivate ? {} : { lookup: publicOnlyLookup }),
      },
      (res: IncomingMessage) => {
        res.resume(); // the body is not read; drain it so the socket can close
        resolve(res.statusCode ?? 0);
      },
    );
    req.on('error', (err: Error) => reject(err.name === 'AbortError' ? new HousekeeperError('webhookTimeout', `timeout after ${post.timeoutMs} ms`) : err));
    req.end(post.body);
  });
}
