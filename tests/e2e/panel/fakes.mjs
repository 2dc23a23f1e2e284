// Fake upstreams for the panel's browser tests, on 127.0.0.1, speaking the
// real wire formats:
//   failing    an OpenAI-compatible server whose chat completions answer 500
//              with an OpenAI error body (its message carries an HTML payload
//              the panel must show as text)
//   anthropic  POST /v1/messages (Anthropic message JSON or SSE) and
//              POST /v1/oauth/token (refresh grant) as docs/claude-pool.md and
//              tests/support/fake_anthropic.cc describe them
//   crosssite  a page on another origin with a form posting to llmux
// Every fake records what it was asked (method, path, and the refresh token of
// a token request) at GET /__calls.
//
//   node fakes.mjs PORTS_FILE   serves all of them and writes their ports as
//                               JSON to PORTS_FILE (run_panel.sh does this
//                               before llmux starts: llmux's config needs them)
import http from 'node:http';
import { writeFileSync, renameSync } from 'node:fs';

export const FAILING_MESSAGE = 'upstream exploded <img src=x onerror=alert(1)>';
// The refresh token the fake token endpoint knows (the pool test adds it).
export const KNOWN_REFRESH_TOKEN = 'sk-ant-ort01-e2e-panel-refresh-7c1d9e02a4b3';
export const ANTHROPIC_API_KEY = 'sk-ant-api03-e2e-panel-team-key-51f0aa';

function readBody(request) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    request.on('data', (chunk) => chunks.push(chunk));
    request.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    request.on('error', reject);
  });
}

function json(response, status, body, headers = {}) {
  const text = JSON.stringify(body);
  response.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), ...headers });
  response.end(text);
}

// A server whose handler gets (request, response, body, parsedJson); calls are recorded.
function fakeServer(name, handle) {
  const calls = [];
  const server = http.createServer(async (request, response) => {
    const path = request.url.split('?')[0];
    if (request.method === 'GET' && path === '/__calls') return json(response, 200, { calls });
    if (path === '/favicon.ico') return response.writeHead(204).end();
    const body = await readBody(request);
    let parsed = null;
    try { parsed = body ? JSON.parse(body) : null; } catch { parsed = null; }
    const call = { method: request.method, path, at: Date.now() };
    if (parsed && typeof parsed.refresh_token === 'string') call.refresh_token = parsed.refresh_token;
    if (parsed && typeof parsed.model === 'string') call.model = parsed.model;
    calls.push(call);
    try {
      await handle(request, response, parsed, path);
    } catch (error) {
      if (!response.headersSent) json(response, 500, { error: { message: `fake ${name}: ${error.message}` } });
    }
  });
  return server;
}

function failingOpenAI() {
  return fakeServer('failing', (request, response) => json(response, 500, {
    error: { message: FAILING_MESSAGE, type: 'server_error', param: null, code: null },
  }));
}

const MESSAGE_ID = 'msg_01XFDUDYJgAACzvnptvVoYEL';
const USAGE = { input_tokens: 12, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 6, service_tier: 'standard' };
const ANTHROPIC_HEADERS = { 'request-id': 'req_011CSHoEeqs5C35K2UUqR7Fy' };

function anthropicError(response, status, type, message) {
  json(response, status, { type: 'error', error: { type, message }, request_id: 'req_011CSHoEeqs5C35K2UUqR7Fy' }, ANTHROPIC_HEADERS);
}

function fakeAnthropic() {
  const validAccess = new Set([ANTHROPIC_API_KEY]);
  let issued = 0;
  const refreshes = new Map([[KNOWN_REFRESH_TOKEN, KNOWN_REFRESH_TOKEN]]);
  return fakeServer('anthropic', (request, response, body, path) => {
    if (request.method === 'POST' && path === '/v1/oauth/token') {
      if (!body || body.grant_type !== 'refresh_token' || !body.client_id) {
        return json(response, 400, { error: 'invalid_request', error_description: 'Invalid request format' });
      }
      if (!refreshes.has(body.refresh_token)) {
        return json(response, 400, { error: 'invalid_grant', error_description: 'Refresh token not found or invalid' });
      }
      issued += 1;
      const access = `sk-ant-oat01-e2e-fresh-${issued}-0f9a8b7c6d5e`;
      validAccess.add(access);
      return json(response, 200, {
        token_type: 'Bearer', access_token: access, refresh_token: body.refresh_token, expires_in: 28800,
        scope: 'user:inference user:profile', organization: { uuid: '00000000' }, account: { uuid: '1' },
      });
    }
    if (request.method !== 'POST' || path !== '/v1/messages') {
      return anthropicError(response, 404, 'not_found_error', 'Not found');
    }
    if (!request.headers['anthropic-version']) {
      return anthropicError(response, 400, 'invalid_request_error', 'anthropic-version: header is required');
    }
    const auth = request.headers['x-api-key'] || (request.headers.authorization || '').replace(/^Bearer /, '');
    if (!validAccess.has(auth)) return anthropicError(response, 401, 'authentication_error', 'invalid x-api-key');
    const model = (body && body.model) || 'claude-sonnet-4-5';
    if (!(body && body.stream)) {
      return json(response, 200, {
        id: MESSAGE_ID, type: 'message', role: 'assistant', model,
        content: [{ type: 'text', text: 'Hello from the fake Anthropic.' }],
        stop_reason: 'end_turn', stop_sequence: null, usage: USAGE,
      }, ANTHROPIC_HEADERS);
    }
    response.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-cache', ...ANTHROPIC_HEADERS });
    const event = (name, data) => response.write(`event: ${name}\ndata: ${JSON.stringify(data)}\n\n`);
    event('message_start', { type: 'message_start', message: { id: MESSAGE_ID, type: 'message', role: 'assistant', model, content: [],
      stop_reason: null, stop_sequence: null, usage: { ...USAGE, output_tokens: 1 } } });
    event('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } });
    for (const piece of ['Hello', ' from the fake', ' Anthropic.']) {
      event('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: piece } });
    }
    event('content_block_stop', { type: 'content_block_stop', index: 0 });
    event('message_delta', { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 6 } });
    event('message_stop', { type: 'message_stop' });
    response.end();
  });
}

// GET /form?action=URL: a page with a plain HTML form posting to URL (no script).
function crossSitePage() {
  return fakeServer('crosssite', (request, response) => {
    const action = new URL(request.url, 'http://x').searchParams.get('action') || '';
    const escaped = action.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');
    const page = `<!doctype html><html><head><meta charset="utf-8"><title>elsewhere</title></head><body>
<form method="POST" action="${escaped}" enctype="text/plain">
<input type="hidden" name='{"x":"' value='"}'>
<button type="submit" id="go">Win a prize</button>
</form></body></html>`;
    response.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    response.end(page);
  });
}

function listen(server) {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server.address().port)));
}

// The recorded calls of the fake at `port`.
export async function callsOf(port) {
  const response = await fetch(`http://127.0.0.1:${port}/__calls`);
  return (await response.json()).calls;
}

if (process.argv[1] && process.argv[1].endsWith('fakes.mjs') && process.argv[2]) {
  const portsFile = process.argv[2];
  const ports = {
    failing: await listen(failingOpenAI()),
    anthropic: await listen(fakeAnthropic()),
    crosssite: await listen(crossSitePage()),
  };
  writeFileSync(`${portsFile}.tmp`, JSON.stringify(ports));
  renameSync(`${portsFile}.tmp`, portsFile);
  // Bounded: run_panel.sh stops it, and it never outlives a run by much.
  setTimeout(() => process.exit(0), 600_000);
  process.on('SIGTERM', () => process.exit(0));
}
