// One message's life as a timeline across hops, its recipients' current state, the raw
// header on demand, and the authentication results where the API has them.
import { Fragment } from 'preact';
import { useState } from 'preact/hooks';
import { api } from '../api/client.ts';
import { ErrorMessage, Loading, StatusBadge, useAsync, useTitle } from '../components/ui.tsx';
import { formatBytes, formatTime } from '../lib/format.ts';
import { extraFields, timeline } from '../lib/trace.ts';
import { Link } from '../router.tsx';

const KNOWN = ['id', 'receivedAt', 'sender', 'size', 'headerMessageId', 'clientIp', 'authUser', 'tls', 'recipients'];

export function TracePage({ id }: { id: string }) {
  useTitle('Message trace');
  const t = useAsync(() => api('get', '/v1/messages/{id}/trace', { params: { id }, query: { limit: 500 } }), [id]);
  const [headers, setHeaders] = useState<string | null>(null);
  const [headerError, setHeaderError] = useState<unknown>(null);
  const showHeaders = async () => {
    setHeaderError(null);
    try {
      setHeaders((await api('get', '/v1/messages/{id}/headers', { params: { id } })).headers);
    } catch (err) {
      setHeaderError(err);
    }
  };
  const m = t.data?.message;
  const extra = m ? extraFields(m as Record<string, unknown>, KNOWN) : [];
  return (
    <>
      <p>
        <Link href="/messages">← Messages</Link> · <Link href="/queue">Queue</Link>
      </p>
      <h1>Message trace</h1>
      <p class="mono muted">{id}</p>
      <ErrorMessage error={t.error} />
      {!t.data ? (
        t.loading && <Loading what="the trace" />
      ) : (
        <>
          {m && (
            <dl class="facts" data-testid="message-facts">
              <dt>Sender</dt>
              <dd class="mono">{m.sender || '<> (null sender)'}</dd>
              <dt>Received</dt>
              <dd>{formatTime(m.receivedAt)}</dd>
              <dt>Size</dt>
              <dd>{formatBytes(m.size)}</dd>
              <dt>Message-ID</dt>
              <dd class="mono wrap">{m.headerMessageId ?? '–'}</dd>
              <dt>Client</dt>
              <dd>
                {m.clientIp ?? '–'}
                {m.tls ? ', TLS' : ', no TLS'}
                {m.authUser ? `, authenticated as ${m.authUser}` : ''}
              </dd>
              <dt>Recipients</dt>
              <dd>
                <ul class="plain">
                  {m.recipients.map((r) => (
                    <li key={r.address}>
                      <span class="mono">{r.address}</span> <StatusBadge status={r.status} />
                    </li>
                  ))}
                </ul>
              </dd>
            </dl>
          )}
          {extra.length > 0 && (
            <section aria-labelledby="auth-title">
              <h2 id="auth-title">Authentication results</h2>
              <dl class="facts" data-testid="auth-results">
                {extra.map(([k, v]) => (
                  <Fragment key={k}>
                    <dt>{k}</dt>
                    <dd class="mono wrap">{v}</dd>
                  </Fragment>
                ))}
              </dl>
            </section>
          )}
          <section aria-labelledby="timeline-title">
            <h2 id="timeline-title">Timeline</h2>
            <ol class="timeline" data-testid="timeline">
              {timeline(t.data.events).map((e) => (
                <li key={e.id} class={`tl tl-${e.tone}`} data-type={e.title}>
                  <div class="tl-head">
                    <time dateTime={e.at}>{formatTime(e.at)}</time> <strong>{e.title}</strong>
                    {e.recipient && <span class="mono"> · {e.recipient}</span>}
                  </div>
                  {e.details.length > 0 && (
                    <dl class="tl-details">
                      {e.details.map(([k, v], i) => (
                        <div key={i}>
                          <dt>{k}</dt>
                          <dd class="wrap">{v}</dd>
                        </div>
                      ))}
                    </dl>
                  )}
                </li>
              ))}
            </ol>
          </section>
          <section aria-labelledby="headers-title">
            <h2 id="headers-title">Raw header</h2>
            {headers === null ? (
              <button type="button" onClick={showHeaders}>
                Show the raw header
              </button>
            ) : (
              <pre class="raw" data-testid="raw-headers" tabIndex={0}>
                {headers}
              </pre>
            )}
            <ErrorMessage error={headerError} />
          </section>
        </>
      )}
    </>
  );
}
