// SORT (RFC 5256 §3): sort keys over header fields, with the RFC's base subject and the
// first address's mailbox as keys. Pure; the engine supplies the header blocks.
import { field, headerFields } from './mime.ts';
import { parseAddresses } from './structure.ts';

export type SortKey = 'ARRIVAL' | 'CC' | 'DATE' | 'FROM' | 'SIZE' | 'SUBJECT' | 'TO' | 'DISPLAYFROM' | 'DISPLAYTO';
export interface SortCriterion {
  key: SortKey;
  reverse: boolean;
}

export const SORT_KEYS = new Set<SortKey>(['ARRIVAL', 'CC', 'DATE', 'FROM', 'SIZE', 'SUBJECT', 'TO', 'DISPLAYFROM', 'DISPLAYTO']);

/** RFC 5256 §2.1 base subject, simplified: no encoded-word decoding, ASCII case folding. */
export function baseSubject(s: string): string {
  let t = s.replace(/\s+/g, ' ').trim();
  for (let prev = ''; prev !== t; ) {
    prev = t;
    t = t.replace(/\s*\((fwd)\)$/i, '').trim();
    t = t.replace(/^(\[[^\][]*\]\s*)*(re|fwd?)\s*(\[[^\][]*\])?\s*:\s*/i, '').trim();
    t = t.replace(/^\[[^\][]*\]\s*(?=\S)/, '').trim();
    const m = /^\[fwd:\s*(.*)\]$/i.exec(t);
    if (m) t = m[1]!.trim();
  }
  return t.toLowerCase();
}

interface Item {
  uid: number;
  size: number;
  internalDate: Date;
  header: Buffer;
}

function keyOf(it: Item, k: SortKey): string | number {
  const f = headerFields(it.header);
  switch (k) {
    case 'ARRIVAL':
      return it.internalDate.getTime();
    case 'SIZE':
      return it.size;
    case 'DATE': {
      const d = Date.parse(field(f, 'date') ?? '');
      return Number.isNaN(d) ? it.internalDate.getTime() : d;
    }
    case 'SUBJECT':
      return baseSubject(field(f, 'subject') ?? '');
    case 'FROM':
    case 'TO':
    case 'CC': {
      const a = parseAddresses(field(f, k.toLowerCase()))[0];
      return (a?.mailbox ?? '').toLowerCase();
    }
    case 'DISPLAYFROM':
    case 'DISPLAYTO': {
      const a = parseAddresses(field(f, k === 'DISPLAYFROM' ? 'from' : 'to'))[0];
      return (a?.name ?? (a ? `${a.mailbox}@${a.host}` : '')).toLowerCase();
    }
  }
}

/** UIDs in sort order; ties fall back to UID order (RFC 5256 §3: sequence order). */
export function sortItems(items: Item[], criteria: SortCriterion[]): number[] {
  const keyed = items.map((it) => ({ uid: it.uid, keys: criteria.map((c) => keyOf(it, c.key)) }));
  keyed.sort((a, b) => {
    for (let i = 0; i < criteria.length; i++) {
      const x = a.keys[i]!;
      const y = b.keys[i]!;
      const c = x < y ? -1 : x > y ? 1 : 0;
      if (c !== 0) return criteria[i]!.reverse ? -c : c;
    }
    return a.uid - b.uid;
  });
  return keyed.map((k) => k.uid);
}

/**
 * THREAD=ORDEREDSUBJECT (RFC 5256 §3): messages grouped by base subject, each group ordered
 * by sent date; the first message is the parent of the others (siblings), and threads are
 * ordered by their first message's date. Returns the thread-list text of the numbers given
 * by `num` (sequence numbers or UIDs).
 */
export function orderedSubjectThreads(items: Item[], num: (uid: number) => number): string {
  const date = (it: Item) => keyOf(it, 'DATE') as number;
  const sorted = [...items].sort((a, b) => {
    const sa = keyOf(a, 'SUBJECT') as string;
    const sb = keyOf(b, 'SUBJECT') as string;
    return sa < sb ? -1 : sa > sb ? 1 : date(a) - date(b) || a.uid - b.uid;
  });
  const threads: Item[][] = [];
  let last: string | null = null;
  for (const it of sorted) {
    const s = keyOf(it, 'SUBJECT') as string;
    if (s !== last || threads.length === 0) threads.push([]);
    threads.at(-1)!.push(it);
    last = s;
  }
  threads.sort((a, b) => date(a[0]!) - date(b[0]!) || a[0]!.uid - b[0]!.uid);
  return threads
    .map(([first, ...rest]) => {
      const head = String(num(first!.uid));
      if (rest.length === 0) return `(${head})`;
      if (rest.length === 1) return `(${head} ${num(rest[0]!.uid)})`;
      return `(${head} ${rest.map((r) => `(${num(r.uid)})`).join('')})`;
    })
    .join('');
}
