// One domain: its counts, the DNS records to publish with their live status (the DNS
// doctor, GET /v1/domains/{name}/dns), and its mailboxes and aliases.
import { api } from '../api/client.ts';
import { ErrorMessage, Loading, useAsync, useTitle } from '../components/ui.tsx';
import { dnsRows } from '../lib/dns.ts';
import { formatTime } from '../lib/format.ts';
import { Link } from '../router.tsx';

export function DomainPage({ name }: { name: string }) {
  useTitle(name);
  const d = useAsync(() => api('get', '/v1/domains/{name}', { params: { name } }), [name]);
  const dns = useAsync(() => api('get', '/v1/domains/{name}/dns', { params: { name } }), [name]);
  const q = `?domain=${encodeURIComponent(name)}`;
  return (
    <>
      <p>
        <Link href="/domains">← Domains</Link>
      </p>
      <h1>{name}</h1>
      <ErrorMessage error={d.error} />
      {d.data && (
        <dl class="facts">
          <dt>Kind</dt>
          <dd>{d.data.kind}</dd>
          <dt>Created</dt>
          <dd>{formatTime(d.data.createdAt)}</dd>
          <dt>Mailboxes</dt>
          <dd>
            <Link href={`/mailboxes${q}`}>{d.data.mailboxCount}</Link>
          </dd>
          <dt>Aliases</dt>
          <dd>
            <Link href={`/mailboxes${q}#aliases`}>{d.data.aliasCount}</Link>
          </dd>
        </dl>
      )}
      <section aria-labelledby="dns-title">
        <h2 id="dns-title">DNS records</h2>
        {dns.loading && dns.data === undefined ? (
          <Loading what="the DNS check" />
        ) : dns.error ? (
          <ErrorMessage error={dns.error} />
        ) : dns.data === undefined ? null : (
          <DnsTable data={dns.data} />
        )}
        {dns.data !== undefined && (
          <button type="button" onClick={dns.reload}>
            Check again
          </button>
        )}
      </section>
    </>
  );
}

function DnsTable({ data }: { data: unknown }) {
  const rows = dnsRows(data);
  if (rows.length === 0) return <p class="muted">The DNS check returned no records.</p>;
  return (
    <table>
      <thead>
        <tr>
          <th scope="col">Type</th>
          <th scope="col">Name</th>
          <th scope="col">Publish</th>
          <th scope="col">Status</th>
          <th scope="col">Found</th>
        </tr>
      </thead>
      <tbody>
        {rows.map((r, i) => (
          <tr key={i}>
            <td>{r.type}</td>
            <td class="mono">{r.name}</td>
            <td class="mono wrap">{r.expected}</td>
            <td>
              <span class={`badge badge-dns-${r.tone}`}>{r.status}</span>
            </td>
            <td class="mono wrap">{r.found}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
