// Recipient resolution: the one decision smtp-ingress (at RCPT) and routing (at delivery)
// must agree on. Pure apart from the Directory lookups it is given.

import { parseAddress, stripSubaddress, type Address } from './address.ts';

export interface MailboxRef {
  id: number;
  address: string;
}

/** Storage behind the resolver; keys are already normalised (see addressKey). */
export interface Directory {
  /** 'local' domains have mailboxes; 'relay' domains are accepted and forwarded out. */
  domainKind(domain: string): Promise<'local' | 'relay' | null>;
  findMailbox(address: string): Promise<MailboxRef | null>;
  /** Targets of the alias whose source is `address` (or `@domain` for a catch-all). */
  findAlias(source: string): Promise<string[] | null>;
}

export interface ResolveOptions {
  localPartCaseSensitive: boolean;
  subaddressDelimiter: string;
  /** Nesting depth of alias → alias chains. */
  maxDepth: number;
  /** Total addresses one recipient may expand to. */
  maxTargets: number;
}

export const DEFAULT_RESOLVE_OPTIONS: ResolveOptions = {
  localPartCaseSensitive: false,
  subaddressDelimiter: '+',
  maxDepth: 10,
  maxTargets: 1000,
};

export type Resolution =
  | { kind: 'ok'; mailboxes: MailboxRef[]; remote: string[] }
  /** Domain is not ours: the caller decides whether relaying is allowed. */
  | { kind: 'not-local' }
  | { kind: 'unknown' }
  | { kind: 'loop' }
  | { kind: 'too-many' }
  | { kind: 'invalid' };

export async function resolveRecipient(address: string, dir: Directory, opts: ResolveOptions = DEFAULT_RESOLVE_OPTIONS): Promise<Resolution> {
  const parsed = parseAddress(address);
  if ('error' in parsed) return { kind: 'invalid' };
  const kind = await dir.domainKind(parsed.domain);
  if (kind === null || kind === 'relay') return { kind: 'not-local' };

  const mailboxes = new Map<number, MailboxRef>();
  const remote = new Map<string, string>();
  let loop = false;
  let tooMany = false;
  let count = 0;

  const key = (a: Address) => (opts.localPartCaseSensitive ? a.local : a.local.toLowerCase()) + '@' + a.domain;

  // Returns false when the address is unknown.
  async function visit(a: Address, path: Set<string>, depth: number): Promise<boolean> {
    if (++count > opts.maxTargets) {
      tooMany = true;
      return true;
    }
    const domainKind = await dir.domainKind(a.domain);
    if (domainKind !== 'local') {
      // The remote host decides whether its local parts are case-sensitive: keep
      // `Ext@` and `ext@` apart (envelopeKey); a.domain is already lower case.
      const k = `${a.local}@${a.domain}`;
      if (!remote.has(k)) remote.set(k, k);
      return true;
    }
    const k = key(a);
    const base = stripSubaddress(a.local, opts.subaddressDelimiter);
    const baseKey = base === undefined ? undefined : key({ local: base, domain: a.domain });
    // Postfix virtual(5) order: full address, then without the extension, then @domain.
    const candidates: { source: string; alias: boolean }[] = [{ source: k, alias: true }, { source: k, alias: false }];
    if (baseKey) candidates.push({ source: baseKey, alias: true }, { source: baseKey, alias: false });
    candidates.push({ source: '@' + a.domain, alias: true });

    for (const c of candidates) {
      if (!c.alias) {
        const mb = await dir.findMailbox(c.source);
        if (mb) {
          mailboxes.set(mb.id, mb);
          return true;
        }
        continue;
      }
      if (path.has(c.source)) {
        // An alias that names itself (directly or through others) ends here: a mailbox of
        // that name gets the copy ("keep a copy" aliases); otherwise it is a loop.
        const mb = c.source.startsWith('@') ? null : await dir.findMailbox(c.source);
        if (mb) {
          mailboxes.set(mb.id, mb);
          return true;
        }
        loop = true;
        return true;
      }
      const targets = await dir.findAlias(c.source);
      if (!targets) continue;
      if (depth >= opts.maxDepth) {
        loop = true;
        return true;
      }
      const next = new Set(path).add(c.source);
      for (const t of targets) {
        const target = t.startsWith('@') ? `${a.local}@${t.slice(1)}` : t;
        const ta = parseAddress(target);
        if ('error' in ta) continue; // the admin API validates targets; tolerate old rows
        await visit(ta, next, depth + 1);
      }
      return true;
    }
    return false;
  }

  const known = await visit(parsed, new Set(), 0);
  if (tooMany) return { kind: 'too-many' };
  if (!known) return { kind: 'unknown' };
  // A loop or an over-deep chain in any branch fails the whole recipient (5.4.6) rather
  // than delivering to the other branches and silently dropping that one.
  if (loop) return { kind: 'loop' };
  if (mailboxes.size === 0 && remote.size === 0) return { kind: 'unknown' };
  return { kind: 'ok', mailboxes: [...mailboxes.values()], remote: [...remote.values()] };
}
