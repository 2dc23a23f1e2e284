// The config editor with the plugins, and the playground.
import { html, useEffect, useState, api, usePoll, mutationHeaders, API_BASE, ApiError, fmtTime, fmtValue, ErrorText, Table } from './lib.js';

// "line L, column C: message" of a 422 config answer, else the error's message.
function configProblem(error) {
  const detail = error instanceof ApiError && error.body && error.body.error;
  if (detail && detail.line) return `line ${detail.line}, column ${detail.column || 1}: ${detail.message}`;
  return (detail && detail.message) || error.message;
}

function Plugins() {
  const { data, error } = usePoll(() => api('/plugins'), 0);
  return html`<section class="card">
    <h2>Plugins ${data && html`<span class="muted small">host ABI ${data.abi}</span>`}</h2>
    <${ErrorText} error=${error} />
    ${data && html`<div>
      <${Table} testid="plugins-table" head=${['Name', 'Version', 'ABI', 'File']}>
        ${(data.plugins || []).map((p) => html`<tr><td>${p.name}</td><td>${fmtValue(p.version)}</td><td>${fmtValue(p.abi)}</td><td><code>${p.file}</code></td></tr>`)}
      <//>
      <h3>Refused files</h3>
      <${Table} testid="plugins-refused" head=${['File', 'Reason']} empty="None.">
        ${(data.refused || []).map((r) => html`<tr><td><code>${r.file}</code></td><td>${r.reason}</td></tr>`)}
      <//>
    </div>`}
  </section>`;
}

export function ConfigPage() {
  const [config, setConfig] = useState(null);
  const [text, setText] = useState('');
  const [result, setResult] = useState(null);  // {ok, message}
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const load = () => api('/config').then((c) => { setConfig(c); setText(c.text || ''); }, setError);
  useEffect(() => { load(); }, []);
  const run = async (action) => {
    setBusy(true);
    setResult(null);
    try {
      const body = action === 'reload' ? undefined : { text };
      const answer = await api(`/config/${action}`, { method: 'POST', body });
      const message = action === 'validate' ? 'The configuration is valid.'
        : action === 'apply' ? `Applied: generation ${answer.generation}${answer.backup ? `, the old file kept as ${answer.backup}` : ''}.`
          : `Reloaded: generation ${answer.generation}.`;
      setResult({ ok: true, message });
      if (action !== 'validate') load();
    } catch (e) {
      setResult({ ok: false, message: configProblem(e) });
    } finally {
      setBusy(false);
    }
  };
  return html`<div>
    <${ErrorText} error=${error} />
    ${config && html`<section class="card">
      <dl class="facts" data-testid="config-info">
        <div><dt>File</dt><dd>${config.file}</dd></div>
        <div><dt>Generation</dt><dd>${fmtValue(config.generation)}</dd></div>
        <div><dt>Last reload</dt><dd>${config.last_reload ? `${fmtTime(config.last_reload.at)} ${config.last_reload.ok ? 'ok' : `failed: ${config.last_reload.error || ''}`}` : '—'}</dd></div>
      </dl>
      <p class="muted small">Secrets show as ${'<redacted:…>'}; leave them so and they keep their value.</p>
      <textarea class="editor" rows="24" spellcheck="false" data-testid="config-text" value=${text}
        onInput=${(e) => setText(e.currentTarget.value)}></textarea>
      <div class="toolbar">
        <button type="button" data-testid="config-validate" disabled=${busy} onClick=${() => run('validate')}>Validate</button>
        <button type="button" class="primary" data-testid="config-apply" disabled=${busy} onClick=${() => run('apply')}>Apply</button>
        <button type="button" data-testid="config-reload" disabled=${busy} onClick=${() => run('reload')}>Reload from disk</button>
      </div>
      ${result && html`<p class=${result.ok ? 'notice' : 'error'} role="status" data-testid="config-result">${result.message}</p>`}
    </section>`}
    <${Plugins} />
  </div>`;
}

// ---- Playground -------------------------------------------------------------------

// The text a streamed event adds, for either API's frames.
function deltaText(api, data) {
  if (api === 'openai') {
    const choice = data.choices && data.choices[0];
    return (choice && choice.delta && typeof choice.delta.content === 'string') ? choice.delta.content : '';
  }
  if (data.type === 'content_block_delta' && data.delta && typeof data.delta.text === 'string') return data.delta.text;
  return '';
}

function wholeText(api, data) {
  if (api === 'openai') {
    const choice = data.choices && data.choices[0];
    return (choice && choice.message && choice.message.content) || '';
  }
  return (data.content || []).filter((block) => block.type === 'text').map((block) => block.text).join('');
}

export function PlaygroundPage() {
  const [apiName, setApiName] = useState('openai');
  const [model, setModel] = useState('');
  const [message, setMessage] = useState('Hello!');
  const [stream, setStream] = useState(true);
  const [text, setText] = useState('');
  const [frames, setFrames] = useState([]);
  const [status, setStatus] = useState('');
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);

  const send = async (event) => {
    event.preventDefault();
    setBusy(true);
    setText('');
    setFrames([]);
    setError(null);
    setStatus('sending…');
    const messages = [{ role: 'user', content: message }];
    const body = apiName === 'openai' ? { model, messages, stream } : { model, max_tokens: 1024, messages, stream };
    try {
      const response = await fetch(`${API_BASE}/playground`, {
        method: 'POST',
        credentials: 'same-origin',
        headers: mutationHeaders({ 'Content-Type': 'application/json' }),
        body: JSON.stringify({ api: apiName, body }),
      });
      setStatus(`HTTP ${response.status}`);
      const streamed = (response.headers.get('Content-Type') || '').startsWith('text/event-stream');
      if (!streamed) {
        const raw = await response.text();
        setFrames([raw]);
        let data = null;
        try { data = JSON.parse(raw); } catch { data = null; }
        if (!response.ok) throw new ApiError(response.status, data, raw.slice(0, 300));
        if (data) setText(wholeText(apiName, data));
        return;
      }
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let buffer = '';
      let assembled = '';
      for (;;) {
        const { value, done } = await reader.read();
        buffer += decoder.decode(value || new Uint8Array(), { stream: !done });
        const parts = buffer.split(/\r?\n\r?\n/);
        buffer = done ? '' : parts.pop();
        const complete = parts.filter((part) => part.trim() !== '');
        if (complete.length) {
          setFrames((old) => [...old, ...complete]);
          for (const frame of complete) {
            const data = frame.split(/\r?\n/).filter((line) => line.startsWith('data:'))
              .map((line) => line.slice(5).trimStart()).join('\n');
            if (!data || data === '[DONE]') continue;
            try { assembled += deltaText(apiName, JSON.parse(data)); } catch { /* not JSON: shown raw only */ }
          }
          setText(assembled);
        }
        if (done) break;
      }
      setStatus(`HTTP ${response.status}, stream ended`);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };

  return html`<div class="playground">
    <form class="card" onSubmit=${send}>
      <div class="toolbar">
        <label>API
          <select data-testid="pg-api" value=${apiName} onChange=${(e) => setApiName(e.currentTarget.value)}>
            <option value="openai">OpenAI chat completions</option>
            <option value="anthropic">Anthropic messages</option>
          </select>
        </label>
        <label>Model <input data-testid="pg-model" required value=${model} placeholder="model name"
          onInput=${(e) => setModel(e.currentTarget.value)} /></label>
        <label class="inline"><input type="checkbox" data-testid="pg-stream" checked=${stream}
          onChange=${(e) => setStream(e.currentTarget.checked)} /> Stream</label>
      </div>
      <label>Message <textarea rows="4" data-testid="pg-message" value=${message}
        onInput=${(e) => setMessage(e.currentTarget.value)}></textarea></label>
      <div class="toolbar">
        <button type="submit" class="primary" disabled=${busy} data-testid="pg-send">Send</button>
        <span class="muted small" data-testid="pg-status">${status}</span>
      </div>
    </form>
    <${ErrorText} error=${error} testid="pg-error" />
    <section class="card">
      <h2>Answer</h2>
      <pre class="answer" data-testid="pg-text">${text}</pre>
      <h2>Raw ${stream ? 'SSE frames' : 'answer'}</h2>
      <ol class="frames" data-testid="pg-frames">${frames.map((frame) => html`<li><pre>${frame}</pre></li>`)}</ol>
    </section>
  </div>`;
}
