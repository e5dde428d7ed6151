// Coded errors of the DNS codec (CONVENTIONS §6). A FormatError answers FORMERR (RFC 1035
// §4.1.1 rcode 1) when it comes from a query; from an upstream answer it means "server failed".

export type FormatErrorCode =
  | 'dns.short-header'
  | 'dns.truncated'
  | 'dns.label-too-long'
  | 'dns.name-too-long'
  | 'dns.bad-label-type'
  | 'dns.pointer-loop'
  | 'dns.pointer-out-of-range'
  | 'dns.bad-rdata'
  | 'dns.trailing-bytes'
  | 'dns.bad-name'
  | 'dns.bad-address'
  | 'dns.too-large';

export class FormatError extends Error {
  readonly code: FormatErrorCode;
  /** byte offset where decoding failed, when known */
  readonly offset: number | undefined;
  constructor(code: FormatErrorCode, message: string, offset?: number) {
    super(offset === undefined ? message : `${message} (at byte ${offset})`);
    this.name = 'FormatError';
    this.code = code;
    this.offset = offset;
  }
}
