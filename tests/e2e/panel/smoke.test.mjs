// Smoke test of the panel and /docs in headless Chromium: the login page
// loads from llmux's embedded assets, a wrong key shows an error, a phone
// width works, /docs renders, and no page logs an error or a CSP violation.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, openPage, byTestId, BASE } from './browser.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

// Before a login the admin API answers 401 (the panel asks /session first).
const ADMIN_API = /\/admin\/api\/v1\//;

async function adminApiPresent() {
  const response = await fetch(`${BASE}/admin/api/v1/session`);
  return response.status !== 404;
}

test('the assets carry the strict CSP and are served gzipped', async () => {
  for (const path of ['/ui/', '/ui/app.js', '/docs']) {
    const response = await fetch(`${BASE}${path}`, { headers: { 'Accept-Encoding': 'gzip' } });
    assert.equal(response.status, 200, path);
    assert.match(response.headers.get('content-security-policy'), /script-src 'self'; style-src 'self'/, path);
    assert.equal(response.headers.get('x-frame-options'), 'DENY', path);
    assert.equal(response.headers.get('content-encoding'), 'gzip', path);
    assert.ok(response.headers.get('etag'), path);
  }
});

test('/ui/ shows the login, and a wrong key an error', async () => {
  const { page, problems, cspViolations, screenshot, context } = await openPage(browser, { expectedFailures: [ADMIN_API] });
  await page.goto(`${BASE}/ui/`);
  await page.waitForSelector(byTestId('login-form'));
  assert.equal(await page.getAttribute(byTestId('app'), 'data-page'), 'login');
  assert.equal(await page.getAttribute(byTestId('login-key'), 'type'), 'password');
  await screenshot('login');

  await page.fill(byTestId('login-key'), 'not-the-admin-key');
  await page.click(byTestId('login-submit'));
  const error = await page.waitForSelector(byTestId('login-error'));
  const text = (await error.textContent()).trim();
  assert.notEqual(text, '');
  if (await adminApiPresent()) assert.match(text, /wrong admin key/i);
  assert.equal(await page.inputValue(byTestId('login-key')), '', 'the key is not kept in the form');
  assert.equal(await page.getAttribute(byTestId('app'), 'data-page'), 'login');
  await screenshot('login-wrong-key');

  assert.deepEqual(await cspViolations(), []);
  assert.deepEqual(problems, []);
  await context.close();
});

test('the login fits a phone (390 px) without sideways scrolling', async () => {
  const { page, problems, cspViolations, screenshot, context } = await openPage(browser,
    { width: 390, height: 844, expectedFailures: [ADMIN_API] });
  await page.goto(`${BASE}/ui`);
  await page.waitForSelector(byTestId('login-form'));
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `the page is ${overflow} px wider than the screen`);
  await screenshot('login-phone');
  assert.deepEqual(await cspViolations(), []);
  assert.deepEqual(problems, []);
  await context.close();
});

test('/docs renders the OpenAPI document', async () => {
  const spec = await fetch(`${BASE}/openapi.json`);
  const hasSpec = spec.status === 200;
  const { page, problems, cspViolations, screenshot, context } = await openPage(browser,
    { expectedFailures: hasSpec ? [] : [/\/openapi\.json$/] });
  await page.goto(`${BASE}/docs`);
  await page.waitForSelector(byTestId('docs'));
  if (hasSpec) {
    await page.waitForSelector('[data-testid^="docs-tag-"]');
    const operations = await page.locator('[data-testid^="docs-op-"]').count();
    const document = await spec.json();
    const expected = Object.values(document.paths || {})
      .reduce((n, item) => n + ['get', 'post', 'put', 'patch', 'delete'].filter((m) => item[m]).length, 0);
    assert.equal(operations, expected, 'one entry per operation of /openapi.json');
    // Opening an operation shows its details.
    await page.locator('[data-testid^="docs-op-"] > summary').first().click();
  } else {
    // Before openapi.json exists (it is written separately) the page says so.
    const error = await page.waitForSelector(byTestId('docs-error'));
    assert.match(await error.textContent(), /openapi\.json/);
  }
  await screenshot('docs');
  assert.deepEqual(await cspViolations(), []);
  assert.deepEqual(problems, []);
  await context.close();
});
