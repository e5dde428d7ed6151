import { useState } from 'preact/hooks';
import { api } from '../api/client.ts';
import { ErrorMessage, Field, Loading, MoreButton, useCursorList, useTitle } from '../components/ui.tsx';
import { formatTime } from '../lib/format.ts';
import { navigate, useLocation } from '../router.tsx';

export function AuditPage() {
  useTitle('Audit log');
  const loc = useLocation();
  const q = new URLSearchParams(loc.search);
  const [actor, setActor] = useState(q.get('actor') ?? '');
  const [action, setAction] = useState(q.get('action') ?? '');
  const list = useCursorList((cursor) => api('get', '/v1/audit', { query: { actor: q.get('actor') || undefined, action: q.get('action') || undefined, limit: 100, cursor } }), [loc.search]);
  const submit = (e: Event) => {
    e.preventDefault();
    const p = new URLSearchParams();
    if (actor.trim()) p.set('actor', actor.trim());
    if (action.trim()) p.set('action', action.trim());
    navigate(`/audit${p.toString() ? `?${p}` : ''}`, { replace: true });
  };
  return (
    <>
      <h1>Audit log</h1>
      <form class="inline-form" role="search" onSubmit={submit}>
        <Field id="a-actor" label="Actor" hint="bootstrap or key:<id>">
          <input id="a-actor" value={actor} aria-describedby="a-actor-hint" onInput={(e) => setActor(e.currentTarget.value)} />
        </Field>
        <Field id="a-action" label="Action" hint="e.g. mailbox.create, queue.hold">
          <input id="a-action" value={action} aria-describedby="a-action-hint" onInput={(e) => setAction(e.currentTarget.value)} />
        </Field>
        <button type="submit">Filter</button>
      </form>
      <ErrorMessage error={list.error} />
      {list.loading && list.items.length === 0 ? (
        <Loading what="the audit log" />
      ) : list.items.length === 0 ? (
        <p>No entries match.</p>
      ) : (
        <div class="scroll">
          <table>
            <thead>
              <tr>
                <th scope="col">When</th>
                <th scope="col">Actor</th>
                <th scope="col">Action</th>
                <th scope="col">Target</th>
                <th scope="col" class="num">
                  Status
                </th>
                <th scope="col">From</th>
                <th scope="col">Details</th>
              </tr>
            </thead>
            <tbody>
              {list.items.map((e) => (
                <tr key={e.id} data-testid="audit-row">
                  <td>{formatTime(e.at)}</td>
                  <td class="mono">{e.actor}</td>
                  <td class="mono">{e.action}</td>
                  <td class="mono wrap">{e.target ?? ''}</td>
                  <td class="num">{e.status}</td>
                  <td class="mono">{e.remoteIp ?? ''}</td>
                  <td class="mono wrap small">{Object.keys(e.details).length ? JSON.stringify(e.details) : ''}</td>
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
