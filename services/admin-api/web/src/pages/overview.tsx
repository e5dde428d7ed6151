// Mail flow at a glance: messages per second in, delivered, deferred and bounced over the last
// hour, queue depths, and each service's replicas. One aggregated request every few seconds
// (GET /v1/overview); nothing per message.
import { useEffect, useMemo, useState } from 'preact/hooks';
import { api, type ResponseOf } from '../api/client.ts';
import { TimeChart } from '../components/chart.tsx';
import { ErrorMessage, Loading, useTitle } from '../components/ui.tsx';
import { formatTime, plural } from '../lib/format.ts';
import { colorOf } from '../lib/palette.ts';
import { currentRate, latestDepths, queueColumns, queueNames, totals, trafficColumns, TRAFFIC_KINDS } from '../lib/series.ts';

type Overview = ResponseOf<'/v1/overview', 'get'>;
export const REFRESH_MS = 5000;

export function OverviewPage() {
  useTitle('Overview');
  const [data, setData] = useState<Overview | null>(null);
  const [error, setError] = useState<unknown>(null);

  useEffect(() => {
    let stopped = false;
    let timer: number | undefined;
    const tick = async () => {
      try {
        const o = await api('get', '/v1/overview', {});
        if (stopped) return;
        setData(o);
        setError(null);
      } catch (e) {
        if (!stopped) setError(e);
      }
      // Polling pauses while the tab is hidden, and resumes when it is shown again.
      if (!stopped && !document.hidden) timer = window.setTimeout(tick, REFRESH_MS);
    };
    const onVisible = () => {
      if (!document.hidden && timer === undefined) void tick();
      if (document.hidden && timer !== undefined) {
        window.clearTimeout(timer);
        timer = undefined;
      }
    };
    document.addEventListener('visibilitychange', onVisible);
    void tick();
    return () => {
      stopped = true;
      window.clearTimeout(timer);
      document.removeEventListener('visibilitychange', onVisible);
    };
  }, []);

  const traffic = useMemo(() => (data ? trafficColumns(data.traffic, data.now) : null), [data]);
  const names = useMemo(() => (data ? queueNames(data.queues) : []), [data]);
  const queues = useMemo(() => (data ? queueColumns(data.queues, names) : null), [data, names]);

  return (
    <>
      <h1>Overview</h1>
      <ErrorMessage error={error} />
      {!data ? (
        <Loading what="the overview" />
      ) : (
        <>
          <section aria-labelledby="rates-title">
            <h2 id="rates-title">Mail flow now</h2>
            <p class="muted">
              Messages per second over the last minute or two; totals over the last hour. Updated {formatTime(data.now)}.
            </p>
            <dl class="stats" data-testid="rates">
              {TRAFFIC_KINDS.map((k) => (
                <div key={k} class={`stat stat-${k}`}>
                  <dt>{k}</dt>
                  <dd>
                    <span class="big" data-testid={`rate-${k}`}>
                      {currentRate(data.traffic, data.now, k)}
                    </span>{' '}
                    /s
                    <br />
                    <span class="muted" data-testid={`total-${k}`}>
                      {totals(data.traffic)[k]} in the last hour
                    </span>
                  </dd>
                </div>
              ))}
            </dl>
          </section>
          <div class="charts">
            {traffic && <TimeChart title="Messages per second, last hour" unit="/s" series={TRAFFIC_KINDS.map((k) => ({ label: k, color: colorOf(k) }))} data={traffic} />}
            {queues && names.length > 0 ? (
              <TimeChart title="Queue depths, last hour" unit="" series={names.map((n) => ({ label: n, color: colorOf(n) }))} data={queues} />
            ) : (
              <p class="muted">No queue samples yet: the housekeeper records the depths every few seconds.</p>
            )}
          </div>
          <section aria-labelledby="queues-title">
            <h2 id="queues-title">Queue depths</h2>
            <QueueTable depths={latestDepths(data.queues)} at={data.queues.at(-1)?.at ?? null} />
          </section>
          <section aria-labelledby="services-title">
            <h2 id="services-title">Services</h2>
            <Services services={data.services} />
          </section>
        </>
      )}
    </>
  );
}

const HOPS: Record<string, string> = {
  'route-message': 'jobs waiting for routing',
  'deliver-remote': 'jobs waiting for the outbound relay',
  'send-dsn': 'DSNs waiting to be written',
  queued: 'recipients not yet routed',
  relay: 'recipients waiting for their first relay attempt',
  deferred: 'recipients waiting for a retry',
  held: 'recipients held by an operator',
};

function QueueTable({ depths, at }: { depths: Record<string, number> | null; at: string | null }) {
  if (!depths) return <p class="muted">No sample yet.</p>;
  return (
    <table>
      <caption class="muted">Sampled {formatTime(at)}</caption>
      <thead>
        <tr>
          <th scope="col">Queue or state</th>
          <th scope="col">What waits there</th>
          <th scope="col" class="num">
            Depth
          </th>
        </tr>
      </thead>
      <tbody>
        {Object.entries(depths).map(([name, n]) => (
          <tr key={name}>
            <th scope="row">{name}</th>
            <td>{HOPS[name] ?? ''}</td>
            <td class="num" data-testid={`depth-${name}`}>
              {n}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function Services({ services }: { services: Overview['services'] }) {
  if (services === null) return <p class="error">Replica heartbeats are unavailable (Redis does not answer).</p>;
  if (services.length === 0) return <p class="muted">No service has reported a heartbeat yet.</p>;
  return (
    <table>
      <thead>
        <tr>
          <th scope="col">Service</th>
          <th scope="col">Health</th>
          <th scope="col" class="num">
            Replicas
          </th>
          <th scope="col">Instances</th>
        </tr>
      </thead>
      <tbody>
        {services.map((s) => {
          const health = s.replicas === 0 ? 'down' : s.ready === s.replicas ? 'ready' : s.ready === 0 ? 'not ready' : 'degraded';
          return (
            <tr key={s.service} data-testid={`service-${s.service}`}>
              <th scope="row">{s.service}</th>
              <td>
                <span class={`badge badge-health-${health.replace(' ', '-')}`}>{health}</span>
              </td>
              <td class="num">{s.replicas}</td>
              <td>
                {s.instances
                  .filter((i) => !i.stale)
                  .map((i) => `${i.instance}${i.ready ? '' : ' (not ready)'}`)
                  .join(', ') || plural(s.instances.length, 'stale instance')}
              </td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}
