// The receiver goes away while a user is signed in: every page shows a
// banner naming the address it tried, not an error page, and the page
// recovers by itself once the receiver is back... which it is not here, so
// this runs last and only checks the banner.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { DASHBOARD, OWNER, context, launch, signIn } from './lib.mjs';

test('with the receiver stopped, pages show a banner with the address tried', async () => {
  const browser = await launch();
  try {
    const ctx = await context(browser);
    const page = await ctx.newPage();
    await signIn(page, { email: process.env.VIEWER_EMAIL || 'viewer@example.com', password: 'Viewer-passw0rd-1' });
    process.kill(Number(process.env.COMPAT_RECEIVER_PID), 'SIGKILL');
    for (const path of ['/', '/traces', '/spans']) {
      const resp = await page.goto(DASHBOARD + path);
      assert.equal(resp.status(), 503);
      const banner = page.getByRole('alert');
      assert.match(await banner.first().textContent(), new RegExp(`Cannot reach the Strathon receiver at ${process.env.STRATHON_ENDPOINT.replace(/[.]/g, '\\.')}`));
      assert.equal(await page.getByRole('heading', { level: 1 }).textContent(), 'The dashboard cannot reach the receiver');
      assert.ok(await page.locator('link[rel=stylesheet]').count() === 1, 'a styled page, not a raw error');
    }
    await page.goto(`${DASHBOARD}/login`);
    assert.match(await page.getByRole('alert').first().textContent(), /Cannot reach the Strathon receiver/);
    assert.equal(await page.getByLabel('Email').count(), 1, 'the sign-in form still renders');
    void OWNER;
  } finally {
    await browser.close();
  }
});
