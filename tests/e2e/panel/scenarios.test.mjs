// The panel's scenarios in headless Chromium against the real llmux that
// run_panel.sh started (config there), with the fake upstreams of fakes.mjs:
// login, the live log over SSE, routes, provider cooldown, the Claude pool,
// the config editor, CSRF, escaping and the playground. Every page is
// screenshotted (light and dark), and no page may log an error, violate the
// CSP or open a dialog. The tests run in order and share one llmux.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { launch, openPage, byTestId, signIn, visit, admin, chat, BASE, ADMIN_KEY, API_KEY } from './browser.mjs';
import { callsOf, FAILING_MESSAGE, KNOWN_REFRESH_TOKEN, ANTHROPIC_API_KEY } from './fakes.mjs';

const FAKES = JSON.parse(readFileSync(process.env.LLMUX_E2E_FAKES, 'utf8'));
// Before the login the panel asks /session and gets a 401: expected.
const SESSION = /\/admin\/api\/v1\/session$/;

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

// A page signed in through the form; `expected` adds URL patterns whose 4xx are the point.
async function signedIn(options = {}) {
  const opened = await openPage(browser, { height: 800, ...options, expectedFailures: [SESSION, ...(options.expectedFailures || [])] });
  await signIn(opened.page);
  return opened;
}

async function assertClean({ problems, cspViolations, context }) {
  assert.deepEqual(await cspViolations(), [], 'no CSP violation');
  assert.deepEqual(problems, [], 'no console error, failed load or dialog');
  await context.close();
}

// At laptop width a table shows all its columns (its actions included) without scrolling.
async function assertFits(page, selector) {
  const overflow = await page.$eval(selector, (table) => {
    const wrap = table.closest('.table-wrap');
    return wrap.scrollWidth - wrap.clientWidth;
  });
  assert.ok(overflow <= 0, `${selector} needs ${overflow} px more than the page gives it`);
}

const text = async (page, selector) => ((await page.textContent(selector)) || '').trim();

test('1. the login is required, and the admin key opens the panel', async () => {
  for (const path of ['/overview', '/providers', '/requests', '/config']) {
    const response = await fetch(`${BASE}/admin/api/v1${path}`);
    assert.equal(response.status, 401, path);
    assert.equal((await response.json()).error.code, 'admin_auth_required', path);
  }
  const opened = await openPage(browser, { height: 800, expectedFailures: [SESSION] });
  const { page } = opened;
  await page.goto(`${BASE}/ui/`);
  await page.waitForSelector(byTestId('login-form'));
  await opened.screenshots('login');
  await page.fill(byTestId('login-key'), ADMIN_KEY);
  await page.click(byTestId('login-submit'));
  await page.waitForSelector(byTestId('page-overview'));
  assert.equal(await page.getAttribute(byTestId('app'), 'data-page'), 'overview');
  await page.waitForSelector(byTestId('overview-version'));
  assert.match(await text(page, byTestId('overview-version')), /\d+\.\d+\.\d+ \(ABI \d+\)/);
  assert.match(await text(page, byTestId('overview-config-file')), /providers\.yaml$/);
  for (const chart of ['requests', 'errors', 'latency', 'ttft', 'tokens', 'streams']) {
    await page.waitForSelector(`${byTestId(`chart-${chart}`)} canvas`);
  }
  // The session cookie is HttpOnly: the page's script cannot read it.
  assert.equal(await page.evaluate(() => document.cookie), '');
  await opened.screenshots('overview');
  await assertClean(opened);
});

test('2. a request shows in the live log within a second, with its attempts', async () => {
  const opened = await signedIn();
  const { page } = opened;
  await visit(page, 'log');
  await page.waitForSelector(`${byTestId('events-state')}:text("live")`);
  await page.waitForSelector(byTestId('log-table'));
  const model = `gpt-live-${Date.now()}`;
  const answer = await chat(model);
  assert.equal(answer.status, 200, answer.text);
  const shown = Date.now();
  const row = page.locator('[data-testid^="log-row-"]', { hasText: model });
  await row.waitFor({ timeout: 1000 });
  assert.ok(Date.now() - shown <= 1000, 'the row came over the SSE feed within 1 s');
  assert.match(await row.textContent(), /gpt-\*/);  // the route
  assert.match(await row.textContent(), /mock/);  // the provider
  await row.click();
  await page.waitForSelector(byTestId('request-detail'));
  const attempts = page.locator(`${byTestId('request-attempts')} tbody tr`);
  await attempts.first().waitFor();
  assert.equal(await attempts.count(), 1);
  assert.match(await attempts.first().textContent(), /mock/);
  assert.match(await text(page, byTestId('request-detail')), new RegExp(model));
  await opened.screenshots('log');
  // The filter asks the server: only that model's request is left.
  assert.equal((await chat('mock')).status, 200);
  await page.waitForFunction((selector) => document.querySelectorAll(selector).length >= 2, '[data-testid^="log-row-"]');
  await page.fill(byTestId('log-filter-model'), model);
  await page.click(byTestId('log-apply'));
  await page.waitForFunction((selector) => document.querySelectorAll(selector).length === 1, '[data-testid^="log-row-"]');
  assert.match(await page.locator('[data-testid^="log-row-"]').textContent(), new RegExp(model));
  await assertClean(opened);
});

test('3. routes: gpt-4 resolves through the alias to the gpt-* chain with live states', async () => {
  const opened = await signedIn();
  const { page } = opened;
  await visit(page, 'routes');
  await page.waitForSelector(byTestId('routes-table'));
  assert.match(await text(page, byTestId('aliases-table')), /gpt-4\s*gpt-4o/);
  await page.fill(byTestId('resolve-model'), 'gpt-4');
  await page.click(byTestId('resolve-submit'));
  await page.waitForSelector(byTestId('resolve-result'));
  const result = await text(page, byTestId('resolve-result'));
  assert.match(result, /gpt-4o/);
  assert.match(result, /gpt-\*/);
  const steps = page.locator(`${byTestId('resolve-chain')} tbody tr`);
  assert.equal(await steps.count(), 1);
  assert.equal(await steps.first().locator('td').nth(1).textContent(), 'mock');
  assert.equal(await steps.first().locator('.badge').textContent(), 'up');  // the provider's live state
  // An unknown name says so.
  await page.fill(byTestId('resolve-model'), 'no-such-model');
  await page.click(byTestId('resolve-submit'));
  await page.waitForSelector(byTestId('resolve-error'));
  await page.fill(byTestId('resolve-model'), 'gpt-4');
  await page.click(byTestId('resolve-submit'));
  await page.waitForSelector(byTestId('resolve-result'));
  await opened.screenshots('routes');
  // The 404 of the unknown name is the point.
  opened.problems.splice(0, opened.problems.length, ...opened.problems.filter((p) => !/routes\/resolve\?model=no-such-model/.test(p)));
  await assertClean(opened);
});

test('4. providers: a failing upstream goes into cooldown with its error shown as text; reset brings it up', async () => {
  const answer = await chat('flaky');
  assert.equal(answer.status, 200, `the chain falls back to the mock: ${answer.text}`);
  const calls = await callsOf(FAKES.failing);
  assert.ok(calls.some((c) => c.path === '/v1/chat/completions'), 'the failing upstream was asked');
  const { json } = await admin('/providers');
  assert.equal(json.providers.find((p) => p.name === 'failing').state, 'cooldown');

  const opened = await signedIn();
  const { page } = opened;
  await visit(page, 'providers');
  const row = page.locator(byTestId('provider-row-failing'));
  await row.waitFor();
  assert.equal(await row.locator('.badge').textContent(), 'cooldown');
  await row.locator('details summary').click();
  // The upstream's message, HTML and all, as text (no element made from it).
  assert.ok((await row.textContent()).includes(FAILING_MESSAGE), await row.textContent());
  assert.equal(await row.locator('img').count(), 0);
  assert.equal(await page.locator('img[src="x"]').count(), 0);
  await assertFits(page, byTestId('providers-table'));
  await opened.screenshots('providers');
  await page.click(byTestId('provider-reset-failing'));
  await page.waitForFunction((selector) => document.querySelector(`${selector} .badge`)?.textContent === 'up',
    byTestId('provider-row-failing'));
  assert.equal((await admin('/providers')).json.providers.find((p) => p.name === 'failing').state, 'up');
  await assertClean(opened);
});

test('5. the Claude pool: add an OAuth credential, refresh it; no secret reaches the page', async () => {
  const ACCESS = 'sk-ant-oat01-e2e-panel-expired-access-3b9f1c77';
  const JSON_ACCESS = 'sk-ant-oat01-e2e-panel-json-access-8e2d4f10';
  const JSON_REFRESH = 'sk-ant-ort01-e2e-panel-json-refresh-c6a7b5e3';
  const opened = await signedIn();
  const { page } = opened;
  const bodies = [];
  page.on('response', async (response) => {
    if (!response.url().includes('/admin/api/v1/') || response.url().endsWith('/events')) return;
    try { bodies.push(`${response.url()} ${await response.text()}`); } catch { /* a redirect or an aborted load */ }
  });
  await visit(page, 'pool');
  await page.waitForSelector(byTestId('pool-row-claude-team-key'));
  await page.selectOption(byTestId('pool-add-mode'), 'oauth');
  await page.fill(byTestId('pool-add-label'), 'max-e2e');
  await page.fill(byTestId('pool-add-access-token'), ACCESS);
  await page.fill(byTestId('pool-add-refresh-token'), KNOWN_REFRESH_TOKEN);
  await page.fill(byTestId('pool-add-expires-at'), '2020-01-01T00:00');
  await page.click(byTestId('pool-add-submit'));
  const row = page.locator(byTestId('pool-row-claude-max-e2e'));
  await row.waitFor();
  assert.match(await text(page, byTestId('pool-message')), /max-e2e/);
  const before = (await admin('/pool')).json.providers.find((p) => p.provider === 'claude')
    .credentials.find((c) => c.label === 'max-e2e');
  assert.equal(before.kind, 'oauth');
  const tokenCallsBefore = (await callsOf(FAKES.anthropic)).filter((c) => c.path === '/v1/oauth/token').length;

  await page.click(byTestId('pool-refresh-claude-max-e2e'));
  await page.waitForSelector(`${byTestId('pool-message')}:text("refresh")`);
  const after = (await admin('/pool')).json.providers.find((p) => p.provider === 'claude')
    .credentials.find((c) => c.label === 'max-e2e');
  assert.equal(after.refreshes, (before.refreshes || 0) + 1, JSON.stringify(after));
  assert.notEqual(after.expires_at, before.expires_at);
  assert.ok(Date.parse(after.expires_at) > Date.now(), after.expires_at);
  assert.equal(after.state, 'active');
  const tokenCalls = (await callsOf(FAKES.anthropic)).filter((c) => c.path === '/v1/oauth/token');
  assert.equal(tokenCalls.length, tokenCallsBefore + 1, 'the fake token endpoint saw the refresh');
  assert.equal(tokenCalls.at(-1).refresh_token, KNOWN_REFRESH_TOKEN);
  // The table shows the new counters.
  await page.waitForFunction(([selector, n]) => document.querySelector(`${selector} td[data-col="refreshes"]`)
    ?.textContent.trim() === String(n), [byTestId('pool-row-claude-max-e2e'), after.refreshes]);
  await assertFits(page, byTestId('pool-table-claude'));
  await opened.screenshots('pool');
  // Disable takes it out of rotation, enable puts it back (the row offers the one that applies).
  await page.click(byTestId('pool-disable-claude-max-e2e'));
  await page.waitForSelector(`${byTestId('pool-row-claude-max-e2e')} td[data-col="state"] .badge:text("disabled")`);
  await page.click(byTestId('pool-enable-claude-max-e2e'));
  await page.waitForSelector(`${byTestId('pool-row-claude-max-e2e')} td[data-col="state"] .badge:text("active")`);
  assert.equal(await page.locator(byTestId('pool-refresh-claude-team-key')).count(), 0, 'an API key has nothing to refresh');

  // Claude Code's .credentials.json as it is; then removed again (it was added here).
  await page.selectOption(byTestId('pool-add-mode'), 'json');
  await page.fill(byTestId('pool-add-label'), 'cc-json');
  await page.fill(byTestId('pool-add-json'), JSON.stringify({ claudeAiOauth: {
    accessToken: JSON_ACCESS, refreshToken: JSON_REFRESH, expiresAt: Date.now() + 3600_000 } }));
  await page.click(byTestId('pool-add-submit'));
  await page.waitForSelector(byTestId('pool-row-claude-cc-json'));
  assert.equal(await page.inputValue(byTestId('pool-add-json')), '', 'the JSON left the form');
  const htmlWithJson = await page.content();
  await page.click(byTestId('pool-remove-claude-cc-json'));
  await page.waitForSelector(byTestId('pool-row-claude-cc-json'), { state: 'detached' });
  assert.equal((await admin('/pool')).json.providers[0].credentials.some((c) => c.label === 'cc-json'), false);

  const html = (await page.content()) + htmlWithJson;
  const values = await page.evaluate(() => [...document.querySelectorAll('input, textarea')].map((e) => e.value));
  for (const secret of [ACCESS, KNOWN_REFRESH_TOKEN, JSON_ACCESS, JSON_REFRESH, ANTHROPIC_API_KEY, 'sk-ant-oat01-e2e-fresh-', ADMIN_KEY, API_KEY]) {
    assert.ok(!html.includes(secret), `the page's HTML holds ${secret.slice(0, 14)}…`);
    assert.ok(!values.some((v) => v.includes(secret)), `a form field still holds ${secret.slice(0, 14)}…`);
    for (const body of bodies) assert.ok(!body.includes(secret), `an admin API answer holds ${secret.slice(0, 14)}…: ${body.slice(0, 120)}`);
  }
  assert.ok(bodies.some((b) => b.includes('/pool/claude/credentials')), 'the add answer was collected');
  await assertClean(opened);
});

test('7. a mutation without the CSRF token, and a cross-site form post, are refused', async () => {
  const reload = /\/admin\/api\/v1\/config\/reload$/;
  const opened = await signedIn({ expectedFailures: [/\/admin\/api\/v1\/providers\/mock\/reset$/, reload] });
  const { page } = opened;
  const refused = await page.evaluate(async () => {
    const response = await fetch('/admin/api/v1/providers/mock/reset', { method: 'POST', credentials: 'same-origin' });
    return { status: response.status, body: await response.json() };
  });
  assert.equal(refused.status, 403);
  assert.equal(refused.body.error.code, 'csrf_token_invalid');

  const generation = (await admin('/overview')).json.config.generation;
  const target = encodeURIComponent(`${BASE}/admin/api/v1/config/reload`);
  // localhost is another site than 127.0.0.1 (the cookie stays home); 127.0.0.1 on
  // another port is the same site but another origin (the Origin check refuses it).
  const cases = [
    { origin: `http://localhost:${FAKES.crosssite}`, status: 401, code: 'admin_auth_required' },  // no cookie went
    { origin: `http://127.0.0.1:${FAKES.crosssite}`, status: 403, code: 'csrf_token_invalid' },  // Origin refused
  ];
  for (const { origin, status, code } of cases) {
    await page.goto(`${origin}/form?action=${target}`);
    const [response] = await Promise.all([page.waitForResponse(reload), page.click('#go')]);
    assert.equal(response.status(), status, origin);
    assert.equal(JSON.parse(await response.text()).error.code, code, origin);
    await page.waitForLoadState();
  }
  assert.equal((await admin('/overview')).json.config.generation, generation, 'no reload happened');
  await assertClean(opened);
});

// After the CSRF test: an apply is followed by a second reload from the file
// watcher (it sees the new file), which would race the generation check there.
test('6. config: a broken config shows line and column while requests go on; a valid edit changes routing', async () => {
  const opened = await signedIn({ expectedFailures: [/\/admin\/api\/v1\/config\/validate$/] });
  const { page } = opened;
  await visit(page, 'config');
  await page.waitForSelector(byTestId('config-text'));
  const original = await page.inputValue(byTestId('config-text'));
  assert.match(original, /routes:/);
  for (const secret of [ADMIN_KEY, API_KEY, ANTHROPIC_API_KEY]) assert.ok(!original.includes(secret), 'secrets are redacted');
  assert.match(original, /<redacted:[0-9a-f]{8}>/);

  await page.fill(byTestId('config-text'), `${original}\nbroken: [mock\n`);
  await page.click(byTestId('config-validate'));
  const problem = await page.waitForSelector(`${byTestId('config-result')}.error`);
  assert.match(await problem.textContent(), /line \d+, column \d+: \S/);
  assert.equal((await chat('mock')).status, 200, 'requests go on');
  await opened.screenshots('config-error');

  const generation = (await admin('/config')).json.generation;
  assert.equal((await admin('/routes/resolve?model=panel-e2e')).status, 404);
  await page.fill(byTestId('config-text'), original.replace(/^aliases:\n/m, 'aliases:\n  panel-e2e: mock\n'));
  await page.click(byTestId('config-apply'));
  await page.waitForSelector(`${byTestId('config-result')}.notice`);
  // (not exactly +1: the file watcher reloads the written file too; see the report)
  const applied = (await text(page, byTestId('config-result'))).match(/^Applied: generation (\d+)/);
  assert.ok(applied && Number(applied[1]) > generation, await text(page, byTestId('config-result')));
  const resolved = await admin('/routes/resolve?model=panel-e2e');
  assert.equal(resolved.status, 200, resolved.text);
  assert.equal(resolved.json.resolved, 'mock');
  assert.equal((await chat('panel-e2e')).status, 200);
  await visit(page, 'routes');
  await page.fill(byTestId('resolve-model'), 'panel-e2e');
  await page.click(byTestId('resolve-submit'));
  await page.waitForSelector(byTestId('resolve-result'));
  assert.match(await text(page, byTestId('resolve-result')), /Resolved\s*mock/);
  await assertClean(opened);
});

test('8. hostile names and upstream texts show as text', async () => {
  const hostile = '<script>alert(1)</script>';
  const opened = await signedIn();
  const { page } = opened;
  await visit(page, 'log');
  await page.waitForSelector(`${byTestId('events-state')}:text("live")`);
  const answer = await chat(hostile);
  assert.ok(answer.status === 404 || answer.status === 200, answer.text);
  const row = page.locator('[data-testid^="log-row-"]', { hasText: hostile });
  await row.first().waitFor({ timeout: 2000 });
  assert.equal(await page.locator(`${byTestId('log-table')} script`).count(), 0);
  await row.first().click();
  // The section shows at once; its facts arrive with the detail's fetch.
  await page.waitForSelector(`${byTestId('request-detail')} dl.facts`);
  assert.ok((await text(page, byTestId('request-detail'))).includes(hostile));
  await opened.screenshots('log-hostile');

  // The failing upstream's message, once more on the providers page.
  assert.equal((await chat('flaky')).status, 200);
  await visit(page, 'providers');
  const providerRow = page.locator(byTestId('provider-row-failing'));
  await providerRow.waitFor();
  await providerRow.locator('details summary').click();
  assert.ok((await providerRow.textContent()).includes(FAILING_MESSAGE));
  assert.equal(await page.locator('img[src="x"]').count(), 0);
  await page.waitForTimeout(100);  // a dialog, had one been opened, is reported by now
  await assertClean(opened);
});

test('9. playground: a streamed chat over the OpenAI and the Anthropic API', async () => {
  const opened = await signedIn();
  const { page } = opened;
  await visit(page, 'playground');
  await page.fill(byTestId('pg-model'), 'mock');
  assert.equal(await page.isChecked(byTestId('pg-stream')), true);
  await page.click(byTestId('pg-send'));
  await page.waitForSelector(`${byTestId('pg-status')}:text("stream ended")`);
  assert.match(await text(page, byTestId('pg-status')), /HTTP 200/);
  const openaiText = await text(page, byTestId('pg-text'));
  assert.notEqual(openaiText, '');
  const openaiFrames = await text(page, byTestId('pg-frames'));
  assert.match(openaiFrames, /^data: \{/m);
  assert.match(openaiFrames, /data: \[DONE\]/);

  await page.selectOption(byTestId('pg-api'), 'anthropic');
  await page.click(byTestId('pg-send'));
  await page.waitForSelector(`${byTestId('pg-status')}:text("stream ended")`);
  assert.notEqual(await text(page, byTestId('pg-text')), '');
  const anthropicFrames = await text(page, byTestId('pg-frames'));
  assert.match(anthropicFrames, /event: message_start/);
  assert.match(anthropicFrames, /event: content_block_delta/);
  await opened.screenshots('playground');
  await assertClean(opened);
});

test('the other pages render, light and dark', async () => {
  const opened = await signedIn();
  const { page } = opened;
  await chat('mock');
  await visit(page, 'overview');
  await page.waitForSelector(`${byTestId('chart-requests')} canvas`);
  await opened.screenshots('overview-traffic');
  await visit(page, 'usage');
  await page.waitForSelector(`${byTestId('usage-table')} tbody tr`);
  // The CSV comes with the session cookie, as a download.
  const [download] = await Promise.all([page.waitForEvent('download'), page.click(byTestId('usage-csv'))]);
  assert.equal(download.suggestedFilename(), 'llmux-usage-hour.csv');
  const csv = readFileSync(await download.path(), 'utf8');
  assert.match(csv.split('\n')[0], /start.*model.*provider.*requests/);
  assert.ok(csv.split('\n').length > 2, csv);
  await opened.screenshots('usage');
  await visit(page, 'config');
  await page.waitForSelector(`${byTestId('plugins-table')} tbody tr`);
  assert.match(await text(page, byTestId('plugins-table')), /mock/);
  await opened.screenshots('config');
  // Signing out ends the session on the server too.
  await page.click(byTestId('logout'));
  await page.waitForSelector(byTestId('login-form'));
  assert.equal(await page.evaluate(async () => (await fetch('/admin/api/v1/session')).status), 401);
  await assertClean(opened);
});

test('phone width (390 px): the pages fit without sideways scrolling of the page', async () => {
  const opened = await signedIn({ width: 390, height: 844 });
  const { page } = opened;
  for (const id of ['overview', 'log', 'providers', 'pool']) {
    await visit(page, id);
    await page.waitForTimeout(300);  // the page's first answers are in
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `${id}: the page is ${overflow} px wider than the screen`);
    await opened.screenshots(`phone-${id}`);
  }
  await page.click(byTestId('nav-toggle'));
  await page.waitForSelector(`${byTestId('nav')}.open`);
  await opened.screenshots('phone-menu');
  await assertClean(opened);
});
