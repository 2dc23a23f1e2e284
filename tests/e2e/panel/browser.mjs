// Shared by the panel's browser tests: Debian's Chromium through
// playwright-core, and a watch on everything a page reports as wrong
// (console errors, uncaught exceptions, CSP violations, failed loads).
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import path from 'node:path';

export const BASE = process.env.LLMUX_BASE_URL;
export const ADMIN_KEY = process.env.LLMUX_ADMIN_KEY;
export const API_KEY = process.env.LLMUX_API_KEY;
const SCREENSHOTS = process.env.LLMUX_E2E_SCREENSHOTS || 'screenshots';
if (!BASE) throw new Error('LLMUX_BASE_URL is not set (run through tests/e2e/run_panel.sh)');

export async function launch() {
  return chromium.launch({
    executablePath: process.env.LLMUX_E2E_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--disable-gpu', '--disable-dev-shm-usage'],
  });
}

// A fresh page (own context: no shared cookies) whose problems are collected.
// `expectedFailures` are URL patterns whose failed loads are expected (the
// admin API answering 401 before a login, say); anything else counts.
export async function openPage(browser, { width = 1280, height = 860, expectedFailures = [] } = {}) {
  const context = await browser.newContext({ viewport: { width, height }, colorScheme: 'light' });
  const page = await context.newPage();
  const problems = [];
  const expected = (url) => expectedFailures.some((pattern) => pattern.test(url || ''));
  page.on('console', (message) => {
    if (message.type() !== 'error') return;
    if (/^Failed to load resource/.test(message.text()) && expected(message.location().url)) return;
    problems.push(`console error: ${message.text()} (${message.location().url || ''})`);
  });
  page.on('pageerror', (error) => problems.push(`uncaught: ${error.message}`));
  // A dialog means some text ran as script (the escaping scenarios); it never should.
  page.on('dialog', async (dialog) => {
    problems.push(`dialog (${dialog.type()}): ${dialog.message()}`);
    await dialog.dismiss().catch(() => {});
  });
  page.on('requestfailed', (request) => {
    // Leaving the live log closes its event feed: an aborted /events is normal.
    if (/\/admin\/api\/v1\/events$/.test(request.url()) && request.failure()?.errorText === 'net::ERR_ABORTED') return;
    if (!expected(request.url())) problems.push(`request failed: ${request.url()} ${request.failure()?.errorText}`);
  });
  page.on('response', (response) => {
    if (response.status() >= 400 && !expected(response.url())) problems.push(`HTTP ${response.status()}: ${response.url()}`);
  });
  // Before any page script: collect CSP violations (inline script or style, eval, foreign origins).
  await page.addInitScript(() => {
    window.__cspViolations = [];
    document.addEventListener('securitypolicyviolation', (event) => {
      window.__cspViolations.push(`${event.effectiveDirective} blocked ${event.blockedURI || '(inline)'} at ${event.sourceFile}:${event.lineNumber}`);
    });
  });
  const cdp = await context.newCDPSession(page);
  await cdp.send('Log.enable');
  cdp.on('Log.entryAdded', ({ entry }) => {
    if (entry.level !== 'error') return;
    if (entry.source === 'network' && expected(entry.url)) return;
    problems.push(`browser log (${entry.source}): ${entry.text} ${entry.url || ''}`);
  });
  return {
    page,
    context,
    problems,
    async cspViolations() { return page.evaluate(() => window.__cspViolations || []); },
    async screenshot(name, { fullPage = true } = {}) {
      mkdirSync(SCREENSHOTS, { recursive: true });
      await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage });
    },
    // `name-light.png` and `name-dark.png` (prefers-color-scheme), the viewport only.
    async screenshots(name) {
      mkdirSync(SCREENSHOTS, { recursive: true });
      for (const colorScheme of ['light', 'dark']) {
        await page.emulateMedia({ colorScheme });
        // Two frames: the charts redraw in the new colours.
        await page.evaluate(() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done))));
        await page.screenshot({ path: path.join(SCREENSHOTS, `${name}-${colorScheme}.png`) });
      }
      await page.emulateMedia({ colorScheme: 'light' });
    },
  };
}

export const byTestId = (id) => `[data-testid="${id}"]`;

// Signs in through the login form; resolves once the overview shows.
export async function signIn(page) {
  await page.goto(`${BASE}/ui/`);
  await page.waitForSelector(byTestId('login-form'));
  await page.fill(byTestId('login-key'), ADMIN_KEY);
  await page.click(byTestId('login-submit'));
  await page.waitForSelector(`${byTestId('app')}:not([data-page="login"]):not([data-page="loading"])`);
}

// Goes to a page of the panel by its menu entry (the hash route).
export async function visit(page, id) {
  await page.goto(`${BASE}/ui/#/${id}`);
  await page.waitForSelector(byTestId(`page-${id}`));
}

// The admin API with the Bearer key (the test's own view, not the browser's).
export async function admin(path, { method = 'GET', body } = {}) {
  const headers = { Authorization: `Bearer ${ADMIN_KEY}` };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const response = await fetch(`${BASE}/admin/api/v1${path}`,
    { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  let json = null;
  try { json = JSON.parse(text); } catch { json = null; }
  return { status: response.status, json, text };
}

// A client request through llmux's OpenAI API with the client key.
export async function chat(model, { stream = false, content = 'Hello' } = {}) {
  const response = await fetch(`${BASE}/v1/chat/completions`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${API_KEY}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ model, stream, messages: [{ role: 'user', content }] }),
  });
  return { status: response.status, text: await response.text() };
}
