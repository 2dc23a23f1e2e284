// Overview, Routes, Providers and the Claude pool.
import {
  html, useState, api, usePoll, query, fmtTime, fmtDuration, fmtNumber, fmtValue, fmtMs,
  ErrorText, StateBadge, Table, Chart,
} from './lib.js';

// ---- Overview -------------------------------------------------------------------

const CHARTS = [
  { testid: 'chart-requests', title: 'Requests/s', series: [['requests/s', 'requests_per_s']] },
  { testid: 'chart-errors', title: 'Error rate', series: [['errors', 'error_rate']] },
  { testid: 'chart-latency', title: 'Latency (ms)', series: [['p50', 'p50_ms'], ['p95', 'p95_ms']] },
  { testid: 'chart-ttft', title: 'Time to first token, p50 (ms)', series: [['TTFT p50', 'ttft_p50_ms']] },
  { testid: 'chart-tokens', title: 'Output tokens/s', series: [['tokens/s', 'tokens_per_s']] },
  { testid: 'chart-streams', title: 'Active streams', series: [['streams', 'active_streams']] },
];

export function OverviewPage() {
  const [provider, setProvider] = useState('');
  const { data, error } = usePoll(() => api('/overview'), 10000);
  if (!data) return html`<div><${ErrorText} error=${error} /><p class="muted">Loading…</p></div>`;
  const stats = data.stats || {};
  const providers = Object.keys(stats.providers || {}).sort();
  const series = (provider && stats.providers && stats.providers[provider]) || stats.total || {};
  const t = stats.t || [];
  const reload = (data.config && data.config.last_reload) || null;
  return html`<div>
    <${ErrorText} error=${error} />
    <dl class="facts card" data-testid="overview-info">
      <div><dt>Version</dt><dd data-testid="overview-version">${data.version} (ABI ${data.abi})</dd></div>
      <div><dt>Uptime</dt><dd data-testid="overview-uptime">${fmtDuration(data.uptime_s)}</dd></div>
      <div><dt>Started</dt><dd>${fmtTime(data.started_at)}</dd></div>
      <div><dt>Config file</dt><dd data-testid="overview-config-file">${data.config ? data.config.file : '—'}</dd></div>
      <div><dt>Generation</dt><dd>${data.config ? data.config.generation : '—'}</dd></div>
      <div><dt>Last reload</dt><dd data-testid="overview-last-reload">${!reload ? '—'
        : html`${fmtTime(reload.at)} <${StateBadge} state=${reload.ok ? 'ok' : 'failed'} /> ${reload.error || ''}`}</dd></div>
      <div><dt>Active requests</dt><dd>${data.now ? data.now.active_requests : '—'}</dd></div>
      <div><dt>Active streams</dt><dd>${data.now ? data.now.active_streams : '—'}</dd></div>
    </dl>
    <div class="toolbar">
      <label>Provider
        <select data-testid="overview-provider" value=${provider} onChange=${(e) => setProvider(e.currentTarget.value)}>
          <option value="">All providers</option>
          ${providers.map((name) => html`<option value=${name}>${name}</option>`)}
        </select>
      </label>
      <span class="muted small">Last hour, ${stats.step_s || 10} s buckets</span>
    </div>
    <div class="charts">
      ${CHARTS.map((chart) => html`<${Chart} key=${chart.testid} testid=${chart.testid} title=${chart.title} t=${t}
        series=${chart.series.map(([label, field]) => ({ label, values: series[field] || t.map(() => null) }))} />`)}
    </div>
  </div>`;
}

// ---- Routes ---------------------------------------------------------------------

function chainText(chain) {
  return (chain || []).map((step) => (step.model ? `${step.provider} (${step.model})` : step.provider)).join(' → ');
}

function Resolver() {
  const [model, setModel] = useState('');
  const [result, setResult] = useState(null);
  const [error, setError] = useState(null);
  const resolve = async (event) => {
    event.preventDefault();
    setError(null);
    try {
      setResult(await api(`/routes/resolve${query({ model })}`));
    } catch (e) {
      setResult(null);
      setError(e.code === 'model_not_found' ? new Error(`No route matches "${model}".`) : e);
    }
  };
  return html`<section class="card">
    <h2>Resolve a model</h2>
    <form class="toolbar" onSubmit=${resolve}>
      <label>Model <input data-testid="resolve-model" required value=${model} placeholder="gpt-4o"
        onInput=${(e) => setModel(e.currentTarget.value)} /></label>
      <button type="submit" class="primary" data-testid="resolve-submit">Resolve</button>
    </form>
    <${ErrorText} error=${error} testid="resolve-error" />
    ${result && html`<div data-testid="resolve-result">
      <dl class="facts">
        <div><dt>Requested</dt><dd>${result.model}</dd></div>
        <div><dt>Resolved</dt><dd>${result.resolved}</dd></div>
        <div><dt>Aliases</dt><dd>${(result.aliases || []).join(' → ') || '—'}</dd></div>
        <div><dt>Route</dt><dd>${result.route}</dd></div>
      </dl>
      <${Table} testid="resolve-chain" head=${['#', 'Provider', 'Plugin', 'Model', 'State', 'Reason']}>
        ${(result.chain || []).map((step, i) => html`<tr>
          <td>${i + 1}</td><td>${step.provider}</td><td>${fmtValue(step.plugin)}</td>
          <td>${step.model || html`<span class="muted">as requested</span>`}</td>
          <td><${StateBadge} state=${step.state} /></td><td>${fmtValue(step.reason)}</td>
        </tr>`)}
      <//>
    </div>`}
  </section>`;
}

export function RoutesPage() {
  const { data, error } = usePoll(() => api('/routes'), 0);
  return html`<div>
    <${Resolver} />
    <${ErrorText} error=${error} />
    ${data && html`<section class="card">
      <h2>Routes</h2>
      <${Table} testid="routes-table" head=${['Pattern', 'Chain', 'Models', 'Line']}>
        ${(data.routes || []).map((route) => html`<tr>
          <td><code>${route.pattern}</code></td><td>${chainText(route.chain)}</td>
          <td>${(route.models || []).join(', ') || '—'}</td><td>${fmtValue(route.line)}</td>
        </tr>`)}
      <//>
      <h2>Aliases</h2>
      <${Table} testid="aliases-table" head=${['Name', 'Target']} empty="No aliases.">
        ${(data.aliases || []).map((alias) => html`<tr><td><code>${alias.name}</code></td><td>${alias.target}</td></tr>`)}
      <//>
      <h2>Default chain</h2>
      <p data-testid="default-chain">${chainText(data.default) || 'None: unmatched models are refused.'}</p>
    </section>`}
  </div>`;
}

// ---- Providers ------------------------------------------------------------------

export function ProvidersPage() {
  const { data, error, reload, setData } = usePoll(() => api('/providers'), 5000);
  const [actionError, setActionError] = useState(null);
  const reset = async (name) => {
    setActionError(null);
    try {
      const entry = await api(`/providers/${encodeURIComponent(name)}/reset`, { method: 'POST' });
      if (data) setData({ ...data, providers: data.providers.map((p) => (p.name === name ? entry : p)) });
      else reload();
    } catch (e) {
      setActionError(e);
    }
  };
  return html`<div>
    <${ErrorText} error=${error || actionError} testid="providers-error" />
    ${data && html`<${Table} testid="providers-table"
      head=${['Provider', 'State', 'Failures in a row', 'Attempts', 'Failures', 'Latency p50', 'Keys', 'Last error', '']}>
      ${(data.providers || []).map((p) => html`<tr data-testid=${`provider-row-${p.name}`}>
        <td><strong>${p.name}</strong><div class="muted small">${p.plugin}</div></td>
        <td data-col="state"><${StateBadge} state=${p.state} />
          ${p.reason && html`<div class="muted small">${p.reason}</div>`}
          ${p.cooldown_until && html`<div class="muted small">until ${fmtTime(p.cooldown_until)}</div>`}</td>
        <td>${fmtNumber(p.consecutive_failures)}</td><td>${fmtNumber(p.attempts)}</td><td>${fmtNumber(p.failures)}</td>
        <td>${fmtMs(p.latency_p50_ms)}</td>
        <td>${(p.keys || []).map((k) => html`<code class="key">${k}</code> `)}</td>
        <td class="wrap" data-col="errors">${p.last_error ? fmtValue(p.last_error) : '—'}
          ${(p.recent_errors || []).length !== 0 && html`<details><summary class="small">${p.recent_errors.length} recent</summary><ul class="plain small">
              ${p.recent_errors.map((e) => html`<li>${fmtTime(e.at)} · ${fmtValue(e.status)} · ${e.message}</li>`)}
            </ul></details>`}</td>
        <td><button type="button" data-testid=${`provider-reset-${p.name}`} onClick=${() => reset(p.name)}
          disabled=${p.state !== 'cooldown'}>Reset cooldown</button></td>
      </tr>`)}
    <//>`}
  </div>`;
}

// ---- Claude pool ----------------------------------------------------------------

const POOL_HEAD = ['Label', 'State', 'Expires', 'Last refresh', 'Requests', 'Failures', 'Refreshes', 'Tokens', 'Fingerprint'];

// One credential's cells (data-col names the entry's field, for tests).
function poolCells(entry) {
  const detail = entry.disabled_reason || entry.last_error;
  return html`
    <td data-col="label"><strong>${entry.label}</strong><div class="muted small">${fmtValue(entry.kind)}</div></td>
    <td data-col="state" class="wrap"><${StateBadge} state=${entry.state} />
      ${entry.cooldown_until && html`<div class="muted small">until ${fmtTime(entry.cooldown_until)}</div>`}
      ${detail && html`<div class="muted small">${fmtValue(detail)}</div>`}</td>
    <td data-col="expires_at">${fmtTime(entry.expires_at)}</td>
    <td data-col="last_refresh">${fmtTime(entry.last_refresh)}</td>
    ${['requests', 'failures', 'refreshes', 'tokens'].map((column) => html`<td data-col=${column}>${fmtNumber(entry[column])}</td>`)}
    <td data-col="fingerprint"><code class="key">${fmtValue(entry.fingerprint)}</code><div class="muted small">${fmtValue(entry.source)}</div></td>`;
}

// The actions that can apply: the API answers 409 to refreshing a credential that
// cannot be refreshed and to removing one that was not added here.
function poolActions(entry) {
  const actions = [entry.state === 'disabled' ? 'enable' : 'disable'];
  if (entry.refreshable) actions.push('refresh');
  if (entry.source === 'admin') actions.push('remove');
  return actions;
}

const EMPTY_FORM = { label: '', api_key: '', access_token: '', refresh_token: '', expires_at: '', credentials_json: '' };

function AddCredential({ provider, onAdded }) {
  const [mode, setMode] = useState('api_key');
  const [form, setForm] = useState(EMPTY_FORM);
  const [error, setError] = useState(null);
  const field = (name) => (e) => setForm({ ...form, [name]: e.currentTarget.value });
  const submit = async (event) => {
    event.preventDefault();
    setError(null);
    const body = { label: form.label };
    if (mode === 'api_key') body.api_key = form.api_key;
    if (mode === 'oauth') {
      body.access_token = form.access_token;
      body.refresh_token = form.refresh_token;
      if (form.expires_at) body.expires_at = new Date(form.expires_at).toISOString();
    }
    if (mode === 'json') body.credentials_json = form.credentials_json;
    // Secrets leave the page's state at once, whatever the answer.
    setForm({ ...EMPTY_FORM, label: form.label });
    try {
      const entry = await api(`/pool/${encodeURIComponent(provider)}/credentials`, { method: 'POST', body });
      setForm(EMPTY_FORM);
      onAdded(`Added ${entry && entry.label ? entry.label : body.label}.`);
    } catch (e) {
      setError(e);
    }
  };
  return html`<form class="add-form" data-testid=${`pool-add-${provider}`} onSubmit=${submit} autocomplete="off">
    <h3>Add a credential</h3>
    <div class="toolbar">
      <label>Kind
        <select data-testid="pool-add-mode" value=${mode} onChange=${(e) => setMode(e.currentTarget.value)}>
          <option value="api_key">API key</option>
          <option value="oauth">OAuth access + refresh token</option>
          <option value="json">Claude Code credentials JSON</option>
        </select>
      </label>
      <label>Label <input data-testid="pool-add-label" required value=${form.label} onInput=${field('label')} /></label>
    </div>
    ${mode === 'api_key' && html`<label>API key <input type="password" required autocomplete="off"
      data-testid="pool-add-api-key" value=${form.api_key} onInput=${field('api_key')} /></label>`}
    ${mode === 'oauth' && html`<div class="toolbar">
      <label>Access token <input type="password" required autocomplete="off" data-testid="pool-add-access-token"
        value=${form.access_token} onInput=${field('access_token')} /></label>
      <label>Refresh token <input type="password" required autocomplete="off" data-testid="pool-add-refresh-token"
        value=${form.refresh_token} onInput=${field('refresh_token')} /></label>
      <label>Expires at <input type="datetime-local" data-testid="pool-add-expires-at"
        value=${form.expires_at} onInput=${field('expires_at')} /></label>
    </div>`}
    ${mode === 'json' && html`<label>.credentials.json <textarea rows="4" required spellcheck="false"
      data-testid="pool-add-json" value=${form.credentials_json} onInput=${field('credentials_json')}></textarea></label>`}
    <button type="submit" class="primary" data-testid="pool-add-submit">Add</button>
    <${ErrorText} error=${error} testid="pool-error" />
  </form>`;
}

export function PoolPage() {
  const { data, error, reload } = usePoll(() => api('/pool'), 10000);
  const [message, setMessage] = useState(null);
  const [actionError, setActionError] = useState(null);
  const act = async (provider, label, action) => {
    setActionError(null);
    setMessage(null);
    const path = `/pool/${encodeURIComponent(provider)}/credentials/${encodeURIComponent(label)}`;
    try {
      if (action === 'remove') await api(path, { method: 'DELETE' });
      else await api(`${path}/${action}`, { method: 'POST' });
      setMessage(`${label}: ${action} done.`);
    } catch (e) {
      setActionError(e);
    }
    reload();
  };
  const added = (text) => { setMessage(text); reload(); };
  if (!data) return html`<div><${ErrorText} error=${error} /><p class="muted">Loading…</p></div>`;
  return html`<div>
    <${ErrorText} error=${error || actionError} testid="pool-error" />
    ${message && html`<p class="notice" data-testid="pool-message">${message}</p>`}
    ${(data.providers || []).length === 0 && html`<p class="muted">No provider manages a credential pool.</p>`}
    ${(data.providers || []).map((group) => html`<section class="card" data-testid=${`pool-${group.provider}`}>
      <h2>${group.provider} <span class="muted small">${group.plugin}</span></h2>
      <${Table} testid=${`pool-table-${group.provider}`} head=${[...POOL_HEAD, '']} empty="No credentials.">
        ${(group.credentials || []).map((entry) => html`<tr data-testid=${`pool-row-${group.provider}-${entry.label}`}>
          ${poolCells(entry)}
          <td class="actions">${poolActions(entry).map((action) => html`<button type="button"
            data-testid=${`pool-${action}-${group.provider}-${entry.label}`}
            onClick=${() => act(group.provider, entry.label, action)}>${action}</button>`)}</td>
        </tr>`)}
      <//>
      <${AddCredential} provider=${group.provider} onAdded=${added} />
    </section>`)}
  </div>`;
}
