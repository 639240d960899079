// Shared pieces of the dashboard's browser tests: Debian's Chromium through
// playwright-core, sign-in, the per-page checks (screenshots in both themes,
// axe-core, keyboard reach), the receiver's API and the published SDK.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);

export const DASHBOARD = process.env.DASHBOARD_URL;
export const RECEIVER = process.env.STRATHON_ENDPOINT;
export const DEV_KEY = process.env.STRATHON_API_KEY;
export const SHOTS = process.env.SCREENSHOTS;
export const OWNER = { email: 'owner@example.com', password: 'Owner-passw0rd-1' };
export const VIEWER = { email: 'viewer@example.com', password: 'Viewer-passw0rd-1' };

assert.ok(DASHBOARD && RECEIVER && DEV_KEY && SHOTS, 'run through tests/browser/run.sh');
mkdirSync(SHOTS, { recursive: true });

const AXE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

export async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    // The machine's network is closed: no background calls home.
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
  });
}

/** A browser context whose pages fail the test on any CSP violation or script error. */
export async function context(browser, options = {}) {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 }, ...options });
  ctx.problems = [];
  ctx.on('page', (page) => watch(ctx, page));
  return ctx;
}

function watch(ctx, page) {
  page.on('console', (m) => {
    if (m.type() === 'error' && !/status of (4[0-9][0-9]|503)/.test(m.text())) ctx.problems.push(m.text());
  });
  page.on('pageerror', (e) => ctx.problems.push(String(e)));
}

export function noProblems(ctx) {
  assert.deepEqual(ctx.problems, [], 'no console errors or CSP violations');
}

export async function signIn(page, who, { code } = {}) {
  await page.goto(`${DASHBOARD}/login`);
  await page.getByLabel('Email').fill(who.email);
  await page.getByLabel('Password').fill(who.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  if (code) {
    await page.waitForURL(/\/login\/mfa/);
    await page.getByLabel('Code').fill(await code());
    await page.getByRole('button', { name: 'Verify' }).click();
  }
  await page.waitForURL((u) => !u.pathname.startsWith('/login'));
}

/** Calls the receiver's API with the dev key (or `token`). */
export async function api(method, path, body, token = DEV_KEY) {
  const headers = { 'content-type': 'application/json' };
  if (token !== 'none') headers.authorization = `Bearer ${token}`;
  const resp = await fetch(RECEIVER + path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await resp.text();
  return { status: resp.status, body: text ? JSON.parse(text) : null };
}

/** Runs a Python script with the published SDK (the compat virtualenv). */
export function python(script, ...args) {
  const out = spawnSync(process.env.COMPAT_PY, [new URL(script, import.meta.url).pathname, ...args], {
    encoding: 'utf8', timeout: 120_000,
  });
  assert.equal(out.status, 0, `${script} failed:\n${out.stdout}\n${out.stderr}`);
  return JSON.parse(out.stdout.trim().split('\n').pop());
}

/**
 * The checks every page gets: a screenshot in light and in dark, axe-core
 * with no serious or critical violation in either theme, and every control
 * reachable with the Tab key. axe runs in a context that lets its script in;
 * the page itself keeps its strict CSP everywhere else.
 */
export async function checkPage(browser, storageState, name, path) {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 }, storageState, bypassCSP: true });
  const page = await ctx.newPage();
  try {
    for (const colorScheme of ['light', 'dark']) {
      await page.emulateMedia({ colorScheme });
      const resp = await page.goto(DASHBOARD + path);
      assert.ok(resp.status() < 400, `${path} answered ${resp.status()}`);
      await page.screenshot({ path: `${SHOTS}/${name}-${colorScheme}.png`, fullPage: true });
      await page.addScriptTag({ content: AXE });
      const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
      const bad = result.violations
        .filter((v) => v.impact === 'serious' || v.impact === 'critical')
        .map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ')}`);
      assert.deepEqual(bad, [], `axe on ${name} (${colorScheme})`);
    }
    await keyboardReachesEverything(page, name);
  } finally {
    await ctx.close();
  }
}

/** Tabs through the page and asserts every visible control got focus. */
export async function keyboardReachesEverything(page, name) {
  await page.evaluate(() => {
    document.querySelectorAll('[data-kb]').forEach((e) => e.removeAttribute('data-kb'));
    let i = 0;
    const controls = 'a[href], button, input:not([type=hidden]), select, textarea, summary, [tabindex]:not([tabindex="-1"])';
    for (const el of document.querySelectorAll(controls)) {
      const r = el.getBoundingClientRect();
      const hidden = r.width === 0 || r.height === 0 || getComputedStyle(el).visibility === 'hidden' || el.closest('details:not([open]) > :not(summary)');
      if (!hidden && !el.disabled) el.setAttribute('data-kb', String(i++));
    }
    window.__kbSeen = new Set();
    document.addEventListener('focusin', (e) => {
      const k = e.target.getAttribute && e.target.getAttribute('data-kb');
      if (k !== null) window.__kbSeen.add(k);
    });
  });
  const total = await page.evaluate(() => document.querySelectorAll('[data-kb]').length);
  await page.evaluate(() => document.activeElement && document.activeElement.blur());
  for (let i = 0; i < total + 5; i++) await page.keyboard.press('Tab');
  // A radio group is one Tab stop (arrow keys move inside it), so one radio
  // of each group reached counts for the group.
  const missed = await page.evaluate(() => {
    const all = [...document.querySelectorAll('[data-kb]')];
    const reachedGroups = new Set(all.filter((e) => e.type === 'radio' && window.__kbSeen.has(e.getAttribute('data-kb')))
      .map((e) => `${e.form ? e.form.action : ''}|${e.name}`));
    return all
      .filter((e) => !window.__kbSeen.has(e.getAttribute('data-kb')))
      .filter((e) => !(e.type === 'radio' && reachedGroups.has(`${e.form ? e.form.action : ''}|${e.name}`)))
      .map((e) => e.outerHTML.slice(0, 120));
  });
  assert.deepEqual(missed, [], `controls on ${name} that Tab never reaches`);
}

// Forms that post but change nothing a viewer may not change: signing out,
// switching project, and simulating a policy over stored spans.
const READ_ONLY_POSTS = ['/logout', '/project', '/policies/simulate'];

/** Every form on the page that would change something. */
export async function writeForms(page) {
  return page.evaluate((readOnly) => [...document.querySelectorAll('form')]
    .filter((f) => (f.getAttribute('method') || '').toLowerCase() === 'post')
    .map((f) => new URL(f.getAttribute('action'), location.href).pathname)
    .filter((p) => !readOnly.includes(p)), READ_ONLY_POSTS);
}

/** Registers a user through the API (joining the projects they were invited to). */
export async function register(who, role) {
  if (role) {
    const invited = await api('POST', '/v1/members', { email: who.email, role });
    assert.ok([200, 201, 409].includes(invited.status), JSON.stringify(invited.body));
  }
  const done = await api('POST', '/v1/auth/register', { email: who.email, password: who.password }, 'none');
  assert.ok([201, 409].includes(done.status), JSON.stringify(done.body));
}

/** Sends spans as OTLP/JSON, the way any OTLP exporter can. */
export async function ingest(service, spans) {
  const now = BigInt(Date.now()) * 1_000_000n;
  const hex = (n) => [...crypto.getRandomValues(new Uint8Array(n))].map((b) => b.toString(16).padStart(2, '0')).join('');
  const traceId = hex(16);
  const body = {
    resourceSpans: [{
      resource: { attributes: [{ key: 'service.name', value: { stringValue: service } }] },
      scopeSpans: [{
        scope: { name: 'strathon', version: '1.4.0' },
        spans: spans.map((s) => ({
          traceId, spanId: hex(8), name: s.name, kind: 1,
          startTimeUnixNano: String(now - 5_000_000n), endTimeUnixNano: String(now),
          attributes: Object.entries(s.attributes).map(([key, v]) => ({
            key, value: typeof v === 'number' ? { doubleValue: v } : { stringValue: String(v) },
          })),
        })),
      }],
    }],
  };
  const resp = await fetch(`${RECEIVER}/v1/traces`, {
    method: 'POST',
    headers: { authorization: `Bearer ${DEV_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  assert.equal(resp.status, 200, await resp.text());
  return traceId;
}

/** Runs psql against the test database. */
export function sql(statement) {
  const out = spawnSync('psql', ['-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-d', process.env.COMPAT_DATABASE_URL, '-c', statement], { encoding: 'utf8' });
  assert.equal(out.status, 0, out.stderr);
  return out.stdout.trim();
}

/** Polls `check` (reloading `page` first when given) until it holds. */
export async function eventually(what, check, { page, timeout = 20_000 } = {}) {
  const deadline = Date.now() + timeout;
  for (;;) {
    if (page) await page.reload();
    if (await check()) return;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}
