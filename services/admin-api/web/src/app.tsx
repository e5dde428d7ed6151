// The console's shell: who is signed in, the navigation, and which page the address shows.
// Any 401 (the session expired, or was signed out elsewhere) goes back to sign-in with the
// current page remembered in ?next=.
import { useEffect, useState } from 'preact/hooks';
import { api, ApiFailure, setCsrfToken, setUnauthorizedHandler } from './api/client.ts';
import { ErrorMessage, Loading } from './components/ui.tsx';
import { can, type Who } from './lib/scope.ts';
import { matchRoute, safeNext, signInUrl } from './lib/routes.ts';
import { Link, navigate, useLocation } from './router.tsx';
import { WhoContext } from './state.ts';
import { AuditPage } from './pages/audit.tsx';
import { DomainPage } from './pages/domain.tsx';
import { DomainsPage } from './pages/domains.tsx';
import { MailboxesPage } from './pages/mailboxes.tsx';
import { MessagesPage } from './pages/messages.tsx';
import { OverviewPage } from './pages/overview.tsx';
import { QueuePage } from './pages/queue.tsx';
import { SignInPage } from './pages/sign-in.tsx';
import { TracePage } from './pages/trace.tsx';
import { WebhooksPage } from './pages/webhooks.tsx';

const NAV: { href: string; label: string; global?: boolean }[] = [
  { href: '/', label: 'Overview', global: true },
  { href: '/domains', label: 'Domains' },
  { href: '/mailboxes', label: 'Mailboxes & aliases' },
  { href: '/queue', label: 'Queue' },
  { href: '/messages', label: 'Messages' },
  { href: '/audit', label: 'Audit log', global: true },
  { href: '/webhooks', label: 'Webhooks', global: true },
];

function Page({ path }: { path: string }) {
  const routes: [string, (p: Record<string, string>) => preact.JSX.Element][] = [
    ['/', () => <OverviewPage />],
    ['/domains', () => <DomainsPage />],
    ['/domains/:name', (p) => <DomainPage name={p.name!} />],
    ['/mailboxes', () => <MailboxesPage />],
    ['/queue', () => <QueuePage />],
    ['/messages', () => <MessagesPage />],
    ['/messages/:id', (p) => <TracePage id={p.id!} />],
    ['/audit', () => <AuditPage />],
    ['/webhooks', () => <WebhooksPage />],
  ];
  for (const [pattern, render] of routes) {
    const m = matchRoute(pattern, path);
    if (m) return render(m);
  }
  return (
    <>
      <h1>Not found</h1>
      <p>
        There is no page at this address. <Link href="/">Go to the overview</Link>.
      </p>
    </>
  );
}

export function App() {
  const loc = useLocation();
  const [who, setWho] = useState<Who | null>(null);
  const [checked, setChecked] = useState(false);
  const [error, setError] = useState<unknown>(null);

  const here = loc.path + loc.search;
  useEffect(() => {
    setUnauthorizedHandler(() => {
      setWho(null);
      setCsrfToken(null);
      const back = window.location.pathname + window.location.search;
      if (window.location.pathname !== '/sign-in') navigate(signInUrl(back), { replace: true });
    });
    api('get', '/v1/session', {}).then(
      (s) => {
        setCsrfToken(s.csrfToken);
        setWho({ actor: s.actor, scope: s.scope, domains: s.domains });
        setChecked(true);
      },
      (e: unknown) => {
        if (!(e instanceof ApiFailure && e.status === 401)) setError(e);
        setChecked(true);
      },
    );
    return () => setUnauthorizedHandler(null);
  }, []);

  useEffect(() => {
    if (checked && !who && loc.path !== '/sign-in' && !error) navigate(signInUrl(here), { replace: true });
  }, [checked, who, loc.path]);

  if (!checked) return <Loading what="the console" />;

  if (loc.path === '/sign-in' || !who) {
    return (
      <main id="main" class="sign-in-main">
        <ErrorMessage error={error} />
        <SignInPage
          onSignedIn={(s) => {
            setCsrfToken(s.csrfToken);
            setError(null);
            setWho({ actor: s.actor, scope: s.scope, domains: s.domains });
            navigate(safeNext(new URLSearchParams(loc.search).get('next')), { replace: true });
          }}
        />
      </main>
    );
  }

  const signOut = async () => {
    try {
      await api('delete', '/v1/session', {});
    } catch {
      // Signed out already, or the server is away: the cookie goes with the next sign-in anyway.
    }
    setCsrfToken(null);
    setWho(null);
    navigate('/sign-in', { replace: true });
  };

  return (
    <WhoContext.Provider value={who}>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <span class="brand">Hopmail</span>
        <nav aria-label="Main">
          <ul>
            {NAV.filter((n) => !n.global || can(who, 'read-global')).map((n) => {
              const active = n.href === '/' ? loc.path === '/' : loc.path === n.href || loc.path.startsWith(`${n.href}/`);
              return (
                <li key={n.href}>
                  <Link href={n.href} aria-current={active ? 'page' : undefined}>
                    {n.label}
                  </Link>
                </li>
              );
            })}
          </ul>
        </nav>
        <div class="who">
          <span title={who.actor}>
            {who.scope}
            {who.domains.length ? ` (${who.domains.join(', ')})` : ''}
          </span>
          <button type="button" onClick={signOut}>
            Sign out
          </button>
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        <Page path={loc.path} />
      </main>
    </WhoContext.Provider>
  );
}
