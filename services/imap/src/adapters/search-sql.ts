// SEARCH keys to one SQL predicate over mailbox_messages `mm` and its message's search row
// `s` (migration 0021: the header block unfolded and the body as Latin-1 text, ASCII letters lower-cased, with
// trigram indexes). Client strings are only ever bound parameters: substring tests are LIKE
// patterns with every wildcard escaped (what the trigram index serves), the header test also a
// regular expression built here from escaped input, so no client pattern is ever interpreted.
// Messages are compared as Latin-1 text, which maps every octet to one character: any stored
// message converts, and UTF-8 search strings match their octets.
import type { SearchKey } from '../protocol/search.ts';

export interface CompiledSearch {
  sql: string;
  params: unknown[];
  /** The predicate reads `s` (message_search). */
  needsIndex: boolean;
}

// A body longer than the indexed 1 MiB is searched in its stored bytes (few rows: a partial index).
// hopmail_search_latin1 (migration 0024): the octets as Latin-1 text, NULs left out.
const RAW_BODY = "hopmail_search_latin1(substring(msg.raw FROM coalesce(nullif(position('\\x0d0a0d0a'::bytea IN msg.raw), 0) + 4, octet_length(msg.raw) + 1)))";

/** The octets of a UTF-8 string as Latin-1 characters, ASCII letters lower-cased like hopmail_search_fold(). */
function octets(s: string): string {
  return Buffer.from(s, 'utf8').toString('latin1').replace(/[A-Z]+/g, (m) => m.toLowerCase());
}

function regexEscape(s: string): string {
  return s.replace(/[\\^$.|?*+()[\]{}]/g, (m) => `\\${m}`);
}

function likeContains(s: string): string {
  return `%${s.replace(/[\\%_]/g, (m) => `\\${m}`)}%`;
}

export function compileSearch(key: SearchKey, firstParam: number): CompiledSearch {
  const params: unknown[] = [];
  let needsIndex = false;
  const p = (v: unknown) => {
    params.push(v);
    return `$${firstParam + params.length - 1}`;
  };
  const body = (v: string): string => {
    const like = p(likeContains(v));
    return `(s.body LIKE ${like} OR (NOT s.body_complete AND EXISTS (SELECT 1 FROM messages msg WHERE msg.id = s.message_id AND strpos(hopmail_search_fold(${RAW_BODY}), ${p(v)}) > 0)))`;
  };
  const go = (k: SearchKey): string => {
    switch (k.k) {
      case 'all': return 'true';
      case 'none': return 'false';
      case 'flag': return `${k.set ? '' : 'NOT '}(mm.flags @> ARRAY[${p(k.flag)}::text])`;
      case 'uid': return `(${k.ranges.map(([a, b]) => `mm.uid BETWEEN ${p(a)}::bigint AND ${p(b)}::bigint`).join(' OR ') || 'false'})`;
      case 'size': return `mm.size ${k.op === 'larger' ? '>' : '<'} ${p(k.n)}::bigint`;
      case 'modseq': return `greatest(mm.modseq, mm.flags_modseq) >= ${p(k.n)}::bigint`;
      case 'date': {
        // SENT*: the Date: field's date, time and zone disregarded (RFC 9051 §6.4.4).
        if (k.on === 'sent') needsIndex = true;
        const col = k.on === 'internal' ? "(mm.added_at AT TIME ZONE 'UTC')::date" : 's.sent_on';
        const d = `${p(k.date)}::date`;
        return k.op === 'before' ? `${col} < ${d}` : k.op === 'on' ? `${col} = ${d}` : `${col} >= ${d}`;
      }
      case 'header': {
        needsIndex = true;
        const v = octets(k.value);
        // LIKE finds the candidates through the index; the expression checks the field.
        return `(s.head LIKE ${p(likeContains(v))} AND s.head ~ ${p(`(^|\n)${regexEscape(octets(k.field))}[ \t]*:[^\n]*${regexEscape(v)}`)})`;
      }
      case 'body': needsIndex = true; return body(octets(k.value));
      case 'text': needsIndex = true; return `(s.head LIKE ${p(likeContains(octets(k.value)))} OR ${body(octets(k.value))})`;
      case 'not': return `NOT (${go(k.key)})`;
      case 'or': return `((${go(k.a)}) OR (${go(k.b)}))`;
      case 'and': return k.keys.map((x) => `(${go(x)})`).join(' AND ');
    }
  };
  const sql = go(key);
  return { sql, params, needsIndex };
}
