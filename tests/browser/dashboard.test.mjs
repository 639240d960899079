// The dashboard's frame and read side in Debian's Chromium: registration,
// sign-in with MFA, the overview, a LangChain-style run through the
// published SDK seen in traces, waterfall, span panel and span search, a
// viewer's view, a cross-site form, and the session cookie's flags.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { after, before, test } from 'node:test';
import * as OTPAuth from 'otpauth';

import {
  DASHBOARD, OWNER, VIEWER, api, checkPage, context, launch, noProblems, python, signIn, writeForms,
} from './lib.mjs';

let browser;
let owner; // the owner's signed-in context
let run; // what the SDK scenario did

before(async () => {
  browser = await launch();
});

after(async () => {
  await browser?.close();
});

test('the first user registers and lands on the overview', async () => {
  owner = await context(browser);
  const page = await owner.newPage();
  await page.goto(`${DASHBOARD}/login`);
  await assert.doesNotReject(page.getByText('No one has an account yet').waitFor());
  await page.getByRole('link', { name: 'Create the first account' }).click();
  await page.getByLabel('Email').fill(OWNER.email);
  await page.getByLabel('Password', { exact: true }).fill(OWNER.password);
  await page.getByLabel('Password again').fill('something-else-1');
  await page.getByRole('button', { name: 'Create account' }).click();
  await assert.doesNotReject(page.getByText('The two passwords differ.').first().waitFor(), 'mismatch is shown by the field');
  await page.getByLabel('Password', { exact: true }).fill(OWNER.password);
  await page.getByLabel('Password again').fill(OWNER.password);
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.waitForURL(`${DASHBOARD}/`);
  assert.equal(await page.getByRole('heading', { level: 1 }).textContent(), 'Overview');
  assert.match(await page.locator('.who').textContent(), /owner@example\.com\s+owner/);
  noProblems(owner);
});

test('the session cookie is HttpOnly and SameSite=Lax, and not readable by script', async () => {
  const cookies = await owner.cookies(DASHBOARD);
  const session = cookies.find((c) => c.name === 'strathon_session');
  assert.ok(session, 'a session cookie');
  assert.equal(session.httpOnly, true);
  assert.equal(session.sameSite, 'Lax');
  assert.equal(session.secure, false, 'plain http here; Secure comes with HTTPS (see tests/src/dashboard.rs)');
  const page = owner.pages()[0];
  assert.equal(await page.evaluate(() => document.cookie.includes('strathon_session')), false);
});

test('a blocked tool call from a LangChain run shows up in traces, waterfall, span panel and search', async () => {
  run = python('scenario.py', '--run', Date.now().toString(36), '--policy');
  assert.equal(run.blocked_raised, true, 'the SDK raised StrathonPolicyBlocked');
  const page = owner.pages()[0];

  await page.goto(`${DASHBOARD}/traces`);
  const row = page.getByRole('row').filter({ hasText: run.agent });
  await assert.doesNotReject(row.waitFor(), 'the run is in the traces list');
  assert.match(await row.textContent(), /intervened/);
  await row.getByRole('link').click();
  await page.waitForURL(/\/traces\/[0-9a-f]{32}$/);

  const blocked = page.locator('table.waterfall tr').filter({ hasText: run.blocked_tool });
  assert.match(await blocked.locator('.badge').first().textContent(), /blocked/);
  const bar = blocked.locator('svg rect');
  assert.match(await bar.getAttribute('class'), /st-blocked/);
  const red = await bar.evaluate((el) => getComputedStyle(el).fill);
  const allowedBar = page.locator('table.waterfall tr').filter({ hasText: run.allowed_tool }).locator('svg rect');
  assert.notEqual(red, await allowedBar.evaluate((el) => getComputedStyle(el).fill), 'the blocked colour differs');

  await blocked.getByRole('link').click();
  const panel = page.locator('#span-panel');
  await assert.doesNotReject(panel.getByRole('heading', { name: new RegExp(run.blocked_tool) }).waitFor());
  const attrs = await panel.locator('dl.attrs').textContent();
  assert.match(attrs, new RegExp(`gen_ai\\.tool\\.name\\s*${run.blocked_tool}`));
  assert.match(attrs, /strathon\.agent\.intervention\.state\s*blocked/);
  assert.match(await panel.textContent(), /"customer": 4711/, 'tool arguments are shown');

  // Keyboard: the longest chain toggles with Enter.
  await page.locator('#critical-toggle').focus();
  await page.keyboard.press('Enter');
  await assert.doesNotReject(page.locator('table.waterfall.show-critical').waitFor());

  // Span search finds it and links back to its place in the trace.
  await page.goto(`${DASHBOARD}/spans`);
  await page.getByLabel('Tool', { exact: true }).fill(run.blocked_tool);
  await page.getByLabel('Tool', { exact: true }).press('Enter');
  const hit = page.getByRole('row').filter({ hasText: run.blocked_tool });
  await assert.doesNotReject(hit.waitFor());
  assert.equal(await page.getByRole('row').count(), 2, 'one header row and one match');
  await hit.getByRole('link').click();
  await page.waitForURL(/\/traces\/[0-9a-f]{32}\?span=[0-9a-f]{16}#span-panel$/);
  assert.match(await page.locator('tr.selected').textContent(), new RegExp(run.blocked_tool));
  noProblems(owner);
});

test('the overview counts the blocked call and refreshes itself', async () => {
  const page = owner.pages()[0];
  await page.goto(`${DASHBOARD}/`);
  const blockedTile = page.locator('.tile').filter({ hasText: 'Blocked calls' });
  assert.equal(await blockedTile.locator('.tile-value').textContent(), '1');
  // A second run while the page is open: the tile moves without a reload.
  const marker = await page.evaluate(() => { window.__sameDocument = true; return true; });
  python('scenario.py', '--run', `${Date.now().toString(36)}b`, '--policy');
  await assert.doesNotReject(
    page.waitForFunction(() => document.querySelector('.tile.st-blocked .tile-value').textContent === '2', null, { timeout: 15_000 }),
  );
  assert.equal(await page.evaluate(() => window.__sameDocument), marker, 'updated in place, not reloaded');
  assert.ok(await page.locator('svg.chart rect.bar-blocked').count() >= 1, 'the hourly chart shows blocked spans');
});

test('each page passes axe and the keyboard in both themes', async () => {
  const state = await owner.storageState();
  const trace = (await api('GET', `/v1/traces?agent_name=${run.agent}`)).body.data[0].trace_id;
  const pages = [
    ['overview', '/'], ['agents', '/agents'], ['traces', '/traces'], ['trace', `/traces/${trace}`],
    ['span-panel', `/traces/${trace}?span=${(await api('GET', `/v1/spans?tool_name=${run.blocked_tool}`)).body.data[0].span_id}`],
    ['spans', '/spans'], ['password', '/account/password'],
  ];
  for (const [name, path] of pages) await checkPage(browser, state, name, path);
  for (const [name, path] of [['login', '/login'], ['register', '/register'], ['forgot-password', '/forgot-password'], ['reset-password', '/reset-password']]) {
    await checkPage(browser, undefined, name, path);
  }
});

test('a viewer sees the same data and no write controls', async () => {
  const invite = await api('POST', '/v1/members', { email: VIEWER.email, role: 'viewer' });
  assert.ok([200, 201].includes(invite.status), JSON.stringify(invite.body));
  const ctx = await context(browser);
  const page = await ctx.newPage();
  await page.goto(`${DASHBOARD}/register`);
  await page.getByLabel('Email').fill(VIEWER.email);
  await page.getByLabel('Password', { exact: true }).fill(VIEWER.password);
  await page.getByLabel('Password again').fill(VIEWER.password);
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.waitForURL(`${DASHBOARD}/`);
  assert.match(await page.locator('.who').textContent(), /viewer/);
  for (const path of ['/', '/agents', '/traces', '/spans']) {
    await page.goto(DASHBOARD + path);
    assert.deepEqual(await writeForms(page), [], `no write forms on ${path}`);
  }
  await page.goto(`${DASHBOARD}/traces`);
  await assert.doesNotReject(page.getByRole('row').filter({ hasText: run.agent }).waitFor(), 'the viewer sees the traces');
  noProblems(ctx);
  await ctx.close();
});

test('a form posted from another site is refused and changes nothing', async () => {
  // An attacker's page on another origin that auto-submits a sign-out form.
  const evil = createServer((_, res) => {
    res.setHeader('content-type', 'text/html');
    res.end(`<form id="f" method="post" action="${DASHBOARD}/logout"><input name="csrf" value="guess"></form>
      <script>document.getElementById('f').submit()</script>`);
  });
  await new Promise((resolve) => evil.listen(0, '127.0.0.1', resolve));
  const page = await owner.newPage();
  try {
    const answer = page.waitForResponse((r) => r.url() === `${DASHBOARD}/logout`);
    await page.goto(`http://localhost:${evil.address().port}/`);
    assert.equal((await answer).status(), 403);
    await assert.doesNotReject(page.getByText('came from another site').waitFor());
    const after = await page.goto(`${DASHBOARD}/`);
    assert.equal(after.url(), `${DASHBOARD}/`, 'still signed in');
  } finally {
    await page.close();
    evil.close();
  }
});

test('wrong password and wrong code each say what went wrong; MFA sign-in works', async () => {
  // Enrol the owner in MFA through the API with their own session.
  const session = (await owner.cookies(DASHBOARD)).find((c) => c.name === 'strathon_session').value;
  const setup = await api('POST', '/v1/auth/mfa/setup', {}, session);
  assert.equal(setup.status, 200, JSON.stringify(setup.body));
  const totp = new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(setup.body.secret), digits: 6, period: 30 });
  const enabled = await api('POST', '/v1/auth/mfa/verify-setup', { code: totp.generate() }, session);
  assert.equal(enabled.status, 200, JSON.stringify(enabled.body));

  const ctx = await context(browser);
  const page = await ctx.newPage();
  await page.goto(`${DASHBOARD}/login`);
  await page.getByLabel('Email').fill(OWNER.email);
  await page.getByLabel('Password').fill('not-the-password');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await assert.doesNotReject(page.getByRole('alert').filter({ hasText: 'Invalid email or password' }).waitFor());

  await page.getByLabel('Password').fill(OWNER.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(/\/login\/mfa/);
  await checkPage(browser, await ctx.storageState(), 'mfa', '/login/mfa');
  await page.getByLabel('Code').fill('000000');
  await page.getByRole('button', { name: 'Verify' }).click();
  await assert.doesNotReject(page.locator('.field-error').filter({ hasText: 'Invalid MFA code' }).waitFor());
  // The next time step's code, so it is not the one enrolment just used.
  await page.getByLabel('Code').fill(totp.generate({ timestamp: Date.now() + 30_000 }));
  await page.getByRole('button', { name: 'Verify' }).click();
  await page.waitForURL(`${DASHBOARD}/`);
  assert.equal(await page.getByRole('heading', { level: 1 }).textContent(), 'Overview');
  noProblems(ctx);
  await ctx.close();
});
