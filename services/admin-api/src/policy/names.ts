// Pure validation and normalisation of the names the API stores. Domains are stored lower
// case; local parts keep the case they were given (the unique indexes compare lower()).
import { isValidDomain, parseAddress, type AddressError } from '@hopmail/mail';

export type Checked<T> = { ok: true; value: T } | { ok: false; message: string };

const ok = <T>(value: T): Checked<T> => ({ ok: true, value });
const fail = (message: string): Checked<never> => ({ ok: false, message });

// C0 controls, DEL, C1 controls, and the Unicode line/paragraph separators: none of them
// belongs in a name, and CR/LF in particular would let a value inject SMTP or log lines.
// eslint-disable-next-line no-control-regex
export const CONTROL_CHARS = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/u;

/** JSON-schema `pattern` rejecting the same characters (Ajv compiles it with the u flag). */
export const NO_CONTROL_CHARS_PATTERN = '^[^\\u0000-\\u001f\\u007f-\\u009f\\u2028\\u2029]*$';

// Characters that render as nothing or reorder the text around them: zero-width spaces and
// joiners (U+200B-U+200D, U+2060), the byte-order mark (U+FEFF), soft hyphen, variation
// selectors, tags, and the bidirectional controls (U+200E/F, U+202A-U+202E, U+2066-U+2069,
// U+061C). In a domain or address they make two names that look identical differ
// (`paypal.com` and `pay\u200bpal.com`), or show one name as another (`\u202Egro.elpmaxe`):
// the API refuses them (Unicode's Default_Ignorable_Code_Point and Bidi_Control sets).
export const INVISIBLE_CHARS = /[\p{Default_Ignorable_Code_Point}\p{Bidi_Control}]/u;

/** "U+200B" for the first invisible or bidi character of `input`, for the error message. */
function firstInvisible(input: string): string | undefined {
  const m = INVISIBLE_CHARS.exec(input);
  return m ? `U+${m[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}` : undefined;
}

const ADDRESS_ERRORS: Record<AddressError, string> = {
  empty: 'is empty',
  syntax: 'is not a valid address (expected local@domain)',
  'local-too-long': 'has a local part longer than 64 octets (RFC 5321 §4.5.3.1.1)',
  'domain-too-long': 'has a domain longer than 255 octets (RFC 5321 §4.5.3.1.2)',
  'too-long': 'is longer than 254 octets (RFC 5321 §4.5.3.1.3)',
  'control-char': 'contains control characters',
};

/** A domain name as stored: lower case, no trailing dot, no address literal. */
export function checkDomainName(field: string, input: string): Checked<string> {
  if (CONTROL_CHARS.test(input)) return fail(`${field} contains control characters`);
  const invisible = firstInvisible(input);
  if (invisible) return fail(`${field} contains an invisible or bidirectional-control character (${invisible})`);
  const name = input.toLowerCase();
  if (name.length === 0) return fail(`${field} is empty`);
  if (Buffer.byteLength(name) > 253) return fail(`${field} is longer than 253 octets`);
  if (name.startsWith('[')) return fail(`${field} must be a domain name, not an address literal`);
  if (!isValidDomain(name)) return fail(`${field} is not a valid domain name`);
  return ok(name);
}

export interface CheckedAddress {
  address: string;
  local: string;
  domain: string;
}

/** `local@domain` with the domain lower-cased. */
export function checkAddress(field: string, input: string): Checked<CheckedAddress> {
  const invisible = firstInvisible(input);
  if (invisible) return fail(`${field} contains an invisible or bidirectional-control character (${invisible})`);
  const parsed = parseAddress(input);
  if ('error' in parsed) return fail(`${field} ${ADDRESS_ERRORS[parsed.error]}`);
  if (parsed.domain.startsWith('[')) return fail(`${field} must use a domain name, not an address literal`);
  const domain = checkDomainName(field, parsed.domain);
  if (!domain.ok) return domain;
  return ok({ address: `${parsed.local}@${domain.value}`, local: parsed.local, domain: domain.value });
}

export interface AliasSource {
  /** `local@domain`, or `@domain` for a catch-all. */
  source: string;
  domain: string;
  catchAll: boolean;
}

export function checkAliasSource(field: string, input: string): Checked<AliasSource> {
  if (input.startsWith('@')) {
    const d = checkDomainName(field, input.slice(1));
    return d.ok ? ok({ source: '@' + d.value, domain: d.value, catchAll: true }) : d;
  }
  const a = checkAddress(field, input);
  return a.ok ? ok({ source: a.value.address, domain: a.value.domain, catchAll: false }) : a;
}

/**
 * Alias targets: addresses, or `@domain` to keep the local part and rewrite the domain.
 * Duplicates (compared case-insensitively) are refused rather than silently merged so the
 * stored list is exactly what the client sees. Loops are the router's business: it detects
 * them at delivery time, and an alias naming itself is the documented "keep a copy" form.
 */
export function checkAliasTargets(field: string, input: readonly string[]): Checked<string[]> {
  const out: string[] = [];
  const seen = new Set<string>();
  for (const [i, t] of input.entries()) {
    const name = `${field}[${i}]`;
    let value: string;
    if (t.startsWith('@')) {
      const d = checkDomainName(name, t.slice(1));
      if (!d.ok) return d;
      value = '@' + d.value;
    } else {
      const a = checkAddress(name, t);
      if (!a.ok) return a;
      value = a.value.address;
    }
    const key = value.toLowerCase();
    if (seen.has(key)) return fail(`${name} repeats an earlier target`);
    seen.add(key);
    out.push(value);
  }
  if (out.length === 0) return fail(`${field} must contain at least one target`);
  return ok(out);
}
