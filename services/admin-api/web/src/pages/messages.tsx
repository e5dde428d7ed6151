// Message search, newest first; each result opens its trace.
import { useState } from 'preact/hooks';
import { api } from '../api/client.ts';
import { ErrorMessage, Field, Loading, MoreButton, StatusBadge, useCursorList, useTitle } from '../components/ui.tsx';
import { formatBytes, formatTime } from '../lib/format.ts';
import { seg } from '../lib/routes.ts';
import { Link, navigate, useLocation } from '../router.tsx';

const FIELDS = ['queueId', 'messageId', 'sender', 'recipient'] as const;
type Form = Record<(typeof FIELDS)[number], string>;

export function MessagesPage() {
  useTitle('Messages');
  const loc = useLocation();
  const q = new URLSearchParams(loc.search);
  const [form, setForm] = useState<Form>({ queueId: q.get('queueId') ?? '', messageId: q.get('messageId') ?? '', sender: q.get('sender') ?? '', recipient: q.get('recipient') ?? '' });
  const query = Object.fromEntries(FIELDS.filter((k) => q.get(k)).map((k) => [k, q.get(k)!]));
  const list = useCursorList((cursor) => api('get', '/v1/messages', { query: { ...query, limit: 50, cursor } }), [loc.search]);
  const submit = (e: Event) => {
    e.preventDefault();
    const p = new URLSearchParams();
    for (const k of FIELDS) if (form[k].trim()) p.set(k, form[k].trim());
    navigate(`/messages${p.toString() ? `?${p}` : ''}`, { replace: true });
  };
  const labels: Form = { queueId: 'Queue id', messageId: 'Message-ID header', sender: 'Sender', recipient: 'Recipient' };
  return (
    <>
      <h1>Messages</h1>
      <form class="card grid-fields" role="search" onSubmit={submit}>
        {FIELDS.map((k) => (
          <Field key={k} id={`m-${k}`} label={labels[k]}>
            <input id={`m-${k}`} value={form[k]} onInput={(e) => setForm({ ...form, [k]: e.currentTarget.value })} />
          </Field>
        ))}
        <button class="primary" type="submit">
          Search
        </button>
      </form>
      <ErrorMessage error={list.error} />
      {list.loading && list.items.length === 0 ? (
        <Loading what="messages" />
      ) : list.items.length === 0 ? (
        <p>No messages match.</p>
      ) : (
        <div class="scroll">
          <table>
            <thead>
              <tr>
                <th scope="col">Received</th>
                <th scope="col">Sender</th>
                <th scope="col">Recipients</th>
                <th scope="col" class="num">
                  Size
                </th>
              </tr>
            </thead>
            <tbody>
              {list.items.map((m) => (
                <tr key={m.id} data-testid="message-row">
                  <th scope="row">
                    <Link href={`/messages/${seg(m.id)}`}>{formatTime(m.receivedAt)}</Link>
                  </th>
                  <td class="mono">{m.sender || '<>'}</td>
                  <td>
                    <ul class="plain">
                      {m.recipients.map((r) => (
                        <li key={r.address}>
                          <span class="mono">{r.address}</span> <StatusBadge status={r.status} />
                        </li>
                      ))}
                    </ul>
                  </td>
                  <td class="num">{formatBytes(m.size)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <MoreButton list={list} />
    </>
  );
}
