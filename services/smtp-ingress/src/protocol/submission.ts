// What the submission service reads in and adds to a message's header section
// (RFC 6409 §8: Date and Message-ID when missing; RFC 5322 §3.6.2 From: syntax).

import { headerSectionLength } from './message.ts';
import { rfc5322Date } from './received.ts';

/** Unfolded header fields named `name` (case-insensitive), values only. */
export function headerValues(buf: Buffer, name: string): string[] {
  const header = buf.toString('utf8', 0, Math.min(headerSectionLength(buf), 1024 * 1024)).replace(/\r\n(?=[ \t])/g, '');
  const re = new RegExp(`^${name}[ \\t]*:(.*)$`, 'gim');
  const out: string[] = [];
  for (let m = re.exec(header); m; m = re.exec(header)) out.push(m[1]!.trim());
  return out;
}

/** Removes RFC 5322 comments (nested parentheses), leaving quoted strings alone. */
function stripComments(s: string): string {
  let out = '';
  let depth = 0;
  let quoted = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === '\\' && (quoted || depth > 0)) {
      if (depth === 0) out += c + (s[i + 1] ?? '');
      i++;
      continue;
    }
    if (depth === 0 && c === '"') quoted = !quoted;
    if (!quoted && c === '(') depth++;
    else if (!quoted && c === ')' && depth > 0) {
      depth--;
      continue;
    }
    if (depth === 0) out += c;
  }
  return out;
}

/** Splits at `sep` outside quoted strings and angle brackets. */
function split(s: string, sep: string): string[] {
  const parts: string[] = [];
  let cur = '';
  let quoted = false;
  let angle = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === '\\' && quoted) {
      cur += c + (s[i + 1] ?? '');
      i++;
      continue;
    }
    if (c === '"') quoted = !quoted;
    else if (!quoted && c === '<') angle = true;
    else if (!quoted && c === '>') angle = false;
    if (c === sep && !quoted && !angle) {
      parts.push(cur);
      cur = '';
    } else cur += c;
  }
  parts.push(cur);
  return parts;
}

/**
 * The addr-specs of a From: field body: `a@x`, `Name <a@x>`, `"Q, N" <a@x> (c)`, groups
 * `g: a@x, b@y;`. Syntax we cannot read gives the raw token, which then matches nobody.
 */
export function mailboxAddresses(value: string): string[] {
  const out: string[] = [];
  for (let part of split(stripComments(value), ',')) {
    part = part.trim();
    // group: display-name ":" [mailbox-list] ";"
    const colon = split(part, ':');
    if (colon.length > 1 && !part.trimStart().startsWith('<')) part = colon.slice(1).join(':').trim();
    part = part.replace(/;\s*$/, '').trim();
    if (!part) continue;
    const angle = /<([^<>]*)>\s*$/.exec(part);
    out.push((angle ? angle[1]! : part).trim());
  }
  return out.filter(Boolean);
}

/** Every address in every From: field; null when there is no From: field. */
export function fromAddresses(message: Buffer): string[] | null {
  const fields = headerValues(message, 'From');
  if (fields.length === 0) return null;
  return fields.flatMap(mailboxAddresses);
}

/** RFC 6409 §8.2, §8.3: the fields to add in front of the message, or '' when none are missing. */
export function missingSubmissionFields(message: Buffer, o: { id: string; hostname: string; date: Date }): { fields: string; messageId: string | null } {
  let fields = '';
  let messageId: string | null = null;
  if (headerValues(message, 'Date').length === 0) fields += `Date: ${rfc5322Date(o.date)}\r\n`;
  if (headerValues(message, 'Message-ID').length === 0) {
    messageId = `<${o.id}@${o.hostname}>`;
    fields += `Message-ID: ${messageId}\r\n`;
  }
  return { fields, messageId };
}
