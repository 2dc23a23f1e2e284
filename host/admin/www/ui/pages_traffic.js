// The live request log and usage.
import { html, useEffect, useRef, useState, api, query, API_BASE, fmtTime, fmtNumber, fmtValue, fmtMs, ErrorText, StateBadge, Table } from './lib.js';

const KEEP_ROWS = 500;

// Does a request summary pass the filters (as the server's /requests does)?
function matches(row, filters) {
  for (const name of ['model', 'provider', 'client']) {
    if (filters[name] && row[name] !== filters[name]) return false;
  }
  const status = filters.status;
  if (!status) return true;
  if (status === 'error') return row.outcome !== 'ok';
  if (/^[1-5]xx$/.test(status)) return String(row.status).charAt(0) === status.charAt(0);
  return String(row.status) === status;
}

function RequestDetail({ id, onClose }) {
  const [detail, setDetail] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => {
    setDetail(null);
    setError(null);
    api(`/requests/${encodeURIComponent(id)}`).then(setDetail, setError);
  }, [id]);
  const fields = ['id', 'at', 'api', 'method', 'path', 'model', 'model_answered', 'route', 'provider', 'client', 'status',
    'outcome', 'stream', 'duration_ms', 'ttft_ms', 'input_tokens', 'output_tokens', 'cache_read_tokens',
    'cache_creation_tokens', 'bytes_in', 'bytes_out'];
  return html`<section class="card detail" data-testid="request-detail">
    <div class="toolbar">
      <h2>Request ${id}</h2>
      <button type="button" data-testid="request-detail-close" onClick=${onClose}>Close</button>
    </div>
    <${ErrorText} error=${error} />
    ${detail && html`<div>
      <dl class="facts">${fields.map((name) => html`<div><dt>${name}</dt><dd>${name === 'at' ? fmtTime(detail.at) : name.endsWith('_ms') ? fmtMs(detail[name]) : fmtValue(detail[name])}</dd></div>`)}</dl>
      ${(detail.warnings || []).length !== 0 && html`<ul class="plain warn">${detail.warnings.map((w) => html`<li>${fmtValue(w)}</li>`)}</ul>`}
      <h3>Attempts</h3>
      <${Table} testid="request-attempts" head=${['#', 'Provider', 'Outcome', 'Status', 'Duration']} empty="No attempt.">
        ${(detail.attempts || []).map((a, i) => html`<tr><td>${i + 1}</td><td>${a.provider}</td>
          <td><${StateBadge} state=${a.outcome} /></td><td>${fmtValue(a.status)}</td><td>${fmtMs(a.duration_ms)}</td></tr>`)}
      <//>
    </div>`}
  </section>`;
}

export function LogPage() {
  const [draft, setDraft] = useState({ model: '', provider: '', client: '', status: '' });
  const [filters, setFilters] = useState(draft);
  const [rows, setRows] = useState([]);
  const [cursor, setCursor] = useState(null);
  const [error, setError] = useState(null);
  const [live, setLive] = useState('connecting');
  const [selected, setSelected] = useState(null);
  const filtersRef = useRef(filters);
  filtersRef.current = filters;

  useEffect(() => {
    let stale = false;
    api(`/requests${query({ limit: 50, ...filters })}`).then((answer) => {
      if (stale) return;
      setRows(answer.requests || []);
      setCursor(answer.next_cursor || null);
      setError(null);
    }, (e) => { if (!stale) setError(e); });
    return () => { stale = true; };
  }, [filters]);

  useEffect(() => {
    const source = new EventSource(`${API_BASE}/events`);
    source.onopen = () => setLive('live');
    source.onerror = () => setLive(source.readyState === EventSource.CLOSED ? 'closed' : 'reconnecting');
    source.addEventListener('request', (event) => {
      let row;
      try { row = JSON.parse(event.data); } catch { return; }
      if (!matches(row, filtersRef.current)) return;
      setRows((old) => [row, ...old.filter((r) => r.id !== row.id)].slice(0, KEEP_ROWS));
    });
    return () => source.close();
  }, []);

  const more = async () => {
    try {
      const answer = await api(`/requests${query({ limit: 50, cursor, ...filters })}`);
      setRows((old) => [...old, ...(answer.requests || [])]);
      setCursor(answer.next_cursor || null);
    } catch (e) {
      setError(e);
    }
  };
  const input = (name, placeholder) => html`<label>${name}
    <input data-testid=${`log-filter-${name}`} value=${draft[name]} placeholder=${placeholder}
      onInput=${(e) => setDraft({ ...draft, [name]: e.currentTarget.value.trim() })} /></label>`;
  return html`<div>
    <form class="toolbar" onSubmit=${(e) => { e.preventDefault(); setFilters({ ...draft }); }}>
      ${input('model', 'any')} ${input('provider', 'any')} ${input('client', 'any')} ${input('status', '200, 4xx, error')}
      <button type="submit" class="primary" data-testid="log-apply">Filter</button>
      <span class="muted small" data-testid="events-state">${live}</span>
    </form>
    <${ErrorText} error=${error} />
    ${selected && html`<${RequestDetail} id=${selected} onClose=${() => setSelected(null)} />`}
    <${Table} testid="log-table" head=${['Time', 'API', 'Model', 'Route', 'Provider', 'Client', 'Status', 'Stream', 'Duration', 'TTFT', 'Tokens in/out']}
      empty="No request yet.">
      ${rows.map((r) => html`<tr key=${r.id} class=${r.id === selected ? 'clickable selected' : 'clickable'}
        data-testid=${`log-row-${r.id}`} tabindex="0" onClick=${() => setSelected(r.id)}
        onKeyDown=${(e) => { if (e.key === 'Enter') setSelected(r.id); }}>
        <td>${fmtTime(r.at)}</td><td>${fmtValue(r.api)}</td><td>${fmtValue(r.model)}</td><td>${fmtValue(r.route)}</td>
        <td>${fmtValue(r.provider)}</td><td>${fmtValue(r.client)}</td>
        <td><span class=${r.outcome === 'ok' ? 'badge badge-good' : 'badge badge-bad'}>${fmtValue(r.status)}</span></td>
        <td>${r.stream ? 'yes' : 'no'}</td><td>${fmtMs(r.duration_ms)}</td><td>${fmtMs(r.ttft_ms)}</td>
        <td>${fmtNumber(r.input_tokens)} / ${fmtNumber(r.output_tokens)}</td>
      </tr>`)}
    <//>
    ${cursor && html`<button type="button" data-testid="log-more" onClick=${more}>Load older</button>`}
  </div>`;
}

export function UsagePage() {
  const [period, setPeriod] = useState('hour');
  const [data, setData] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => {
    let stale = false;
    setData(null);
    api(`/usage${query({ period })}`).then((answer) => { if (!stale) { setData(answer); setError(null); } },
      (e) => { if (!stale) setError(e); });
    return () => { stale = true; };
  }, [period]);
  return html`<div>
    <div class="toolbar">
      <label>Period
        <select data-testid="usage-period" value=${period} onChange=${(e) => setPeriod(e.currentTarget.value)}>
          <option value="hour">Hourly (last 48 h)</option>
          <option value="day">Daily (last 90 days)</option>
        </select>
      </label>
      <a class="button" data-testid="usage-csv" download=${`llmux-usage-${period}.csv`}
        href=${`${API_BASE}/usage${query({ format: 'csv', period })}`}>Download CSV</a>
    </div>
    <${ErrorText} error=${error} />
    ${data && html`<${Table} testid="usage-table" head=${['Start', 'Model', 'Provider', 'Client', 'Requests', 'Errors', 'Input tokens', 'Output tokens']}
      empty="No usage in this period.">
      ${(data.rows || []).map((r) => html`<tr><td>${fmtTime(r.start)}</td><td>${fmtValue(r.model)}</td>
        <td>${fmtValue(r.provider)}</td><td>${fmtValue(r.client)}</td><td>${fmtNumber(r.requests)}</td>
        <td>${fmtNumber(r.errors)}</td><td>${fmtNumber(r.input_tokens)}</td><td>${fmtNumber(r.output_tokens)}</td></tr>`)}
    <//>`}
  </div>`;
}
