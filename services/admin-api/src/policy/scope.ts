// Who may do what (pure). A principal comes from the bootstrap ADMIN_TOKEN or an API key.
//   admin         everything
//   read-only     every GET, nothing else
//   domain-admin  GET and changes, but only for the domains listed on the key; never
//                 domains themselves, keys, webhooks or the audit log
export type Scope = 'admin' | 'read-only' | 'domain-admin';
export const SCOPES: readonly Scope[] = ['admin', 'read-only', 'domain-admin'];

export interface Principal {
  /** 'bootstrap' or 'key:<uuid>' — written to the audit log and the trace. */
  actor: string;
  keyId: string | null;
  scope: Scope;
  /** Lower-case domain names (domain-admin only). */
  domains: readonly string[];
}

/**
 * What a route needs:
 *   read         any principal (domain-admin sees only its domains; the route filters)
 *   read-global  admin or read-only (data spanning every domain: audit log, webhooks, keys, queue stats)
 *   write        admin or domain-admin (the route checks the domain)
 *   admin        admin only
 */
export type Access = 'read' | 'read-global' | 'write' | 'admin';

export function permits(p: Principal, access: Access): boolean {
  switch (access) {
    case 'read':
      return true;
    case 'read-global':
      return p.scope !== 'domain-admin';
    case 'write':
      return p.scope !== 'read-only';
    case 'admin':
      return p.scope === 'admin';
    default: {
      const never: never = access;
      return never;
    }
  }
}

/** Whether the principal may see or change things of `domain`. */
export function coversDomain(p: Principal, domain: string): boolean {
  return p.scope !== 'domain-admin' || p.domains.includes(domain.toLowerCase());
}

/** Domains a query must be limited to, or null for no limit. */
export function domainLimit(p: Principal): readonly string[] | null {
  return p.scope === 'domain-admin' ? p.domains : null;
}
