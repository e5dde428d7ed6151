// Coded errors of dns-cache (CONVENTIONS §6). An upstream exchange that gave no usable answer
// is temporary by nature: the next upstream is tried, then stale data or SERVFAIL. The kind
// is also the `reason` of logs, metrics (`outcome`) and SERVFAIL answers.
import { codedErrorClass, defineErrors } from '@hopmail/service-kit';

export const ERRORS = defineErrors({
  timeout: { code: 'dns-cache.upstream-timeout', temporary: true, message: 'the upstream did not answer in time' },
  servfail: { code: 'dns-cache.upstream-servfail', temporary: true, message: 'the upstream answered SERVFAIL' },
  refused: { code: 'dns-cache.upstream-refused', temporary: true, message: 'the upstream answered REFUSED' },
  'bad-reply': { code: 'dns-cache.upstream-bad-reply', temporary: true, message: 'the upstream answer could not be used' },
  network: { code: 'dns-cache.upstream-network', temporary: true, message: 'the upstream could not be reached' },
});

export type UpstreamFailure = keyof typeof ERRORS;

/** Why an upstream exchange gave no usable answer, and which upstream it was. */
export class UpstreamError extends codedErrorClass('UpstreamError', ERRORS) {
  /** host:port of the upstream ('-' when none is configured). */
  readonly upstream: string;
  constructor(kind: UpstreamFailure, upstream: string, message?: string, cause?: unknown) {
    super(kind, message, cause);
    this.upstream = upstream;
  }
}
