// Production refuses to run with the development secrets of this package (or none): one
// check that every service reading them adds to its schema, so a bad deployment exits 78
// at start-up listing the problem with the others.
import { decodeKek, DEVELOPMENT_KEK } from './kek.ts';
import { DEVELOPMENT_SRS_SECRET } from './srs.ts';

type Ctx = { addIssue(issue: { code: 'custom'; path: string[]; message: string }): void };

/** For a schema's .superRefine(): DKIM_KEY_ENCRYPTION_KEY and SRS_SECRET, where the schema has them, must be real in production. */
export function requireSecretsInProduction(c: { NODE_ENV: string; DKIM_KEY_ENCRYPTION_KEY?: string; SRS_SECRET?: string }, ctx: Ctx): void {
  if (c.NODE_ENV !== 'production') return;
  if (c.DKIM_KEY_ENCRYPTION_KEY !== undefined) {
    const key = decodeKek(c.DKIM_KEY_ENCRYPTION_KEY);
    if (!c.DKIM_KEY_ENCRYPTION_KEY) ctx.addIssue({ code: 'custom', path: ['DKIM_KEY_ENCRYPTION_KEY'], message: 'required in production (32 random bytes, e.g. `openssl rand -base64 32`; the same for admin-api and outbound-relay)' });
    else if (key && key.equals(decodeKek(DEVELOPMENT_KEK)!)) ctx.addIssue({ code: 'custom', path: ['DKIM_KEY_ENCRYPTION_KEY'], message: 'is the public development key; production needs its own' });
  }
  if (c.SRS_SECRET !== undefined) {
    if (!c.SRS_SECRET) ctx.addIssue({ code: 'custom', path: ['SRS_SECRET'], message: 'required in production (e.g. `openssl rand -base64 24`; the same for smtp-ingress and outbound-relay)' });
    else if (c.SRS_SECRET === DEVELOPMENT_SRS_SECRET) ctx.addIssue({ code: 'custom', path: ['SRS_SECRET'], message: 'is the public development secret; production needs its own' });
  }
}

