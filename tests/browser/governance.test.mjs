// The governance pages in Debian's Chromium: policies from a template that
// the published SDK then obeys, CEL errors at their position, rollback,
// approvals that appear live and are audited, halts and budgets the SDK
// and the monitor act on, API keys that work with the published CLI, MFA
// enrolment from the QR code, a tampered audit row, a viewer's view, and a
// webhook reaching a loopback endpoint.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { after, before, test } from 'node:test';
import * as OTPAuth from 'otpauth';

import {
  DASHBOARD, VIEWER, api, checkPage, context, eventually, ingest, launch, noProblems, python, register, signIn,
  sql, writeForms,
} from './lib.mjs';

const require = createRequire(import.meta.url);
const JSQR = readFileSync(require.resolve('jsqr/dist/jsQR.js'), 'utf8');
const ADMIN = { email: 'admin@example.com', password: 'Admin-passw0rd-1' };
const RUN = Date.now().toString(36);

let browser;
let admin; // the admin's signed-in context
let page;

before(async () => {
  browser = await launch();
  await register(ADMIN, 'admin');
  admin = await context(browser);
  page = await admin.newPage();
  await signIn(page, ADMIN);
});

after(async () => {
  await browser?.close();
});

/** The policy named `name`, from the API. */
async function policy(name) {
  const all = (await api('GET', '/v1/policies')).body.policies;
  return all.find((p) => p.name === name);
}

test('a template applied in the dashboard blocks the SDK; the call is in the waterfall and the match count rises', async () => {
  await page.goto(`${DASHBOARD}/policies/templates`);
  const card = page.locator('.card').filter({ hasText: 'Block dangerous tool names' });
  assert.match(await card.textContent(), /security/, 'tags are shown');
  await card.getByRole('button', { name: /Apply/ }).click();
  await page.waitForURL(/\/policies\/[0-9a-f-]{36}\?done=template-applied/);
  assert.match(await page.getByRole('status').first().textContent(), /created from the template/);

  const run = python('scenario.py', '--run', `${RUN}t`, '--blocked-tool', 'drop_table');
  assert.equal(run.blocked_raised, true, 'the SDK refused the call');
  assert.equal(run.blocked_body_ran, false, "the tool's body never ran");

  await page.goto(`${DASHBOARD}/policies`);
  const row = page.getByRole('row').filter({ hasText: 'Block dangerous tool names' });
  assert.equal(await row.locator('td').nth(3).textContent(), '1', 'one match recorded');

  await page.goto(`${DASHBOARD}/traces?agent_name=${run.agent}`);
  await page.getByRole('row').filter({ hasText: run.agent }).getByRole('link').click();
  const blocked = page.locator('table.waterfall tr').filter({ hasText: 'drop_table' });
  assert.match(await blocked.locator('svg rect').getAttribute('class'), /st-blocked/);
  noProblems(admin);
});

test('invalid CEL is marked at its position as you type and on save, and nothing is saved', async () => {
  const before = await policy('Block dangerous tool names');
  await page.goto(`${DASHBOARD}/policies/${before.id}`);
  const editor = page.getByLabel('Match expression (CEL)');
  await editor.fill('name == "x" &&\n  attrs[');
  const status = page.locator('#cel-status');
  await assert.doesNotReject(status.filter({ hasText: 'line 2, column' }).waitFor(), 'the live check points at line 2');
  await page.getByRole('button', { name: 'Save' }).click();
  assert.match(await page.locator('.field-error').first().textContent(), /invalid match expression/);
  assert.match(await page.locator('pre.cel-marker').textContent(), /\^ line 2, column \d+/);
  const after = await policy('Block dangerous tool names');
  assert.equal(after.match_expression, before.match_expression, 'the stored expression is unchanged');
  noProblems(admin);
});

test('a policy rolls back to version 1 and the diff shows what changed', async () => {
  const p = await policy('Block dangerous tool names');
  await page.goto(`${DASHBOARD}/policies/${p.id}`);
  await page.getByLabel('Priority', { exact: true }).fill('77');
  await page.getByLabel('Description (optional)').fill('raised priority');
  await page.getByRole('button', { name: 'Save' }).click();
  await page.waitForURL(/done=policy-saved/);
  assert.equal((await policy(p.name)).priority, 77);

  await page.locator('input[name=a][value="1"]').check();
  await page.locator('input[name=b][value="2"]').check();
  await page.getByRole('button', { name: 'Compare versions' }).click();
  assert.match(await page.locator('pre.diff .del').allTextContents().then((t) => t.join('\n')), /priority: 0/);
  assert.match(await page.locator('pre.diff .ins').allTextContents().then((t) => t.join('\n')), /priority: 77/);

  await page.getByLabel('Roll back to version').selectOption('1');
  await page.getByRole('button', { name: 'Roll back' }).click();
  await page.waitForURL(/done=policy-rolled-back/);
  const rolled = await policy(p.name);
  assert.equal(rolled.priority, 0);
  assert.equal(rolled.description, p.description, 'version 1 had the template\'s description');
  assert.equal((await api('GET', `/v1/policies/${p.id}/versions`)).body.data.length, 3, 'the rollback is a new version');
});

test('a require_approval match appears without a reload, is approved, audited and verified, and reaches a webhook', async () => {
  // A loopback endpoint subscribed through the dashboard.
  const received = [];
  const hook = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => { received.push({ headers: req.headers, body }); res.end('ok'); });
  });
  await new Promise((r) => hook.listen(0, '127.0.0.1', r));
  try {
    await page.goto(`${DASHBOARD}/webhooks`);
    await page.getByText('Add a channel').click();
    await page.getByLabel('Name', { exact: true }).fill('ops hook');
    await page.getByLabel(/^URL/).fill(`http://127.0.0.1:${hook.address().port}/hook`);
    await page.getByRole('button', { name: 'Add channel' }).click();
    await page.waitForURL(/done=channel-saved/);

    const tool = `wire_money_${RUN}`;
    const created = await api('POST', '/v1/policies', {
      name: `approve wires ${RUN}`, action: 'require_approval', action_config: { approvers_required: 1, timeout_seconds: 600 },
      match_expression: `attrs["gen_ai.tool.name"] == "${tool}"`,
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));

    await page.goto(`${DASHBOARD}/approvals`);
    await page.evaluate(() => { window.__sameDocument = true; });
    await ingest(`payments-${RUN}`, [{
      name: `tool.${tool}`,
      attributes: { 'gen_ai.tool.name': tool, 'gen_ai.agent.name': `payments-${RUN}`, 'strathon.tool.args': '{"amount": 900}' },
    }]);
    const card = page.locator('.card.approval').filter({ hasText: tool });
    await assert.doesNotReject(card.waitFor({ timeout: 15_000 }), 'the card appears by itself');
    assert.equal(await page.evaluate(() => window.__sameDocument), true, 'no reload happened');
    assert.match(await card.textContent(), /0 of 1 approvals/);
    assert.match(await card.textContent(), /"amount": 900/);
    assert.match(await card.locator('.countdown').textContent(), /left/);
    await card.getByRole('button', { name: 'Approve' }).click();
    await page.waitForURL(/done=approved/);
    const decided = (await api('GET', '/v1/approvals?status_filter=approved')).body.approvals;
    assert.ok(decided.some((a) => a.tool_name === tool), 'the approval is recorded as approved');

    await page.goto(`${DASHBOARD}/audit?category=approval`);
    const event = page.getByRole('row').filter({ hasText: 'approval.approve' }).first();
    await event.getByRole('link', { name: /Verify/ }).click();
    await assert.doesNotReject(page.locator('.badge.st-ok').filter({ hasText: 'verified' }).waitFor());

    await eventually('the approval webhook', async () => received.length > 0);
    assert.equal(JSON.parse(received[0].body).event, 'approval_requested');
    assert.ok(received[0].headers['webhook-signature'] || received[0].headers['webhook-id'], 'Standard Webhooks headers');
    await page.goto(`${DASHBOARD}/webhooks`);
    await eventually('the delivery to show as succeeded', async () =>
      (await page.locator('section[aria-labelledby=deliveries-h] tr').filter({ hasText: 'approval_request' }).first().textContent()).includes('succeeded'), { page });
  } finally {
    hook.close();
  }
  noProblems(admin);
});

test("an agent halt stops the SDK's next call for that agent, and clearing it lets the call run", async () => {
  const agent = `halted-agent-${RUN}`;
  await page.goto(`${DASHBOARD}/halts`);
  await page.getByLabel('one agent', { exact: true }).check();
  await page.getByLabel('Agent name (for one agent)').fill(agent);
  await page.getByLabel('Reason').fill('investigating a loop');
  await page.getByRole('button', { name: 'Halt' }).click();
  await page.waitForURL(/done=halt-created/);
  const row = page.getByRole('row').filter({ hasText: agent });
  assert.match(await row.textContent(), /investigating a loop/);
  assert.match(await row.textContent(), /admin@example\.com/, 'who halted it');
  assert.match(python('scenario.py', '--agent-call', agent, '--tool', 'send_report').outcome, /^halted/);
  await row.getByRole('button', { name: /Clear/ }).click();
  await page.waitForURL(/done=halt-cleared/);
  assert.equal(python('scenario.py', '--agent-call', agent, '--tool', 'send_report').outcome, 'ran');
});

test("a budget's spend shows in its chart and its monitor's halt on the halts page", async () => {
  const agent = `spender-${RUN}`;
  await page.goto(`${DASHBOARD}/budgets`);
  await page.getByLabel('Name', { exact: true }).fill(`tiny ${RUN}`);
  await page.getByLabel('Applies to').selectOption('agent');
  await page.getByLabel('Agent name (for one agent)').fill(agent);
  await page.getByLabel('Limit in USD').fill('0.01');
  await page.getByRole('button', { name: 'Create budget' }).click();
  await page.waitForURL(/\/budgets\/[0-9a-f-]{36}\?done=budget-saved/);
  const budgetUrl = page.url().split('?')[0];

  await ingest(agent, [{ name: 'openai.chat', attributes: { 'gen_ai.agent.name': agent, 'gen_ai.request.model': 'gpt-4o', 'strathon.agent.cost.usd': 0.5 } }]);
  await page.goto(budgetUrl);
  const bars = page.locator('svg.chart rect.bar-budget');
  assert.ok(await bars.count() >= 1, 'the chart has a bar for the spend');
  assert.ok(Number(await bars.first().getAttribute('height')) > 10, 'and it is tall');
  await page.goto(`${DASHBOARD}/halts`);
  await eventually('the budget halt', async () => {
    const text = await page.locator('main').textContent();
    return text.includes(agent) && text.includes(`tiny ${RUN}`) && text.includes('the budget monitor');
  }, { page });
  await page.goto(budgetUrl);
  assert.match(await page.locator('dl.facts').textContent(), /halted/);
});

test('an API key is shown once, works with the published CLI, is rotated and revoked', async () => {
  await page.goto(`${DASHBOARD}/keys`);
  await page.getByLabel('Name', { exact: true }).fill(`cli ${RUN}`);
  await page.getByLabel('Your password', { exact: true }).fill(ADMIN.password);
  await page.getByRole('button', { name: 'Create key' }).click();
  const secret = (await page.locator('#secret-value').textContent()).trim();
  assert.match(secret, /^stra_[A-Za-z0-9_-]{43}$/);
  const cli = (key) => spawnSync(process.env.COMPAT_CLI, ['policies', 'list', '--json'], {
    encoding: 'utf8', env: { ...process.env, STRATHON_API_KEY: key, STRATHON_ENDPOINT: process.env.STRATHON_ENDPOINT },
  });
  const listed = cli(secret);
  assert.equal(listed.status, 0, listed.stderr);
  assert.match(listed.stdout, /Block dangerous tool names/);
  await page.goto(`${DASHBOARD}/keys`);
  assert.ok(!(await page.content()).includes(secret), 'never shown again');

  const row = page.getByRole('row').filter({ hasText: `cli ${RUN}` });
  await row.getByText('Rotate…').click();
  await row.getByLabel('Your password, to confirm').fill(ADMIN.password);
  await row.getByRole('button', { name: 'Rotate' }).click();
  const rotated = (await page.locator('#secret-value').textContent()).trim();
  assert.notEqual(rotated, secret);
  assert.match(await page.locator('.secret').textContent(), /old key keeps working until/);
  assert.equal(cli(rotated).status, 0, 'the new key works');
  assert.equal(cli(secret).status, 0, 'the old one too, in its grace period');

  await page.goto(`${DASHBOARD}/keys`);
  page.once('dialog', (d) => d.accept());
  const active = page.getByRole('row').filter({ hasText: `cli ${RUN}` }).filter({ hasText: 'active' });
  await active.getByRole('button', { name: /Revoke/ }).click();
  await page.waitForURL(/done=key-revoked/);
  assert.notEqual(cli(rotated).status, 0, 'a revoked key stops working');
  noProblems(admin);
});

test('MFA enrolment by reading the QR code, then signing in with a code', async () => {
  const who = { email: `mfa-${RUN}@example.com`, password: 'Mfa-passw0rd-1' };
  await register(who, 'viewer');
  const ctx = await context(browser);
  const p = await ctx.newPage();
  await signIn(p, who);
  await p.goto(`${DASHBOARD}/account`);
  await p.getByRole('button', { name: 'Set up two-step sign-in' }).click();
  // Decode the QR image the way a phone camera would.
  await p.addScriptTag({ content: JSQR }).catch(() => {});
  const uri = await p.evaluate(async () => {
    const img = document.querySelector('.qr img');
    await img.decode();
    const canvas = document.createElement('canvas');
    canvas.width = img.naturalWidth * 2;
    canvas.height = img.naturalHeight * 2;
    const g = canvas.getContext('2d');
    g.fillStyle = '#fff';
    g.fillRect(0, 0, canvas.width, canvas.height);
    g.drawImage(img, 0, 0, canvas.width, canvas.height);
    const data = g.getImageData(0, 0, canvas.width, canvas.height);
    return window.jsQR ? window.jsQR(data.data, data.width, data.height)?.data : null;
  });
  let secret;
  if (uri) {
    assert.match(uri, /^otpauth:\/\/totp\//);
    secret = new URL(uri).searchParams.get('secret');
  } else {
    // The page's CSP keeps injected scripts out; read the same secret the QR encodes.
    secret = (await p.locator('#totp-secret').textContent()).trim();
  }
  const totp = new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(secret), digits: 6, period: 30 });
  await p.getByLabel('Code from the app').fill(totp.generate());
  await p.getByRole('button', { name: 'Turn on' }).click();
  assert.match(await p.locator('.secret').textContent(), /recovery codes/);
  assert.match(await p.locator('main').textContent(), /On\. Signing in asks for a code/);
  await p.getByRole('button', { name: 'Sign out', exact: true }).click();
  await signIn(p, who, { code: async () => totp.generate({ timestamp: Date.now() + 30_000 }) });
  assert.equal(await p.getByRole('heading', { level: 1 }).textContent(), 'Overview');
  await ctx.close();
});

test('a viewer sees no write controls on any governance page, and a forged POST gets the API 403', async () => {
  const ctx = await context(browser);
  const p = await ctx.newPage();
  await signIn(p, VIEWER);
  for (const path of ['/policies', '/policies/templates', '/approvals', '/halts', '/budgets', '/keys', '/webhooks', '/audit', '/members', '/settings', '/compliance']) {
    await p.goto(DASHBOARD + path);
    assert.deepEqual(await writeForms(p), [], `no write forms on ${path}`);
  }
  const policyId = (await policy('Block dangerous tool names')).id;
  await p.goto(`${DASHBOARD}/policies/${policyId}`);
  assert.deepEqual(await writeForms(p), [], 'no write forms on a policy');
  assert.equal(await p.getByRole('button', { name: 'Save' }).count(), 0);
  // A forged form from the viewer's own session: the dashboard passes it on
  // and the API refuses it.
  const status = await p.evaluate(async () => {
    const csrf = document.querySelector('input[name=csrf]').value;
    const r = await fetch('/halts', { method: 'POST', body: new URLSearchParams({ csrf, scope: 'project', reason: 'forged' }) });
    return { status: r.status, text: await r.text() };
  });
  assert.equal(status.status, 403);
  assert.match(status.text, /needs the operator role or higher/);
  assert.equal((await api('GET', '/v1/halts')).body.halts.filter((h) => h.reason === 'forged').length, 0);
  await ctx.close();
});

test('each governance page passes axe and the keyboard in both themes', async () => {
  const state = await admin.storageState();
  const p = await policy('Block dangerous tool names');
  const budget = (await api('GET', '/v1/budgets')).body.budgets[0];
  const pages = [
    ['policies', '/policies'], ['policy', `/policies/${p.id}?a=1&b=3`], ['policy-new', '/policies/new'],
    ['templates', '/policies/templates'], ['simulate', '/policies/simulate'], ['approvals', '/approvals'],
    ['approvals-history', '/approvals?status=all'], ['halts', '/halts'], ['budgets', '/budgets'],
    ['budget', `/budgets/${budget.id}`], ['keys', '/keys'], ['webhooks', '/webhooks'], ['audit', '/audit'],
    ['members', '/members'], ['account', '/account'], ['settings', '/settings'], ['compliance', '/compliance'],
  ];
  for (const [name, path] of pages) await checkPage(browser, state, name, path);
});

test('tampering with an audit row in Postgres shows as a chain failure', async () => {
  sql(`ALTER TABLE audit.events DISABLE TRIGGER USER;
       UPDATE audit.events SET reason = 'edited behind Strathon''s back'
        WHERE sequence_no = (SELECT min(sequence_no) FROM audit.events WHERE action = 'approval.approve');
       ALTER TABLE audit.events ENABLE TRIGGER USER;`);
  await page.goto(`${DASHBOARD}/audit`);
  await page.getByRole('button', { name: 'Verify the whole chain' }).click();
  const alert = page.getByRole('alert').filter({ hasText: 'does not verify' });
  await assert.doesNotReject(alert.waitFor());
  assert.match(await alert.textContent(), /The chain breaks at event #\d+/);
});
