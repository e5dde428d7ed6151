// What the signed-in principal may do, mirroring the API's scopes (admin-api policy/scope.ts)
// so that the console shows no button whose call would be refused. The API enforces them anyway.

export type Scope = 'admin' | 'read-only' | 'domain-admin';
export interface Who {
  actor: string;
  scope: Scope;
  domains: string[];
}

export type Ability =
  | 'read-global' // overview, audit log, webhooks, queue statistics
  | 'manage-domains' // create and delete domains
  | 'write' // mailboxes, aliases, queue actions (domain-admin: its domains only)
  | 'manage-webhooks';

export function can(who: Who | null, ability: Ability, domain?: string): boolean {
  if (!who) return false;
  switch (ability) {
    case 'read-global':
      return who.scope !== 'domain-admin';
    case 'manage-domains':
    case 'manage-webhooks':
      return who.scope === 'admin';
    case 'write':
      if (who.scope === 'read-only') return false;
      return who.scope === 'admin' || domain === undefined || who.domains.includes(domain.toLowerCase());
    default: {
      const never: never = ability;
      return never;
    }
  }
}
