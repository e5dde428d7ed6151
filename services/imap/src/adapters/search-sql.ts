// SEARCH keys to one SQL predicate over mailbox_messages `mm` (and messages `msg` for header,
// body and text keys). Client strings are only ever bound parameters: substring tests use
// strpos(), the header test a regular expression built here from escaped input, so no client
// pattern is ever interpreted. Messages are compared as Latin-1 text, which maps every octet
// to one character: any stored message converts, and UTF-8 search strings match their octets.
import type { SearchKey } from '../protocol/search.ts';

export interface CompiledSearch {
  sql: string;
  params: unknown[];
  needsRaw: boolean;
}

const HEADER = "convert_from(substring(msg.raw FOR coalesce(nullif(position('\\x0d0a0d0a'::bytea IN msg.raw), 0) + 3, octet_length(msg.raw))), 'LATIN1')";
const BODY = "convert_from(substring(msg.raw FROM coalesce(nullif(position('\\x0d0a0d0a'::bytea IN msg.raw), 0) + 4, octet_length(msg.raw) + 1)), 'LATIN1')";
const TEXT = "convert_from(msg.raw, 'LATIN1')";

/** The octets of a UTF-8 string as Latin-1 characters, lower-cased like PostgreSQL's lower(). */
function octets(s: string): string {
  return Buffer.from(s, 'utf8').toString('latin1').toLowerCase();
}

function regexEscape(s: string): string {
  return s.replace(/[\\^$.|?*+()[\]{}]/g, (m) => `\\${m}`);
}

export function compileSearch(key: SearchKey, firstParam: number): CompiledSearch {
  const params: unknown[] = [];
  let needsRaw = false;
  const p = (v: unknown) => {
    params.push(v);
    return `$${firstParam + params.length - 1}`;
  };
  const go = (k: SearchKey): string => {
    switch (k.k) {
      case 'all': return 'true';
      case 'none': return 'false';
      case 'flag': return `${k.set ? '' : 'NOT '}(mm.flags @> ARRAY[${p(k.flag)}::text])`;
      case 'uid': return `(${k.ranges.map(([a, b]) => `mm.uid BETWEEN ${p(a)}::bigint AND ${p(b)}::bigint`).join(' OR ') || 'false'})`;
      case 'size': return `mm.size ${k.op === 'larger' ? '>' : '<'} ${p(k.n)}::bigint`;
      case 'modseq': return `mm.modseq >= ${p(k.n)}::bigint`;
      case 'date': {
        const col = k.on === 'internal' ? 'mm.added_at' : 'msg.received_at';
        if (k.on === 'sent') needsRaw = true;
        const d = `${p(k.date)}::date`;
        return k.op === 'before' ? `(${col} AT TIME ZONE 'UTC')::date < ${d}` : k.op === 'on' ? `(${col} AT TIME ZONE 'UTC')::date = ${d}` : `(${col} AT TIME ZONE 'UTC')::date >= ${d}`;
      }
      case 'header': {
        needsRaw = true;
        const unfolded = `lower(regexp_replace(${HEADER}, '\\r?\\n[ \\t]+', ' ', 'g'))`;
        return `${unfolded} ~ ${p(`(^|\n)${regexEscape(octets(k.field))}[ \t]*:[^\n]*${regexEscape(octets(k.value))}`)}`;
      }
      case 'body': needsRaw = true; return `strpos(lower(${BODY}), ${p(octets(k.value))}) > 0`;
      case 'text': needsRaw = true; return `strpos(lower(${TEXT}), ${p(octets(k.value))}) > 0`;
      case 'not': return `NOT (${go(k.key)})`;
      case 'or': return `((${go(k.a)}) OR (${go(k.b)}))`;
      case 'and': return k.keys.map((x) => `(${go(x)})`).join(' AND ');
    }
  };
  const sql = go(key);
  return { sql, params, needsRaw };
}
