// The DSN parameters of MAIL FROM (RET, ENVID) and RCPT TO (NOTIFY, ORCPT), RFC 3461 §4, read
// from the command line as the client sent it. smtp-server decodes every parameter's xtext
// before we see it (and lets bad xtext through), so the syntax is checked here on the raw
// line; what passes is exactly what smtp-server then stores in the envelope.

/** xtext (RFC 3461 §4): "!" to "~" except "+" and "=", or "+" and two upper-case hex digits. */
const XTEXT = /^(?:[!-*,-<>-~]|\+[0-9A-F]{2})*$/;

/** RFC 3461 §4.4: ENVID at most 100 characters; §4.2: ORCPT at most 500 (as sent, in xtext). */
export const MAX_ENVID = 100;
export const MAX_ORCPT = 500;

export const NOTIFY_VALUES = ['NEVER', 'SUCCESS', 'FAILURE', 'DELAY'] as const;

export function decodeXtext(value: string): string | null {
  if (!XTEXT.test(value)) return null;
  return value.replace(/\+([0-9A-F]{2})/g, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}

export function encodeXtext(value: string): string {
  return value.replace(/[^!-*,-<>-~]/g, (c) => `+${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);
}

/** The parameters after the path (`MAIL FROM:<a> P1 P2`), keys upper case, values as sent. */
function parameters(line: string): [key: string, value: string | null][] {
  const m = /^(?:MAIL\s+FROM|RCPT\s+TO)\s*:\s*(?:<[^<>]*>|\S*)(.*)$/is.exec(line);
  if (!m) return [];
  return m[1]!
    .split(/\s+/)
    .filter(Boolean)
    .map((p) => {
      const eq = p.indexOf('=');
      return eq < 0 ? [p.toUpperCase(), null] : [p.slice(0, eq).toUpperCase(), p.slice(eq + 1)];
    });
}

/** RFC 3461 §4.1: NEVER alone, or any of SUCCESS, FAILURE, DELAY, each at most once. */
export function parseNotify(value: string): string[] | null {
  const values = value.toUpperCase().split(',');
  if (values.some((v) => !(NOTIFY_VALUES as readonly string[]).includes(v))) return null;
  if (new Set(values).size !== values.length) return null;
  if (values.includes('NEVER') && values.length > 1) return null;
  return values;
}

/**
 * What is wrong with the DSN parameters of a MAIL FROM or RCPT TO line: the reply text after
 * `501 5.5.4`, or null when they are fine (or absent). Duplicates and parameters without a
 * value are caught here too, so every DSN syntax error reads the same.
 */
export function dsnParameterError(line: string): string | null {
  const mail = /^MAIL\s/i.test(line);
  const keys = mail ? ['RET', 'ENVID'] : /^RCPT\s/i.test(line) ? ['NOTIFY', 'ORCPT'] : [];
  if (keys.length === 0) return null;
  const seen = new Set<string>();
  for (const [key, value] of parameters(line)) {
    if (!keys.includes(key)) continue;
    if (seen.has(key)) return `Duplicate ${key} parameter`;
    seen.add(key);
    if (!value) return `${key} parameter requires a value`;
    switch (key) {
      case 'RET':
        if (!/^(FULL|HDRS)$/i.test(value)) return 'RET must be FULL or HDRS';
        break;
      case 'ENVID':
        if (value.length > MAX_ENVID) return `ENVID longer than ${MAX_ENVID} characters`;
        if (decodeXtext(value) === null) return 'Bad xtext in ENVID';
        break;
      case 'NOTIFY':
        if (!parseNotify(value)) return 'NOTIFY must be NEVER, or one or more of SUCCESS, FAILURE, DELAY';
        break;
      case 'ORCPT': {
        if (value.length > MAX_ORCPT) return `ORCPT longer than ${MAX_ORCPT} characters`;
        // addr-type ";" xtext; addr-type is an atom (RFC 5322 atext).
        const m = /^([A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+);(.+)$/.exec(value);
        if (!m) return 'ORCPT must be addr-type;address';
        const address = decodeXtext(m[2]!);
        // §4.2: the address must be printable US-ASCII once decoded.
        if (address === null || !/^[\x20-\x7e]+$/.test(address)) return 'Bad xtext in ORCPT';
        break;
      }
    }
  }
  return null;
}
