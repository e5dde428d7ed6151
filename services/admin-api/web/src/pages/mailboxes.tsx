// Mailboxes and aliases: search, create, set a password (never shown again), quota usage,
// delete; alias targets edited as a list.
import { useContext, useEffect, useState } from 'preact/hooks';
import { api, type ResponseOf } from '../api/client.ts';
import { TargetsEditor } from '../components/targets-editor.tsx';
import { Confirm, ErrorMessage, Field, Loading, MoreButton, Notice, useCursorList, useTitle } from '../components/ui.tsx';
import { formatBytes, parseSize, quotaPercent } from '../lib/format.ts';
import { can } from '../lib/scope.ts';
import { targetProblem } from '../lib/targets.ts';
import { navigate, useLocation } from '../router.tsx';
import { WhoContext } from '../state.ts';

type Mailbox = ResponseOf<'/v1/mailboxes', 'get'>['items'][number];
type Alias = ResponseOf<'/v1/aliases', 'get'>['items'][number];

const contains = (hay: string, needle: string) => hay.toLowerCase().includes(needle.trim().toLowerCase());

export function MailboxesPage() {
  useTitle('Mailboxes and aliases');
  const loc = useLocation();
  const params = new URLSearchParams(loc.search);
  const domain = params.get('domain') ?? '';
  const [search, setSearch] = useState(params.get('q') ?? '');
  const [domainInput, setDomainInput] = useState(domain);
  const who = useContext(WhoContext);

  const applyDomain = (e: Event) => {
    e.preventDefault();
    const q = new URLSearchParams();
    if (domainInput.trim()) q.set('domain', domainInput.trim().toLowerCase());
    if (search.trim()) q.set('q', search.trim());
    navigate(`/mailboxes${q.toString() ? `?${q}` : ''}`, { replace: true });
  };

  return (
    <>
      <h1>Mailboxes and aliases</h1>
      <form class="inline-form" role="search" onSubmit={applyDomain}>
        <Field id="filter-domain" label="Domain">
          <input id="filter-domain" value={domainInput} placeholder="all domains" onInput={(e) => setDomainInput(e.currentTarget.value)} />
        </Field>
        <Field id="filter-search" label="Search addresses">
          <input id="filter-search" type="search" value={search} onInput={(e) => setSearch(e.currentTarget.value)} />
        </Field>
        <button type="submit">Show</button>
      </form>
      <Mailboxes domain={domain} search={search} canWrite={(d) => can(who, 'write', d)} />
      <Aliases domain={domain} search={search} canWrite={(d) => can(who, 'write', d)} />
    </>
  );
}

function Mailboxes({ domain, search, canWrite }: { domain: string; search: string; canWrite(d?: string): boolean }) {
  const list = useCursorList((cursor) => api('get', '/v1/mailboxes', { query: { limit: 100, cursor, domain: domain || undefined } }), [domain]);
  const [address, setAddress] = useState('');
  const [password, setPassword] = useState('');
  const [quota, setQuota] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [notice, setNotice] = useState('');
  const [pwFor, setPwFor] = useState<string | null>(null);
  const [newPw, setNewPw] = useState('');
  const [doomed, setDoomed] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const create = async (e: Event) => {
    e.preventDefault();
    setError(null);
    const q = quota.trim() ? parseSize(quota) : 0;
    if (q === null) return setError(new Error('Quota: write a size such as 500M or 2G, or leave it empty for no limit.'));
    try {
      const m = await api('post', '/v1/mailboxes', { body: { address: address.trim(), password, quotaBytes: q } });
      setNotice(`Mailbox ${m.address} created.`);
      setAddress('');
      setPassword('');
      setQuota('');
      list.reload();
    } catch (err) {
      setError(err);
    }
  };
  const setPasswordNow = async () => {
    if (!pwFor) return;
    setBusy(true);
    try {
      await api('patch', '/v1/mailboxes/{address}', { params: { address: pwFor }, body: { password: newPw } });
      setNotice(`Password of ${pwFor} changed.`);
      setPwFor(null);
    } catch (err) {
      setError(err);
    } finally {
      setNewPw('');
      setBusy(false);
    }
  };
  const remove = async () => {
    if (!doomed) return;
    setBusy(true);
    try {
      await api('delete', '/v1/mailboxes/{address}', { params: { address: doomed } });
      setNotice(`Mailbox ${doomed} deleted.`);
      list.reload();
    } catch (err) {
      setError(err);
    } finally {
      setDoomed(null);
      setBusy(false);
    }
  };

  const shown = list.items.filter((m) => !search.trim() || contains(m.address, search));
  return (
    <section aria-labelledby="mailboxes-title">
      <h2 id="mailboxes-title">Mailboxes</h2>
      {canWrite(domain || undefined) && (
        <form class="inline-form card" onSubmit={create} aria-label="Create a mailbox">
          <Field id="mb-address" label="Address">
            <input id="mb-address" required value={address} placeholder="alice@example.org" onInput={(e) => setAddress(e.currentTarget.value)} />
          </Field>
          <Field id="mb-password" label="Password">
            <input id="mb-password" type="password" autoComplete="new-password" required minLength={8} value={password} onInput={(e) => setPassword(e.currentTarget.value)} />
          </Field>
          <Field id="mb-quota" label="Quota" hint="e.g. 2G; empty: unlimited">
            <input id="mb-quota" value={quota} aria-describedby="mb-quota-hint" onInput={(e) => setQuota(e.currentTarget.value)} />
          </Field>
          <button class="primary" type="submit">
            Create mailbox
          </button>
        </form>
      )}
      <ErrorMessage error={error ?? list.error} />
      {notice && <Notice>{notice}</Notice>}
      {list.loading && list.items.length === 0 ? (
        <Loading what="mailboxes" />
      ) : shown.length === 0 ? (
        <p>No mailboxes{search.trim() ? ' match' : ''}.</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th scope="col">Address</th>
              <th scope="col">Usage</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {shown.map((m) => (
              <tr key={m.address}>
                <th scope="row" class="mono">
                  {m.address}
                </th>
                <td>
                  <Usage mailbox={m} />
                </td>
                <td class="actions">
                  {canWrite(m.domain) ? (
                    <>
                      <button type="button" onClick={() => setPwFor(m.address)} aria-label={`Set password of ${m.address}`}>
                        Set password
                      </button>
                      <button type="button" class="danger" onClick={() => setDoomed(m.address)} aria-label={`Delete mailbox ${m.address}`}>
                        Delete
                      </button>
                    </>
                  ) : (
                    <span class="muted">read only</span>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <MoreButton list={list} />
      <Confirm
        open={pwFor !== null}
        title={`New password for ${pwFor ?? ''}`}
        confirmLabel="Set password"
        busy={busy || newPw.length < 8}
        onConfirm={setPasswordNow}
        onCancel={() => {
          setPwFor(null);
          setNewPw('');
        }}
      >
        <Field id="new-password" label="New password" hint="At least 8 characters. It is stored hashed and never shown again.">
          <input id="new-password" type="password" autoComplete="new-password" minLength={8} value={newPw} aria-describedby="new-password-hint" onInput={(e) => setNewPw(e.currentTarget.value)} />
        </Field>
      </Confirm>
      <Confirm open={doomed !== null} title="Delete this mailbox?" confirmLabel="Delete mailbox" danger busy={busy} onConfirm={remove} onCancel={() => setDoomed(null)}>
        <p>
          This deletes <strong>{doomed}</strong> and all the mail in it.
        </p>
      </Confirm>
    </section>
  );
}

/** The quota bar: the mailbox's detail (message count and size) is read when the row is shown. */
function Usage({ mailbox }: { mailbox: Mailbox }) {
  const [size, setSize] = useState<{ bytes: number; count: number } | null>(null);
  useEffect(() => {
    let live = true;
    api('get', '/v1/mailboxes/{address}', { params: { address: mailbox.address } }).then(
      (d) => live && setSize({ bytes: d.sizeBytes, count: d.messageCount }),
      () => {},
    );
    return () => {
      live = false;
    };
  }, [mailbox.address, mailbox.updatedAt]);
  if (!size) return <span class="muted">…</span>;
  const pct = quotaPercent(size.bytes, mailbox.quotaBytes);
  const label = `${formatBytes(size.bytes)} in ${size.count} message${size.count === 1 ? '' : 's'}${pct === null ? ', no quota' : ` of ${formatBytes(mailbox.quotaBytes)} (${pct} %)`}`;
  return (
    <div class="usage">
      {pct !== null && <meter min={0} max={100} low={80} high={95} optimum={0} value={pct} aria-label={`Quota used by ${mailbox.address}`} />}
      <span>{label}</span>
    </div>
  );
}

function Aliases({ domain, search, canWrite }: { domain: string; search: string; canWrite(d?: string): boolean }) {
  const list = useCursorList((cursor) => api('get', '/v1/aliases', { query: { limit: 100, cursor, domain: domain || undefined } }), [domain]);
  const [source, setSource] = useState('');
  const [targets, setTargets] = useState<string[]>([]);
  const [editing, setEditing] = useState<{ source: string; targets: string[] } | null>(null);
  const [doomed, setDoomed] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [notice, setNotice] = useState('');
  const [busy, setBusy] = useState(false);

  const create = async (e: Event) => {
    e.preventDefault();
    setError(null);
    const problem = targetProblem(targets);
    if (problem) return setError(new Error(problem));
    try {
      const a = await api('post', '/v1/aliases', { body: { source: source.trim(), targets } });
      setNotice(`Alias ${a.source} created.`);
      setSource('');
      setTargets([]);
      list.reload();
    } catch (err) {
      setError(err);
    }
  };
  const save = async () => {
    if (!editing) return;
    const problem = targetProblem(editing.targets);
    if (problem) return setError(new Error(problem));
    setBusy(true);
    try {
      await api('patch', '/v1/aliases/{source}', { params: { source: editing.source }, body: { targets: editing.targets } });
      setNotice(`Targets of ${editing.source} saved.`);
      setEditing(null);
      list.reload();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const remove = async () => {
    if (!doomed) return;
    setBusy(true);
    try {
      await api('delete', '/v1/aliases/{source}', { params: { source: doomed } });
      setNotice(`Alias ${doomed} deleted.`);
      list.reload();
    } catch (err) {
      setError(err);
    } finally {
      setDoomed(null);
      setBusy(false);
    }
  };
  const shown = list.items.filter((a: Alias) => !search.trim() || contains(a.source, search) || a.targets.some((t) => contains(t, search)));
  return (
    <section aria-labelledby="aliases">
      <h2 id="aliases">Aliases</h2>
      {canWrite(domain || undefined) && (
        <form class="card" onSubmit={create} aria-label="Create an alias">
          <Field id="alias-source" label="Alias address" hint="local@domain, or @domain for a catch-all">
            <input id="alias-source" required value={source} aria-describedby="alias-source-hint" onInput={(e) => setSource(e.currentTarget.value)} />
          </Field>
          <TargetsEditor id="alias-target" targets={targets} onChange={setTargets} />
          <button class="primary" type="submit">
            Create alias
          </button>
        </form>
      )}
      <ErrorMessage error={error ?? list.error} />
      {notice && <Notice>{notice}</Notice>}
      {list.loading && list.items.length === 0 ? (
        <Loading what="aliases" />
      ) : shown.length === 0 ? (
        <p>No aliases{search.trim() ? ' match' : ''}.</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th scope="col">Alias</th>
              <th scope="col">Targets</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {shown.map((a) => (
              <tr key={a.source}>
                <th scope="row" class="mono">
                  {a.source}
                </th>
                <td>
                  <ul class="plain">
                    {a.targets.map((t) => (
                      <li key={t} class="mono">
                        {t}
                      </li>
                    ))}
                  </ul>
                </td>
                <td class="actions">
                  {canWrite(a.domain) ? (
                    <>
                      <button type="button" onClick={() => setEditing({ source: a.source, targets: [...a.targets] })} aria-label={`Edit targets of ${a.source}`}>
                        Edit targets
                      </button>
                      <button type="button" class="danger" onClick={() => setDoomed(a.source)} aria-label={`Delete alias ${a.source}`}>
                        Delete
                      </button>
                    </>
                  ) : (
                    <span class="muted">read only</span>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <MoreButton list={list} />
      <Confirm open={editing !== null} title={`Targets of ${editing?.source ?? ''}`} confirmLabel="Save targets" busy={busy} onConfirm={save} onCancel={() => setEditing(null)}>
        {editing && <TargetsEditor id="edit-target" targets={editing.targets} onChange={(t) => setEditing({ ...editing, targets: t })} />}
      </Confirm>
      <Confirm open={doomed !== null} title="Delete this alias?" confirmLabel="Delete alias" danger busy={busy} onConfirm={remove} onCancel={() => setDoomed(null)}>
        <p>
          This deletes the alias <strong>{doomed}</strong>; mail to it will go to a mailbox of that name if one exists, or be refused.
        </p>
      </Confirm>
    </section>
  );
}
