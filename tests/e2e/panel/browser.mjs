// Shared by the panel's browser tests: Debian's Chromium through
// playwright-core, and a watch on everything a page reports as wrong
// (console errors, uncaught exceptions, CSP violations, failed loads).
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import path from 'node:path';

export const BASE = process.env.LLMUX_BASE_URL;
export const ADMIN_KEY = process.env.LLMUX_ADMIN_KEY;
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
  const context = await browser.newContext({ viewport: { width, height } });
  const page = await context.newPage();
  const problems = [];
  const expected = (url) => expectedFailures.some((pattern) => pattern.test(url || ''));
  page.on('console', (message) => {
    if (message.type() !== 'error') return;
    if (/^Failed to load resource/.test(message.text()) && expected(message.location().url)) return;
    problems.push(`console error: ${message.text()} (${message.location().url || ''})`);
  });
  page.on('pageerror', (error) => problems.push(`uncaught: ${error.message}`));
  page.on('requestfailed', (request) => {
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
    async screenshot(name) {
      mkdirSync(SCREENSHOTS, { recursive: true });
      await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true });
    },
  };
}

export const byTestId = (id) => `[data-testid="${id}"]`;
