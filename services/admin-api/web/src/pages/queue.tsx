// The queue: the CLI's filters, the matching recipients (each linked to its message's trace),
// and bulk retry / hold / release / delete with a confirmation showing how many, and a
// progress bar while the action walks them.
import { useContext, useState } from 'preact/hooks';
import { api } from '../api/client.ts';
import { Confirm, ErrorMessage, Field, Loading, MoreButton, Notice, StatusBadge, useCursorList, useTitle } from '../components/ui.tsx';
import { percent, runBulk, type BulkProgress } from '../lib/bulk.ts';
import { formatTime, plural } from '../lib/format.ts';
import { actionFilter, DEFAULT_STATUSES, formFromSearch, searchFromForm, STATUSES, toApiFilter, toQuery, type BulkAction, type QueueForm, type Status } from '../lib/queue-filter.ts';
import { seg } from '../lib/routes.ts';
import { can } from '../lib/scope.ts';
import { Link, navigate, useLocation } from '../router.tsx';
import { WhoContext } from '../state.ts';

const VERBS: Record<BulkAction, string> = { retry: 'Retry now', hold: 'Hold', release: 'Release', delete: 'Delete' };
const STEP_ROWS = 200;

export function QueuePage() {
  useTitle('Queue');
  const who = useContext(WhoContext);
  const loc = useLocation();
  const applied = formFromSearch(loc.search);
  const [form, setForm] = useState<QueueForm>(applied);
  const [error, setError] = useState<unknown>(null);
  const [notice, setNotice] = useState('');
  const parsed = toApiFilter(applied);
  const filter = parsed.ok ? parsed.filter : {};
  const list = useCursorList(
    (cursor) => api('get', '/v1/queue/recipients', { query: { ...toQuery(filter), limit: 100, cursor } }),
    [loc.search],
  );
  const [confirm, setConfirm] = useState<{ action: BulkAction; count: number } | null>(null);
  const [dsn, setDsn] = useState(false);
  const [progress, setProgress] = useState<BulkProgress | null>(null);
  const [running, setRunning] = useState(false);

  const submit = (e: Event) => {
    e.preventDefault();
    const p = toApiFilter(form);
    if (!p.ok) return setError(new Error(p.message));
    setError(null);
    navigate(`/queue${searchFromForm(form)}`, { replace: true });
  };
  const toggle = (s: Status) => setForm((f) => ({ ...f, status: f.status.includes(s) ? f.status.filter((x) => x !== s) : [...f.status, s] }));

  const ask = async (action: BulkAction) => {
    setError(null);
    setNotice('');
    try {
      const f = actionFilter(filter, action);
      const count = f.status.length ? (await api('get', '/v1/queue/count', { query: toQuery(f) })).count : 0;
      setProgress(null);
      setDsn(false);
      setConfirm({ action, count });
    } catch (err) {
      setError(err);
    }
  };
  const run = async () => {
    if (!confirm) return;
    const { action, count } = confirm;
    setRunning(true);
    try {
      const f = actionFilter(filter, action);
      const p = await runBulk(
        (cursor, maxRows) => api('post', `/v1/queue/${action}`, { body: { filter: f, maxRows, ...(cursor ? { cursor } : {}), ...(action === 'delete' ? { dsn } : {}) } }),
        { total: count, stepRows: STEP_ROWS, onProgress: setProgress },
      );
      setNotice(`${VERBS[action]}: ${plural(p.changed, 'recipient')} changed${p.jobs ? `, ${plural(p.jobs, 'delivery job')} queued` : ''}.`);
      setConfirm(null);
      list.reload();
    } catch (err) {
      setError(err);
      setConfirm(null);
    } finally {
      setRunning(false);
    }
  };

  const writable = can(who, 'write', filter.domain);
  return (
    <>
      <h1>Queue</h1>
      <form class="card filters" onSubmit={submit} aria-label="Queue filters">
        <fieldset>
          <legend>Status (none ticked: {DEFAULT_STATUSES.join(', ')})</legend>
          <div class="checks">
            {STATUSES.map((s) => (
              <label key={s} class="check">
                <input type="checkbox" checked={form.status.includes(s)} onChange={() => toggle(s)} /> {s}
              </label>
            ))}
          </div>
        </fieldset>
        <div class="grid-fields">
          <Field id="q-domain" label="Recipient domain">
            <input id="q-domain" value={form.domain} onInput={(e) => setForm({ ...form, domain: e.currentTarget.value })} />
          </Field>
          <Field id="q-sender" label="Sender" hint="address, @domain or <>">
            <input id="q-sender" value={form.sender} aria-describedby="q-sender-hint" onInput={(e) => setForm({ ...form, sender: e.currentTarget.value })} />
          </Field>
          <Field id="q-recipient" label="Recipient">
            <input id="q-recipient" value={form.recipient} onInput={(e) => setForm({ ...form, recipient: e.currentTarget.value })} />
          </Field>
          <Field id="q-min-age" label="Older than" hint="e.g. 30m, 2h, 1d">
            <input id="q-min-age" value={form.minAge} aria-describedby="q-min-age-hint" onInput={(e) => setForm({ ...form, minAge: e.currentTarget.value })} />
          </Field>
          <Field id="q-max-age" label="Newer than">
            <input id="q-max-age" value={form.maxAge} onInput={(e) => setForm({ ...form, maxAge: e.currentTarget.value })} />
          </Field>
          <Field id="q-reply" label="Last reply contains">
            <input id="q-reply" value={form.reply} onInput={(e) => setForm({ ...form, reply: e.currentTarget.value })} />
          </Field>
        </div>
        <button class="primary" type="submit">
          Filter
        </button>
      </form>
      {writable && (
        <div class="bulk" role="group" aria-label="Bulk actions on the matching recipients">
          {(['retry', 'hold', 'release', 'delete'] as const).map((a) => (
            <button key={a} type="button" class={a === 'delete' ? 'danger' : ''} onClick={() => ask(a)}>
              {VERBS[a]}…
            </button>
          ))}
        </div>
      )}
      <ErrorMessage error={error ?? (parsed.ok ? list.error : new Error(parsed.message))} />
      {notice && <Notice>{notice}</Notice>}
      {list.loading && list.items.length === 0 ? (
        <Loading what="the queue" />
      ) : list.items.length === 0 ? (
        <p>No recipients match.</p>
      ) : (
        <div class="scroll">
          <table>
            <thead>
              <tr>
                <th scope="col">Recipient</th>
                <th scope="col">Status</th>
                <th scope="col">Sender</th>
                <th scope="col">Received</th>
                <th scope="col" class="num">
                  Attempts
                </th>
                <th scope="col">Next attempt</th>
                <th scope="col">Last reply</th>
              </tr>
            </thead>
            <tbody>
              {list.items.map((r) => (
                <tr key={r.id} data-testid="queue-row">
                  <th scope="row" class="mono">
                    <Link href={`/messages/${seg(r.messageId)}`} aria-label={`Trace of the message to ${r.address}`}>
                      {r.address}
                    </Link>
                  </th>
                  <td>
                    <StatusBadge status={r.status} />
                  </td>
                  <td class="mono">{r.sender || '<>'}</td>
                  <td>{formatTime(r.receivedAt)}</td>
                  <td class="num">{r.attempts}</td>
                  <td>{formatTime(r.nextAttemptAt)}</td>
                  <td class="wrap">{r.lastReply ?? ''}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <MoreButton list={list} />
      <Confirm
        open={confirm !== null}
        title={confirm ? `${VERBS[confirm.action]}: ${plural(confirm.count, 'recipient')}` : ''}
        confirmLabel={confirm ? `${VERBS[confirm.action]} ${plural(confirm.count, 'recipient')}` : ''}
        danger={confirm?.action === 'delete'}
        busy={running || confirm?.count === 0}
        onConfirm={run}
        onCancel={() => !running && setConfirm(null)}
      >
        {confirm && (
          <>
            <p data-testid="bulk-count">
              {confirm.count === 0 ? 'No recipient matching these filters is in a state this action changes.' : `${plural(confirm.count, 'recipient')} match the filters and will be changed.`}
            </p>
            {confirm.action === 'delete' && (
              <label class="check">
                <input type="checkbox" checked={dsn} onChange={(e) => setDsn(e.currentTarget.checked)} /> Send a delivery status notification to each sender
              </label>
            )}
            {progress && (
              <div class="progress">
                <label for="bulk-progress">Progress</label>
                <progress id="bulk-progress" max={100} value={percent(progress)}>
                  {percent(progress)} %
                </progress>
                <span>
                  {progress.done} of {progress.total}
                </span>
              </div>
            )}
          </>
        )}
      </Confirm>
    </>
  );
}
