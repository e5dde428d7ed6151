// Webhooks: list, add (the secret is shown once), send a test event and show the receiver's
// answer, enable and disable.
import { useContext, useState } from 'preact/hooks';
import { api, type ResponseOf } from '../api/client.ts';
import { ErrorMessage, Field, Loading, MoreButton, Notice, useCursorList, useTitle } from '../components/ui.tsx';
import { formatTime } from '../lib/format.ts';
import { can } from '../lib/scope.ts';
import { WhoContext } from '../state.ts';

type Events = ResponseOf<'/v1/webhooks', 'post'>['events'];
type TestResult = ResponseOf<'/v1/webhooks/{id}/test', 'post'>;
const EVENT_TYPES: Events = ['message.received', 'message.delivered', 'message.deferred', 'message.bounced', 'message.delay-warning'];

export function WebhooksPage() {
  useTitle('Webhooks');
  const who = useContext(WhoContext);
  const admin = can(who, 'manage-webhooks');
  const list = useCursorList((cursor) => api('get', '/v1/webhooks', { query: { limit: 100, cursor } }), []);
  const [url, setUrl] = useState('');
  const [description, setDescription] = useState('');
  const [events, setEvents] = useState<Events>([...EVENT_TYPES]);
  const [secret, setSecret] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [notice, setNotice] = useState('');
  const [tests, setTests] = useState<Record<string, TestResult | 'sending'>>({});

  const add = async (e: Event) => {
    e.preventDefault();
    setError(null);
    try {
      const w = await api('post', '/v1/webhooks', { body: { url: url.trim(), events, ...(description.trim() ? { description: description.trim() } : {}) } });
      setSecret(w.secret);
      setNotice(`Webhook to ${w.url} added.`);
      setUrl('');
      setDescription('');
      list.reload();
    } catch (err) {
      setError(err);
    }
  };
  const setEnabled = async (id: string, enabled: boolean) => {
    setError(null);
    try {
      await api('patch', '/v1/webhooks/{id}', { params: { id }, body: { enabled } });
      setNotice(enabled ? 'Webhook enabled.' : 'Webhook disabled.');
      list.reload();
    } catch (err) {
      setError(err);
    }
  };
  const test = async (id: string) => {
    setError(null);
    setTests((t) => ({ ...t, [id]: 'sending' }));
    try {
      const r = await api('post', '/v1/webhooks/{id}/test', { params: { id }, body: {} });
      setTests((t) => ({ ...t, [id]: r }));
    } catch (err) {
      setTests((t) => {
        const { [id]: _gone, ...rest } = t;
        return rest;
      });
      setError(err);
    }
  };
  const toggle = (ev: Events[number]) => setEvents((x) => (x.includes(ev) ? x.filter((y) => y !== ev) : [...x, ev]));

  return (
    <>
      <h1>Webhooks</h1>
      {admin && (
        <form class="card" onSubmit={add} aria-labelledby="add-webhook">
          <h2 id="add-webhook">Add a webhook</h2>
          <Field id="wh-url" label="URL">
            <input id="wh-url" type="url" required value={url} placeholder="https://hooks.example.net/hopmail" onInput={(e) => setUrl(e.currentTarget.value)} />
          </Field>
          <Field id="wh-description" label="Description">
            <input id="wh-description" value={description} onInput={(e) => setDescription(e.currentTarget.value)} />
          </Field>
          <fieldset>
            <legend>Events</legend>
            <div class="checks">
              {EVENT_TYPES.map((ev) => (
                <label key={ev} class="check">
                  <input type="checkbox" checked={events.includes(ev)} onChange={() => toggle(ev)} /> {ev}
                </label>
              ))}
            </div>
          </fieldset>
          <button class="primary" type="submit" disabled={events.length === 0}>
            Add webhook
          </button>
        </form>
      )}
      {secret && (
        <div class="card secret" role="status">
          <p>
            The signing secret, shown this once: <code data-testid="webhook-secret">{secret}</code>
          </p>
          <button type="button" onClick={() => setSecret(null)}>
            I have copied it
          </button>
        </div>
      )}
      <ErrorMessage error={error ?? list.error} />
      {notice && <Notice>{notice}</Notice>}
      {list.loading && list.items.length === 0 ? (
        <Loading what="webhooks" />
      ) : list.items.length === 0 ? (
        <p>No webhooks.</p>
      ) : (
        <ul class="cards">
          {list.items.map((w) => {
            const t = tests[w.id];
            return (
              <li key={w.id} class="card" data-testid="webhook">
                <h2 class="h3 mono wrap">{w.url}</h2>
                {w.description && <p>{w.description}</p>}
                <p>
                  <span class={`badge ${w.enabled ? 'badge-health-ready' : 'badge-health-down'}`}>{w.enabled ? 'enabled' : 'disabled'}</span>{' '}
                  {w.disabledReason && <span class="muted">({w.disabledReason})</span>}
                </p>
                <dl class="facts">
                  <dt>Events</dt>
                  <dd>{w.events.join(', ')}</dd>
                  <dt>Last success</dt>
                  <dd>{formatTime(w.lastSuccessAt)}</dd>
                  <dt>Last failure</dt>
                  <dd>
                    {formatTime(w.lastFailureAt)}
                    {w.lastError ? ` — ${w.lastError}` : ''}
                  </dd>
                  <dt>Consecutive failures</dt>
                  <dd>{w.failures}</dd>
                </dl>
                {admin && (
                  <div class="actions">
                    <button type="button" onClick={() => test(w.id)} disabled={t === 'sending'}>
                      {t === 'sending' ? 'Sending…' : 'Send a test event'}
                    </button>
                    <button type="button" onClick={() => setEnabled(w.id, !w.enabled)}>
                      {w.enabled ? 'Disable' : 'Enable'}
                    </button>
                  </div>
                )}
                {t && t !== 'sending' && (
                  <div class={`test-result ${t.ok ? 'ok' : 'bad'}`} role="status" data-testid="webhook-test-result">
                    <p>
                      <strong>{t.ok ? 'Delivered' : 'Failed'}</strong>
                      {t.status !== null ? ` — HTTP ${t.status}` : ''}
                      {t.error ? ` — ${t.error}` : ''} ({t.ms} ms)
                    </p>
                    {t.body && <pre class="raw small">{t.body}</pre>}
                  </div>
                )}
              </li>
            );
          })}
        </ul>
      )}
      <MoreButton list={list} />
    </>
  );
}
