// Who may log in (mailboxes.password_hash, Argon2id) and which addresses are theirs.
// Unknown users cost the same Argon2id verification as known ones (a dummy hash with the
// parameters of the real hashes), so timing tells nobody which addresses exist.

import { hash, verify } from '@node-rs/argon2';
import type { Pool } from '@hopmail/db';
import { resolveRecipient, type Directory, type ResolveOptions } from '@hopmail/mail';
import type { Accounts } from '../ports.ts';

const PHC_PARAMS = /^\$argon2id\$v=\d+\$m=(\d+),t=(\d+),p=(\d+)\$/;

export function createAccounts(deps: { pool: Pool; directory: Directory; resolve: ResolveOptions }): Accounts {
  let dummy: Promise<string> | undefined;
  let dummyParams = '';
  const dummyHash = (params?: { memoryCost: number; timeCost: number; parallelism: number }) =>
    hash(`hopmail-dummy-${Math.random()}`, params);
  const getDummy = () => (dummy ??= dummyHash());
  // The admin API's Argon2 parameters are configurable: follow what real hashes use.
  const follow = (stored: string) => {
    const m = PHC_PARAMS.exec(stored);
    if (!m) return;
    const params = m.slice(1).join(',');
    if (params === dummyParams) return;
    dummyParams = params;
    const [memoryCost, timeCost, parallelism] = m.slice(1).map(Number) as [number, number, number];
    dummyHash({ memoryCost, timeCost, parallelism }).then((h) => (dummy = Promise.resolve(h)), () => {});
  };

  // Catch-alls are for receiving: a user behind `@example.org` does not own every address there.
  const noCatchAll: Directory = {
    domainKind: (d) => deps.directory.domainKind(d),
    findMailbox: (a) => deps.directory.findMailbox(a),
    findAlias: (s) => (s.startsWith('@') ? Promise.resolve(null) : deps.directory.findAlias(s)),
  };

  return {
    async authenticate(username, password) {
      const r = await deps.pool.query<{ id: string; address: string; password_hash: string }>(
        'SELECT id, address, password_hash FROM mailboxes WHERE lower(address) = lower($1)',
        [username],
      );
      const row = r.rows[0];
      const usable = row !== undefined && row.password_hash.startsWith('$argon2id$');
      if (usable) follow(row.password_hash);
      let ok = false;
      try {
        ok = await verify(usable ? row.password_hash : await getDummy(), password);
      } catch {
        ok = false;
      }
      return usable && ok ? { id: Number(row.id), address: row.address } : null;
    },
    async owns(user, address) {
      if (address.toLowerCase() === user.address.toLowerCase()) return true;
      const r = await resolveRecipient(address, noCatchAll, deps.resolve);
      return r.kind === 'ok' && r.mailboxes.some((m) => Number(m.id) === Number(user.id));
    },
  };
}
