import { useContext, useState } from 'preact/hooks';
import { api } from '../api/client.ts';
import { Confirm, ErrorMessage, Field, Loading, MoreButton, Notice, useCursorList, useTitle } from '../components/ui.tsx';
import { formatTime, plural } from '../lib/format.ts';
import { seg } from '../lib/routes.ts';
import { can } from '../lib/scope.ts';
import { Link } from '../router.tsx';
import { WhoContext } from '../state.ts';

export function DomainsPage() {
  useTitle('Domains');
  const who = useContext(WhoContext);
  const list = useCursorList((cursor) => api('get', '/v1/domains', { query: { limit: 100, cursor } }), []);
  const [name, setName] = useState('');
  const [kind, setKind] = useState<'local' | 'relay'>('local');
  const [error, setError] = useState<unknown>(null);
  const [notice, setNotice] = useState('');
  const [doomed, setDoomed] = useState<{ name: string; mailboxes: number; aliases: number } | null>(null);
  const [busy, setBusy] = useState(false);

  const add = async (e: Event) => {
    e.preventDefault();
    setError(null);
    try {
      const d = await api('post', '/v1/domains', { body: { name: name.trim(), kind } });
      setNotice(`Domain ${d.name} added.`);
      setName('');
      list.reload();
    } catch (err) {
      setError(err);
    }
  };
  const askDelete = async (n: string) => {
    setError(null);
    try {
      const d = await api('get', '/v1/domains/{name}', { params: { name: n } });
      setDoomed({ name: d.name, mailboxes: d.mailboxCount, aliases: d.aliasCount });
    } catch (err) {
      setError(err);
    }
  };
  const doDelete = async () => {
    if (!doomed) return;
    setBusy(true);
    try {
      await api('delete', '/v1/domains/{name}', { params: { name: doomed.name }, query: { cascade: doomed.mailboxes + doomed.aliases > 0 } });
      setNotice(`Domain ${doomed.name} deleted.`);
      setDoomed(null);
      list.reload();
    } catch (err) {
      setError(err);
      setDoomed(null);
    } finally {
      setBusy(false);
    }
  };

  return (
    <>
      <h1>Domains</h1>
      {can(who, 'manage-domains') && (
        <form class="inline-form card" onSubmit={add} aria-labelledby="add-domain">
          <h2 id="add-domain">Add a domain</h2>
          <Field id="domain-name" label="Domain name">
            <input id="domain-name" required value={name} placeholder="example.org" onInput={(e) => setName(e.currentTarget.value)} />
          </Field>
          <Field id="domain-kind" label="Kind">
            <select id="domain-kind" value={kind} onChange={(e) => setKind(e.currentTarget.value as 'local' | 'relay')}>
              <option value="local">local (has mailboxes)</option>
              <option value="relay">relay (accepted and forwarded)</option>
            </select>
          </Field>
          <button class="primary" type="submit">
            Add domain
          </button>
        </form>
      )}
      <ErrorMessage error={error ?? list.error} />
      {notice && <Notice>{notice}</Notice>}
      {list.loading && list.items.length === 0 ? (
        <Loading what="domains" />
      ) : list.items.length === 0 ? (
        <p>No domains yet.</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th scope="col">Domain</th>
              <th scope="col">Kind</th>
              <th scope="col">Created</th>
              {can(who, 'manage-domains') && <th scope="col">Actions</th>}
            </tr>
          </thead>
          <tbody>
            {list.items.map((d) => (
              <tr key={d.name}>
                <th scope="row">
                  <Link href={`/domains/${seg(d.name)}`}>{d.name}</Link>
                </th>
                <td>{d.kind}</td>
                <td>{formatTime(d.createdAt)}</td>
                {can(who, 'manage-domains') && (
                  <td>
                    <button type="button" class="danger" aria-label={`Delete domain ${d.name}`} onClick={() => askDelete(d.name)}>
                      Delete
                    </button>
                  </td>
                )}
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <MoreButton list={list} />
      <Confirm open={doomed !== null} title="Delete this domain?" confirmLabel="Delete domain" danger busy={busy} onConfirm={doDelete} onCancel={() => setDoomed(null)}>
        {doomed && (
          <p>
            This deletes <strong>{doomed.name}</strong>
            {doomed.mailboxes + doomed.aliases > 0 ? (
              <>
                {' '}
                with its {plural(doomed.mailboxes, 'mailbox', 'mailboxes')} (and the mail in them) and {plural(doomed.aliases, 'alias', 'aliases')}
              </>
            ) : null}
            . Mail to it will be refused.
          </p>
        )}
      </Confirm>
    </>
  );
}
