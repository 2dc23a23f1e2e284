// Shared pieces of the panel: the html tag (htm bound to Preact), the admin
// API client (CSRF token kept in memory only), formatting helpers and the
// uPlot chart component.
import { h, render } from './vendor/preact.mjs';
import { useEffect, useRef, useState, useCallback } from './vendor/preact-hooks.mjs';
import htm from './vendor/htm.mjs';

export const html = htm.bind(h);
export { render, useEffect, useRef, useState, useCallback };

export const API_BASE = '/admin/api/v1';

// ---- the admin API ----------------------------------------------------------

let csrfToken = null;
let onUnauthorized = () => {};
export function setCsrfToken(token) { csrfToken = token || null; }
export function setUnauthorizedHandler(handler) { onUnauthorized = handler; }

export class ApiError extends Error {
  constructor(status, body, text) {
    const error = body && typeof body.error === 'object' ? body.error : null;
    super((error && error.message) || text || `HTTP ${status}`);
    this.status = status;
    this.body = body;
    this.code = (error && error.code) || null;
  }
}

// Headers of a mutation: the session's CSRF token (docs/admin-api.md, Access).
export function mutationHeaders(extra = {}) {
  const headers = { ...extra };
  if (csrfToken) headers['X-CSRF-Token'] = csrfToken;
  return headers;
}

// One call of the admin API; resolves to the parsed JSON (null for 204),
// rejects with ApiError. A 401 (session gone) returns the panel to the login,
// except for the session calls themselves.
export async function api(path, { method = 'GET', body, quiet401 = false } = {}) {
  let headers = { Accept: 'application/json' };
  if (method !== 'GET') headers = mutationHeaders(headers);
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const response = await fetch(API_BASE + path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: 'same-origin',
    cache: 'no-store',
  });
  if (response.status === 204) return null;
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (!response.ok) {
    if (response.status === 401 && !quiet401) onUnauthorized();
    throw new ApiError(response.status, data, data ? '' : text.slice(0, 200));
  }
  return data;
}

export function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== '') search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}

// Loads `load()` now and every `everyMs` (0: once); returns {data, error, reload}.
export function usePoll(load, everyMs, deps = []) {
  const [state, setState] = useState({ data: null, error: null });
  const generation = useRef(0);
  const reload = useCallback(async () => {
    const mine = ++generation.current;
    try {
      const data = await load();
      if (mine === generation.current) setState({ data, error: null });
    } catch (error) {
      if (mine === generation.current) setState((old) => ({ data: old.data, error }));
    }
  }, deps);
  useEffect(() => {
    reload();
    if (!everyMs) return () => { generation.current++; };
    const timer = setInterval(reload, everyMs);
    return () => { clearInterval(timer); generation.current++; };
  }, [reload, everyMs]);
  return { ...state, reload, setData: (data) => setState({ data, error: null }) };
}

// ---- formatting ---------------------------------------------------------------

// Local time, compact: "2026-12-03 16:04:05" (tables stay narrow); the full
// instant is in the element's title where it matters.
export function fmtTime(value) {
  if (!value) return '—';
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return String(value);
  const two = (n) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${two(date.getMonth() + 1)}-${two(date.getDate())} `
    + `${two(date.getHours())}:${two(date.getMinutes())}:${two(date.getSeconds())}`;
}

// Milliseconds: one decimal below 10 ms (the mock answers in 0.2 ms), whole above.
export function fmtMs(value) {
  if (value === null || value === undefined || value === '') return '—';
  if (typeof value !== 'number') return fmtValue(value);
  return `${fmtNumber(value, value < 10 ? 1 : 0)} ms`;
}

export function fmtDuration(seconds) {
  if (seconds === null || seconds === undefined) return '—';
  let s = Math.floor(seconds);
  const d = Math.floor(s / 86400); s -= d * 86400;
  const hours = Math.floor(s / 3600); s -= hours * 3600;
  const m = Math.floor(s / 60); s -= m * 60;
  if (d) return `${d}d ${hours}h ${m}m`;
  if (hours) return `${hours}h ${m}m ${s}s`;
  return m ? `${m}m ${s}s` : `${s}s`;
}

export function fmtNumber(value, digits = 0) {
  if (value === null || value === undefined || value === '') return '—';
  if (typeof value !== 'number') return fmtValue(value);
  return value.toLocaleString(undefined, { maximumFractionDigits: digits });
}

// Any JSON value as short text (objects as compact JSON).
export function fmtValue(value) {
  if (value === null || value === undefined || value === '') return '—';
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

// ---- small components -----------------------------------------------------------

export function ErrorText({ error, testid = 'error' }) {
  if (!error) return null;
  return html`<p class="error" role="alert" data-testid=${testid}>${error.message || String(error)}</p>`;
}

export function StateBadge({ state }) {
  const kind = state === 'up' || state === 'active' || state === 'ok' ? 'good'
    : state === 'cooldown' || state === 'refreshing' ? 'warn' : 'bad';
  return html`<span class=${`badge badge-${kind}`}>${state || '—'}</span>`;
}

export function Table({ testid, head, children, empty = 'Nothing yet.' }) {
  const rows = Array.isArray(children) ? children.filter(Boolean) : children;
  return html`<div class="table-wrap">
    <table data-testid=${testid}>
      <thead><tr>${head.map((title) => html`<th>${title}</th>`)}</tr></thead>
      <tbody>${rows && rows.length !== 0 ? rows
        : html`<tr><td class="muted" colspan=${head.length}>${empty}</td></tr>`}</tbody>
    </table>
  </div>`;
}

// ---- charts (uPlot, loaded as the global `uPlot` by index.html) ----------------------

const PALETTE = ['#2f80ed', '#eb5757', '#27ae60', '#f2994a', '#9b51e0'];

function cssVar(name, fallback) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;
}

// The buckets with no neighbour holding a value: no line reaches them, so
// uPlot draws them as dots (one request in an otherwise quiet hour).
function isolatedPoints(u, seriesIndex) {
  const values = u.data[seriesIndex] || [];
  const empty = (i) => i < 0 || i >= values.length || values[i] === null || values[i] === undefined;
  const isolated = [];
  for (let i = 0; i < values.length; i++) if (!empty(i) && empty(i - 1) && empty(i + 1)) isolated.push(i);
  return isolated;
}

// A time-series chart: `t` in unix seconds, `series` [{label, values}].
// 'dark' or 'light', following the system's setting as it changes.
function useColorScheme() {
  const query = window.matchMedia('(prefers-color-scheme: dark)');
  const [scheme, setScheme] = useState(query.matches ? 'dark' : 'light');
  useEffect(() => {
    const update = () => setScheme(query.matches ? 'dark' : 'light');
    query.addEventListener('change', update);
    return () => query.removeEventListener('change', update);
  }, []);
  return scheme;
}

export function Chart({ title, t, series, testid, unit = '' }) {
  const box = useRef(null);
  const plot = useRef(null);
  const labels = series.map((s) => s.label).join('|');
  // The canvas takes its colours when made: a new scheme makes a new plot.
  const scheme = useColorScheme();
  useEffect(() => {
    const element = box.current;
    const axis = { stroke: cssVar('--muted', '#666'), grid: { stroke: cssVar('--grid', '#8882') },
      ticks: { stroke: cssVar('--grid', '#8882') } };
    const options = {
      width: Math.max(200, element.clientWidth),
      height: 170,
      legend: { live: true },
      cursor: { drag: { x: false, y: false } },
      // From zero: a rate of 0.2 should not look like a wall.
      scales: { x: { time: true }, y: { range: (u, min, max) => [0, max > 0 ? max * 1.1 : 1] } },
      axes: [axis, { ...axis, size: 56, values: (u, ticks) => ticks.map((v) => `${fmtNumber(v, 2)}${unit}`) }],
      series: [{}, ...series.map((s, i) => ({ label: s.label, stroke: PALETTE[i % PALETTE.length], width: 1.5,
        spanGaps: false, points: { show: true, size: 5, fill: PALETTE[i % PALETTE.length], filter: isolatedPoints }, value: (u, v) => (v === null || v === undefined ? '—' : `${fmtNumber(v, 2)}${unit}`) }))],
    };
    plot.current = new window.uPlot(options, [t, ...series.map((s) => s.values)], element);
    const observer = new ResizeObserver(() => {
      if (plot.current) plot.current.setSize({ width: Math.max(200, element.clientWidth), height: 170 });
    });
    observer.observe(element);
    return () => { observer.disconnect(); plot.current.destroy(); plot.current = null; };
  }, [labels, scheme]);
  useEffect(() => {
    if (plot.current) plot.current.setData([t, ...series.map((s) => s.values)]);
  }, [t, series]);
  return html`<figure class="chart" data-testid=${testid}>
    <figcaption>${title}</figcaption>
    <div class="chart-box" ref=${box}></div>
  </figure>`;
}
