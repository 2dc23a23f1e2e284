// llmux admin panel: a single-page app on the admin API (docs/admin-api.md)
// and nothing else. Preact + htm, no build step; hash routing (#/overview).
// Everything is rendered as text (htm escapes); the CSRF token lives in memory.
//
// data-testid attributes (stable, for tests/e2e/panel):
//   app                      the root element; data-page holds the current page
//   login-form, login-key, login-submit, login-error
//   nav, nav-toggle, nav-<page>, logout, session-via
//   page-<page>              each page's root (overview, routes, providers, pool,
//                            log, usage, config, playground)
//   overview: overview-provider (select), overview-info, overview-version,
//     overview-uptime, overview-config-file, overview-last-reload,
//     chart-requests, chart-errors, chart-latency, chart-ttft, chart-tokens, chart-streams
//   routes: routes-table, aliases-table, default-chain, resolve-model, resolve-submit,
//     resolve-result, resolve-chain, resolve-error
//   providers: providers-table, provider-row-<name>, provider-reset-<name>, providers-error
//   pool: pool-<provider>, pool-table-<provider>, pool-row-<provider>-<label>,
//     pool-<action>-<provider>-<label> (action: disable, enable, refresh, remove),
//     pool-add-<provider> (form), pool-add-mode, pool-add-label, pool-add-api-key,
//     pool-add-access-token, pool-add-refresh-token, pool-add-expires-at,
//     pool-add-json, pool-add-submit, pool-message, pool-error
//   log: log-filter-model, log-filter-provider, log-filter-client, log-filter-status,
//     log-apply, log-table, log-row-<id>, log-more, events-state,
//     request-detail, request-attempts, request-detail-close
//   usage: usage-period, usage-table, usage-csv
//   config: config-text, config-validate, config-apply, config-reload, config-result,
//     config-info, plugins-table, plugins-refused
//   playground: pg-api, pg-model, pg-message, pg-stream, pg-send, pg-text, pg-frames,
//     pg-status, pg-error
//   error (any page's error line)
import { html, render, useEffect, useState, api, setCsrfToken, setUnauthorizedHandler, ApiError } from './lib.js';
import { OverviewPage, RoutesPage, ProvidersPage, PoolPage } from './pages_status.js';
import { LogPage, UsagePage } from './pages_traffic.js';
import { ConfigPage, PlaygroundPage } from './pages_config.js';

const PAGES = [
  { id: 'overview', title: 'Overview', component: OverviewPage },
  { id: 'routes', title: 'Routes', component: RoutesPage },
  { id: 'providers', title: 'Providers', component: ProvidersPage },
  { id: 'pool', title: 'Claude pool', component: PoolPage },
  { id: 'log', title: 'Live log', component: LogPage },
  { id: 'usage', title: 'Usage', component: UsagePage },
  { id: 'config', title: 'Config', component: ConfigPage },
  { id: 'playground', title: 'Playground', component: PlaygroundPage },
];

function currentPage() {
  const id = window.location.hash.replace(/^#\/?/, '').split('?')[0];
  return PAGES.find((page) => page.id === id) || PAGES[0];
}

function useHashPage() {
  const [page, setPage] = useState(currentPage);
  useEffect(() => {
    const update = () => setPage(currentPage());
    window.addEventListener('hashchange', update);
    return () => window.removeEventListener('hashchange', update);
  }, []);
  return page;
}

function Login({ onLogin, notice }) {
  const [key, setKey] = useState('');
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const submit = async (event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const answer = await api('/login', { method: 'POST', body: { key }, quiet401: true });
      setKey('');
      onLogin({ authenticated: true, via: 'session', csrf_token: answer.csrf_token, expires_at: answer.expires_at });
    } catch (e) {
      setKey('');
      setError(e instanceof ApiError && e.status === 401 ? new Error('Wrong admin key.')
        : e instanceof ApiError && e.status === 429 ? new Error('Too many attempts; wait a minute and try again.')
          : e);
    } finally {
      setBusy(false);
    }
  };
  return html`<main class="login">
    <form class="card login-card" data-testid="login-form" onSubmit=${submit}>
      <h1>llmux</h1>
      <p class="muted">Sign in with the admin key (admin_key in providers.yaml).</p>
      ${notice && html`<p class="muted">${notice}</p>`}
      <label>Admin key
        <input type="password" autocomplete="current-password" required data-testid="login-key"
          value=${key} onInput=${(e) => setKey(e.currentTarget.value)} />
      </label>
      <button type="submit" class="primary" disabled=${busy} data-testid="login-submit">Sign in</button>
      ${error && html`<p class="error" role="alert" data-testid="login-error">${error.message}</p>`}
    </form>
  </main>`;
}

function Shell({ page, session, onLogout }) {
  const [navOpen, setNavOpen] = useState(false);
  useEffect(() => { setNavOpen(false); document.title = `${page.title} · llmux`; }, [page]);
  const logout = async () => {
    try { await api('/logout', { method: 'POST', quiet401: true }); } catch { /* the session is gone either way */ }
    onLogout();
  };
  const Page = page.component;
  return html`<div class="shell">
    <header class="topbar">
      <a class="brand" href="#/overview">llmux</a>
      <button type="button" class="nav-toggle" aria-expanded=${navOpen ? 'true' : 'false'}
        data-testid="nav-toggle" onClick=${() => setNavOpen(!navOpen)}>Menu</button>
      <nav class=${navOpen ? 'nav open' : 'nav'} data-testid="nav">
        ${PAGES.map((p) => html`<a href=${`#/${p.id}`} data-testid=${`nav-${p.id}`}
          class=${p.id === page.id ? 'active' : ''} aria-current=${p.id === page.id ? 'page' : undefined}>${p.title}</a>`)}
        <a href="/docs" class="external">API docs</a>
        ${session.via === 'session' && html`<button type="button" class="link" data-testid="logout" onClick=${logout}>Sign out</button>`}
        ${session.via !== 'session' && html`<span class="muted small" data-testid="session-via">${session.via}</span>`}
      </nav>
    </header>
    <main class="content" data-testid=${`page-${page.id}`}>
      <h1>${page.title}</h1>
      <${Page} key=${page.id} />
    </main>
  </div>`;
}

function App() {
  // undefined: asking /session; null: signed out; else the session.
  const [session, setSession] = useState(undefined);
  const [notice, setNotice] = useState(null);
  const route = useHashPage();
  const signIn = (s) => { setCsrfToken(s.csrf_token); setSession(s); };
  const signOut = (message = null) => { setCsrfToken(null); setNotice(message); setSession(null); };
  useEffect(() => {
    setUnauthorizedHandler(() => signOut('Your session ended; sign in again.'));
    api('/session', { quiet401: true })
      .then((s) => (s && s.authenticated ? signIn(s) : signOut()))
      .catch((e) => signOut(e instanceof ApiError && e.status !== 401 ? `The admin API answered: ${e.message}` : null));
  }, []);
  const page = session ? route.id : session === null ? 'login' : 'loading';
  return html`<div data-testid="app" data-page=${page}>
    ${session === undefined ? html`<p class="muted center">Loading…</p>`
      : session === null ? html`<${Login} onLogin=${signIn} notice=${notice} />`
        : html`<${Shell} page=${route} session=${session} onLogout=${() => signOut()} />`}
  </div>`;
}

render(html`<${App} />`, document.getElementById('app'));
