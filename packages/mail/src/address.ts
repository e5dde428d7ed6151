// Envelope address handling (RFC 5321 §4.1.2, §4.5.3.1; RFC 6531 for UTF-8 local parts).

export interface Address {
  local: string;
  /** Lower-cased domain (ASCII or U-label). */
  domain: string;
}

export type AddressError = 'empty' | 'syntax' | 'local-too-long' | 'domain-too-long' | 'too-long' | 'control-char';

const DOMAIN_LABEL = /^(?!-)[A-Za-z0-9\u0080-\uFFFF-]{1,63}(?<!-)$/u;
// dot-atom local part; quoted-string forms are accepted when they contain no controls.
const ATEXT = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~\u0080-\uFFFF-]+$/u;

/** Parses `local@domain` (no angle brackets). Returns the address or why it is invalid. */
export function parseAddress(input: string): Address | { error: AddressError } {
  if (!input) return { error: 'empty' };
  // C0, DEL, C1 and the Unicode line/paragraph separators: none belongs in an address,
  // and each can split a line somewhere downstream (logs, headers).
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/.test(input)) return { error: 'control-char' };
  const at = input.lastIndexOf('@');
  if (at <= 0 || at === input.length - 1) return { error: 'syntax' };
  const local = input.slice(0, at);
  const domain = input.slice(at + 1).toLowerCase();
  if (Buffer.byteLength(local) > 64) return { error: 'local-too-long' };
  if (Buffer.byteLength(domain) > 255) return { error: 'domain-too-long' };
  if (Buffer.byteLength(input) > 254) return { error: 'too-long' };
  if (!isValidLocalPart(local)) return { error: 'syntax' };
  if (!isValidDomain(domain)) return { error: 'syntax' };
  return { local, domain };
}

export function isValidLocalPart(local: string): boolean {
  if (local.startsWith('"') && local.endsWith('"') && local.length >= 2) {
    return !/[\\"]/.test(local.slice(1, -1).replace(/\\[\x20-\x7e]/g, ''));
  }
  return local.split('.').every((atom) => atom.length > 0 && ATEXT.test(atom));
}

export function isValidDomain(domain: string): boolean {
  if (domain.startsWith('[') && domain.endsWith(']')) return /^\[(\d{1,3}\.){3}\d{1,3}\]$|^\[IPv6:[0-9a-f:.]+\]$/i.test(domain);
  const labels = domain.split('.');
  return labels.length >= 1 && labels.every((l) => DOMAIN_LABEL.test(l));
}

export function formatAddress(a: Address): string {
  return `${a.local}@${a.domain}`;
}

/** The key an address is looked up by: domain always lower case, local part per config. */
export function addressKey(a: Address, localPartCaseSensitive: boolean): string {
  return `${localPartCaseSensitive ? a.local : a.local.toLowerCase()}@${a.domain}`;
}

/**
 * When two envelope recipients of one message are the same: the domain compared
 * case-insensitively, the local part exactly. RFC 5321 §2.4 leaves local-part case to the
 * host that owns the mailbox, so `Foo@remote.test` and `foo@remote.test` may be two people;
 * for local domains routing applies LOCAL_PART_CASE_SENSITIVE and writes one copy per
 * mailbox whatever led there. The recipients table's unique key is the same (migration 0008).
 */
export function envelopeKey(address: string): string {
  const at = address.lastIndexOf('@');
  return at < 0 ? address : `${address.slice(0, at)}@${address.slice(at + 1).toLowerCase()}`;
}

/** `user+tag` → `user` (RFC 5233 subaddressing); undefined when there is no tag. */
export function stripSubaddress(local: string, delimiter: string): string | undefined {
  if (!delimiter) return undefined;
  const i = local.indexOf(delimiter);
  return i > 0 ? local.slice(0, i) : undefined;
}
