// One webhook POST over node:http(s), so that the connection can be restricted to public
// addresses (policy/destination.ts) on the address actually connected to. Redirects are not
// followed (a 3xx is a failure, like any non-2xx).
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isPublicAddress, literalAddress, PrivateDestinationError, publicOnlyLookup } from '../policy/destination.ts';

export class WebhookTimeoutError extends Error {
  override name = 'TimeoutError';
}

/** POSTs `body`; resolves with the HTTP status once the response head arrived. */
export function postWebhook(url: string, headers: Record<string, string>, body: string, opts: { timeoutMs: number; allowPrivate: boolean }): Promise<number> {
  const u = new URL(url);
  if (!opts.allowPrivate) {
    const literal = literalAddress(u);
    if (literal !== null && !isPublicAddress(literal)) {
      return Promise.reject(new PrivateDestinationError(`${literal} is not a public address (WEBHOOK_ALLOW_PRIVATE)`));
    }
  }
  const request = u.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise<number>((resolve, reject) => {
    const req = request(
      u,
      {
        method: 'POST',
        headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) },
        signal: AbortSignal.timeout(opts.timeoutMs),
        ...(opts.allowPrivate ? {} : { lookup: publicOnlyLookup }),
      },
      (res: IncomingMessage) => {
        res.resume(); // the body is not read; drain it so the socket can close
        resolve(res.statusCode ?? 0);
      },
    );
    req.on('error', (err: Error) => reject(err.name === 'AbortError' ? new WebhookTimeoutError(`timeout after ${opts.timeoutMs} ms`) : err));
    req.end(body);
  });
}
