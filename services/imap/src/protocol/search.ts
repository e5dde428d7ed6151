// SEARCH keys (RFC 9051 §6.4.4) parsed into a tree; adapters/search-sql.ts turns it into one
// PostgreSQL query. Sequence numbers are turned into UIDs here, against the session's view.
import { ParseError, astring, type Token } from './parser.ts';
import { parseSequenceSet, type Range } from './sequence.ts';

export type SearchKey =
  | { k: 'all' }
  | { k: 'flag'; flag: string; set: boolean }
  | { k: 'uid'; ranges: Range[] }
  | { k: 'header'; field: string; value: string }
  | { k: 'body' | 'text'; value: string }
  | { k: 'date'; on: 'internal' | 'sent'; op: 'before' | 'on' | 'since'; date: string }
  | { k: 'size'; op: 'larger' | 'smaller'; n: number }
  | { k: 'modseq'; n: number }
  | { k: 'not'; key: SearchKey }
  | { k: 'or'; a: SearchKey; b: SearchKey }
  | { k: 'and'; keys: SearchKey[] }
  | { k: 'none' };

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];

/** date (RFC 9051 §9): d-MMM-yyyy, optionally quoted; returned as yyyy-mm-dd. */
export function parseDate(s: string | null): string {
  const m = s ? /^(\d{1,2})-([A-Za-z]{3})-(\d{4})$/.exec(s) : null;
  const mon = m ? MONTHS.indexOf(m[2]!.toLowerCase()) : -1;
  if (!m || mon < 0) throw new ParseError('bad date');
  return `${m[3]}-${String(mon + 1).padStart(2, '0')}-${m[1]!.padStart(2, '0')}`;
}

export interface SearchContext {
  /** Session view: UIDs by sequence number - 1. */
  uids: readonly number[];
  maxUid: number;
}

export interface ParsedSearch {
  key: SearchKey;
  /** ESEARCH RETURN options (RFC 4731), null for a plain SEARCH. */
  ret: string[] | null;
}

export function parseSearch(args: Token[], ctx: SearchContext): ParsedSearch {
  let i = 0;
  let ret: string[] | null = null;
  if (args[i]?.t === 'atom' && (args[i] as { v: string }).v.toUpperCase() === 'RETURN') {
    const l = args[i + 1];
    if (l?.t !== 'list') throw new ParseError('RETURN needs a list');
    ret = l.v.map((t) => (astring(t) ?? '').toUpperCase());
    if (ret.length === 0) ret = ['ALL'];
    if (ret.some((r) => !['MIN', 'MAX', 'ALL', 'COUNT'].includes(r))) throw new ParseError('unknown RETURN option');
    i += 2;
  }
  if (args[i]?.t === 'atom' && (args[i] as { v: string }).v.toUpperCase() === 'CHARSET') {
    const cs = (astring(args[i + 1]) ?? '').toUpperCase();
    if (cs !== 'UTF-8' && cs !== 'US-ASCII') throw new BadCharset();
    i += 2;
  }
  const keys: SearchKey[] = [];
  const next = (): SearchKey => {
    const t = args[i++];
    if (!t) throw new ParseError('missing search key');
    return one(t);
  };
  const str = (): string => {
    const v = astring(args[i++]);
    if (v === null) throw new ParseError('missing search string');
    return v;
  };
  const num = (): number => {
    const v = astring(args[i++]);
    if (!v || !/^\d{1,19}$/.test(v)) throw new ParseError('bad number');
    return Number(v);
  };
  const one = (t: Token): SearchKey => {
    if (t.t === 'list') {
      const saved = { args, i };
      const inner = parseSearchKeys(t.v, ctx);
      void saved;
      return inner;
    }
    if (t.t === 'string') throw new ParseError('unexpected string');
    const a = t.v.toUpperCase();
    const flag = (f: string, set: boolean): SearchKey => ({ k: 'flag', flag: f, set });
    switch (a) {
      case 'ALL': return { k: 'all' };
      case 'ANSWERED': return flag('\\Answered', true);
      case 'UNANSWERED': return flag('\\Answered', false);
      case 'DELETED': return flag('\\Deleted', true);
      case 'UNDELETED': return flag('\\Deleted', false);
      case 'DRAFT': return flag('\\Draft', true);
      case 'UNDRAFT': return flag('\\Draft', false);
      case 'FLAGGED': return flag('\\Flagged', true);
      case 'UNFLAGGED': return flag('\\Flagged', false);
      case 'SEEN': case 'OLD': return flag('\\Seen', true);
      case 'UNSEEN': return flag('\\Seen', false);
      case 'NEW': return flag('\\Seen', false);
      case 'RECENT': return { k: 'none' };
      case 'KEYWORD': return flag(str(), true);
      case 'UNKEYWORD': return flag(str(), false);
      case 'BCC': case 'CC': case 'FROM': case 'SUBJECT': case 'TO': return { k: 'header', field: a.toLowerCase(), value: str() };
      case 'HEADER': { const f = str(); return { k: 'header', field: f.toLowerCase(), value: str() }; }
      case 'BODY': return { k: 'body', value: str() };
      case 'TEXT': return { k: 'text', value: str() };
      case 'BEFORE': return { k: 'date', on: 'internal', op: 'before', date: parseDate(str()) };
      case 'ON': return { k: 'date', on: 'internal', op: 'on', date: parseDate(str()) };
      case 'SINCE': return { k: 'date', on: 'internal', op: 'since', date: parseDate(str()) };
      case 'SENTBEFORE': return { k: 'date', on: 'sent', op: 'before', date: parseDate(str()) };
      case 'SENTON': return { k: 'date', on: 'sent', op: 'on', date: parseDate(str()) };
      case 'SENTSINCE': return { k: 'date', on: 'sent', op: 'since', date: parseDate(str()) };
      case 'LARGER': return { k: 'size', op: 'larger', n: num() };
      case 'SMALLER': return { k: 'size', op: 'smaller', n: num() };
      case 'MODSEQ': {
        // MODSEQ [entry-name entry-type] n (RFC 7162 §3.1.5): the entry is ignored.
        if (args[i]?.t === 'string' || (args[i]?.t === 'atom' && !/^\d+$/.test((args[i] as { v: string }).v))) i += 2;
        return { k: 'modseq', n: num() };
      }
      case 'NOT': return { k: 'not', key: next() };
      case 'OR': { const x = next(); return { k: 'or', a: x, b: next() }; }
      case 'UID': {
        const r = parseSequenceSet(str(), ctx.maxUid);
        if (!r) throw new ParseError('bad UID set');
        return { k: 'uid', ranges: r };
      }
      default: {
        const r = parseSequenceSet(t.v, ctx.uids.length);
        if (!r) throw new ParseError(`unknown search key ${t.v.slice(0, 40)}`);
        return { k: 'uid', ranges: seqToUid(r, ctx.uids) };
      }
    }
  };
  while (i < args.length) keys.push(next());
  if (keys.length === 0) throw new ParseError('missing search key');
  return { key: keys.length === 1 ? keys[0]! : { k: 'and', keys }, ret };
}

function parseSearchKeys(tokens: Token[], ctx: SearchContext): SearchKey {
  return parseSearch(tokens, ctx).key;
}

/** Sequence ranges to UID ranges of the session's view (each seq range maps to a UID range). */
export function seqToUid(ranges: Range[], uids: readonly number[]): Range[] {
  const out: Range[] = [];
  for (const [a, b] of ranges) {
    if (a > uids.length || uids.length === 0) continue;
    out.push([uids[Math.max(1, a) - 1]!, uids[Math.min(b, uids.length) - 1]!]);
  }
  return out;
}

export class BadCharset extends Error {}
