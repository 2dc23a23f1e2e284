// /docs: renders /openapi.json (paths grouped by tag; each operation's method,
// summary, parameters, request and response schemas as collapsible JSON).
// A small renderer on the panel's Preact + htm; everything rendered as text.
//
// data-testid: docs, docs-title, docs-error, docs-tag-<tag>, docs-op-<METHOD>-<path>
import { h, render } from '../ui/vendor/preact.mjs';
import { useEffect, useState } from '../ui/vendor/preact-hooks.mjs';
import htm from '../ui/vendor/htm.mjs';

const html = htm.bind(h);
const METHODS = ['get', 'post', 'put', 'patch', 'delete', 'head', 'options'];

// Replaces local "$ref"s (#/components/...) by what they name, once per
// branch (a schema that refers to itself shows the reference instead).
function resolve(spec, value, seen = new Set()) {
  if (Array.isArray(value)) return value.map((item) => resolve(spec, item, seen));
  if (!value || typeof value !== 'object') return value;
  if (typeof value.$ref === 'string' && value.$ref.startsWith('#/')) {
    if (seen.has(value.$ref)) return { $ref: value.$ref };
    const target = value.$ref.slice(2).split('/').reduce((node, key) => (node ? node[key.replace(/~1/g, '/').replace(/~0/g, '~')] : undefined), spec);
    return target === undefined ? value : resolve(spec, target, new Set([...seen, value.$ref]));
  }
  const out = {};
  for (const [key, item] of Object.entries(value)) out[key] = resolve(spec, item, seen);
  return out;
}

function Json({ title, value }) {
  return html`<details class="schema"><summary>${title}</summary><pre>${JSON.stringify(value, null, 2)}</pre></details>`;
}

function Operation({ spec, path, method, op }) {
  const parameters = resolve(spec, op.parameters || []);
  const body = op.requestBody ? resolve(spec, op.requestBody) : null;
  const responses = Object.entries(op.responses || {});
  return html`<details class="endpoint" data-testid=${`docs-op-${method.toUpperCase()}-${path}`}>
    <summary>
      <span class=${`method method-${method}`}>${method.toUpperCase()}</span>
      <code>${path}</code>
      <span class="muted">${op.summary || ''}</span>
    </summary>
    <div>
      ${op.description && html`<p>${op.description}</p>`}
      ${parameters.length !== 0 && html`<h3>Parameters</h3>
        <div class="table-wrap"><table>
          <thead><tr><th>Name</th><th>In</th><th>Required</th><th>Schema</th><th>Description</th></tr></thead>
          <tbody>${parameters.map((p) => html`<tr><td><code>${p.name}</code></td><td>${p.in}</td>
            <td>${p.required ? 'yes' : 'no'}</td><td><code>${JSON.stringify(p.schema || {})}</code></td>
            <td>${p.description || ''}</td></tr>`)}</tbody>
        </table></div>`}
      ${body && html`<h3>Request body${body.required ? ' (required)' : ''}</h3>
        ${Object.entries(body.content || {}).map(([type, media]) => html`<${Json} title=${type} value=${media.schema || media} />`)}`}
      ${responses.length !== 0 && html`<h3>Responses</h3>
        ${responses.map(([status, response]) => {
          const resolved = resolve(spec, response);
          const contents = Object.entries(resolved.content || {});
          return html`<div>
            <p><strong>${status}</strong> <span class="muted">${resolved.description || ''}</span></p>
            ${contents.map(([type, media]) => html`<${Json} title=${type} value=${media.schema || media} />`)}
          </div>`;
        })}`}
    </div>
  </details>`;
}

function groupByTag(spec) {
  const groups = new Map();
  for (const [path, item] of Object.entries(spec.paths || {})) {
    for (const method of METHODS) {
      const op = item[method];
      if (!op) continue;
      const tag = (op.tags && op.tags[0]) || 'other';
      if (!groups.has(tag)) groups.set(tag, []);
      groups.get(tag).push({ path, method, op: { ...op, parameters: [...(item.parameters || []), ...(op.parameters || [])] } });
    }
  }
  return groups;
}

function Docs() {
  const [spec, setSpec] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => {
    fetch('/openapi.json', { headers: { Accept: 'application/json' } })
      .then((response) => {
        if (!response.ok) throw new Error(`/openapi.json answered HTTP ${response.status}`);
        return response.json();
      })
      .then(setSpec, setError);
  }, []);
  const groups = spec ? groupByTag(spec) : new Map();
  const tagInfo = new Map(((spec && spec.tags) || []).map((tag) => [tag.name, tag]));
  const ordered = [...groups.keys()].sort((a, b) => {
    const names = [...tagInfo.keys()];
    const ia = names.indexOf(a); const ib = names.indexOf(b);
    return (ia < 0 ? 1e9 : ia) - (ib < 0 ? 1e9 : ib) || a.localeCompare(b);
  });
  return html`<div data-testid="docs">
    <header class="topbar">
      <a class="brand" href="/ui/">llmux</a>
      <span class="muted" data-testid="docs-title">${spec ? `${spec.info.title} ${spec.info.version}` : 'API reference'}</span>
      <a href="/openapi.json">openapi.json</a>
    </header>
    <main class="content">
      ${error && html`<p class="error" role="alert" data-testid="docs-error">${error.message}</p>`}
      ${!spec && !error && html`<p class="muted">Loading…</p>`}
      ${spec && spec.info && spec.info.description && html`<p>${spec.info.description}</p>`}
      ${ordered.map((tag) => html`<section data-testid=${`docs-tag-${tag}`}>
        <h2>${tag}</h2>
        ${tagInfo.get(tag) && tagInfo.get(tag).description && html`<p class="muted">${tagInfo.get(tag).description}</p>`}
        ${groups.get(tag).map(({ path, method, op }) => html`<${Operation} key=${method + path} spec=${spec} path=${path} method=${method} op=${op} />`)}
      </section>`)}
    </main>
  </div>`;
}

render(html`<${Docs} />`, document.getElementById('docs'));
