// THREAD=REFERENCES (RFC 5256 §3): threads from Message-ID / References / In-Reply-To, after
// Jamie Zawinski's algorithm, then threads of the same base subject gathered together. Pure; the
// engine supplies the header blocks. Dates are sent dates (§2.2: the Date: field, else the
// internal date); ties fall back to mailbox order (UID order).
import { field, headerFields } from './mime.ts';
import { baseSubject } from './sort.ts';

interface Item {
  uid: number;
  internalDate: Date;
  header: Buffer;
}

interface Node {
  item: Item | null; // null: a dummy (a message referred to but not in the set)
  date: number;
  parent: Node | null;
  children: Node[];
}

const MSG_ID = /<[^<>\s]+>/g;

function ids(v: string | null): string[] {
  return v ? (v.match(MSG_ID) ?? []) : [];
}

/** The subject starts with (or ends in) a reply or forward marker (RFC 5256 §2.1, step 5 E). */
function isReply(subject: string): boolean {
  return /^\s*(\[[^\][]*\]\s*)*(re|fwd?)\s*(\[[^\][]*\])?\s*:/i.test(subject) || /^\s*\[fwd:/i.test(subject) || /\(fwd\)\s*$/i.test(subject);
}

function link(parent: Node, child: Node): void {
  if (child.parent) child.parent.children.splice(child.parent.children.indexOf(child), 1);
  child.parent = parent;
  parent.children.push(child);
}

/** `a` is `b` or one of its ancestors. */
function isAncestor(a: Node, b: Node): boolean {
  for (let n: Node | null = b; n; n = n.parent) if (n === a) return true;
  return false;
}

/** A node's date for sorting: its message's, or for a dummy its first child's (children sorted first). */
function sortSiblings(nodes: Node[], deep: boolean): void {
  for (const n of nodes) {
    if (deep || !n.item) sortSiblings(n.children, deep);
    if (!n.item) n.date = n.children[0]?.date ?? 0;
  }
  nodes.sort((a, b) => a.date - b.date || firstUid(a) - firstUid(b));
}

function firstUid(n: Node): number {
  return n.item ? n.item.uid : firstUid(n.children[0]!);
}

export function referencesThreads(items: Item[], num: (uid: number) => number): string {
  const byId = new Map<string, Node>();
  const nodes: Node[] = [];
  const subjects = new Map<Node, string>();
  const sorted = [...items].sort((a, b) => a.uid - b.uid);
  // (1) Containers for every message and every message it refers to, linked in reference order.
  for (const it of sorted) {
    const f = headerFields(it.header);
    const d = Date.parse(field(f, 'date') ?? '');
    const date = Number.isNaN(d) ? it.internalDate.getTime() : d;
    let own = ids(field(f, 'message-id'))[0];
    let node = own ? byId.get(own) : undefined;
    if (node?.item || !own) {
      // No Message-ID, or a duplicate: a unique one (RFC 5256 §3 (1)).
      own = `\0${it.uid}`;
      node = undefined;
    }
    if (!node) {
      node = { item: null, date: 0, parent: null, children: [] };
      byId.set(own, node);
    }
    node.item = it;
    node.date = date;
    nodes.push(node);
    subjects.set(node, field(f, 'subject') ?? '');
    let refs = ids(field(f, 'references'));
    if (refs.length === 0) refs = ids(field(f, 'in-reply-to')).slice(0, 1);
    let prev: Node | null = null;
    for (const r of refs) {
      let c = byId.get(r);
      if (!c) {
        c = { item: null, date: 0, parent: null, children: [] };
        byId.set(r, c);
      }
      // Existing links stay; no link that would make a loop.
      if (prev && !c.parent && c !== prev && !isAncestor(c, prev)) link(prev, c);
      prev = c;
    }
    // The message's parent is its last reference, replacing a link from a truncated References.
    if (node.parent) {
      node.parent.children.splice(node.parent.children.indexOf(node), 1);
      node.parent = null;
    }
    if (prev && prev !== node && !isAncestor(node, prev)) link(prev, node);
  }
  // (2) The root set, (3) dummies pruned: a childless dummy goes, a dummy's children take its
  // place (at the root only when it has a single child).
  const prune = (list: Node[], root: boolean): Node[] => {
    const out: Node[] = [];
    for (const n of list) {
      n.children = prune(n.children, false);
      for (const c of n.children) c.parent = n;
      if (n.item || (root && n.children.length > 1)) out.push(n);
      else out.push(...n.children);
    }
    return out;
  };
  let roots = prune([...new Set([...byId.values()].filter((n) => !n.parent))], true);
  for (const r of roots) r.parent = null;
  // (4) Roots sorted by date, (5) roots of the same base subject gathered.
  sortSiblings(roots, false);
  const subjectOf = (n: Node): string => subjects.get(n.item ? n : n.children[0]!) ?? '';
  const table = new Map<string, Node>();
  for (const r of roots) {
    const s = baseSubject(subjectOf(r));
    if (!s) continue;
    const t = table.get(s);
    if (!t || (!r.item && t.item) || (t.item && r.item && isReply(subjectOf(t)) && !isReply(subjectOf(r)))) table.set(s, r);
  }
  const made: Node[] = [];
  for (const r of roots) {
    if (r.parent) continue; // already gathered under another
    const s = baseSubject(subjectOf(r));
    const t = s ? table.get(s) : undefined;
    if (!t || t === r) continue;
    if (!t.item && !r.item) for (const c of [...r.children]) link(t, c);
    else if (!t.item) link(t, r);
    else if (!r.item) {
      // Not reached (the table prefers dummies); kept total: the message joins the dummy.
      link(r, t);
      table.set(s, r);
    } else if (!isReply(subjectOf(t)) && isReply(subjectOf(r))) link(t, r);
    else {
      const d: Node = { item: null, date: 0, parent: null, children: [] };
      link(d, t);
      link(d, r);
      table.set(s, d);
      made.push(d);
    }
  }
  roots = [...roots, ...made].filter((n) => !n.parent && (n.item || n.children.length > 0));
  // (6) Every set of siblings sorted by date, depth first; then the roots again.
  sortSiblings(roots, true);
  const fmt = (n: Node): string => {
    if (!n.item) return n.children.map((c) => `(${fmt(c)})`).join('');
    const head = String(num(n.item.uid));
    if (n.children.length === 0) return head;
    if (n.children.length === 1) return `${head} ${fmt(n.children[0]!)}`;
    return `${head} ${n.children.map((c) => `(${fmt(c)})`).join('')}`;
  };
  return roots.map((r) => `(${fmt(r)})`).join('');
}
