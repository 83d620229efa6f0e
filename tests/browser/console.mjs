// Drives the operator console in the system's headless Chromium, as an operator would:
// log in with the admin key, create a sandbox connection from the generated form, click
// Connect, approve on the sandbox's consent page, see the connection connected, run its
// sync and see the records, revoke it, log out. Every page's HTML and a screenshot are
// written to SHOTS_DIR; the Rust test that starts this reads them.
//
// Input comes from the environment, never argv: KEYWAY_URL, KEYWAY_ADMIN_KEY,
// CONSOLE_SECRET (a secret setting to type into the form), SHOTS_DIR, CHROMIUM.
// Prints one line per step; exits 1 with the failing step's message.

import { chromium } from 'playwright-core';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const base = process.env.KEYWAY_URL;
const adminKey = process.env.KEYWAY_ADMIN_KEY;
const secret = process.env.CONSOLE_SECRET;
const shots = process.env.SHOTS_DIR;
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
if (!base || !adminKey || !secret || !shots) {
  console.error('KEYWAY_URL, KEYWAY_ADMIN_KEY, CONSOLE_SECRET and SHOTS_DIR must be set');
  process.exit(2);
}
mkdirSync(shots, { recursive: true });

const browser = await chromium.launch({
  executablePath,
  args: [
    '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
  ],
});
let step = 0;
const page = await (await browser.newContext()).newPage();
const violations = [];
page.on('console', (msg) => {
  // A policy violation is an error here; a missing favicon is not.
  if (msg.type() === 'error' && !msg.text().startsWith('Failed to load resource')) {
    violations.push(msg.text());
  }
});

async function keep(name) {
  step += 1;
  const label = `${String(step).padStart(2, '0')}-${name}`;
  writeFileSync(join(shots, `${label}.html`), await page.content());
  await page.screenshot({ path: join(shots, `${label}.png`), fullPage: true });
  console.log(`ok ${label} ${new URL(page.url()).pathname}`);
}

function expect(cond, message) {
  if (!cond) throw new Error(message);
}

async function text(selector) {
  return (await page.locator(selector).first().textContent())?.trim() ?? '';
}

try {
  // Not signed in: the console sends the browser to its login page.
  await page.goto(`${base}/console/connections`);
  expect(new URL(page.url()).pathname === '/console/login', `expected the login page, at ${page.url()}`);
  await page.fill('#key', 'not-the-admin-key-at-all-000000');
  await page.click('button[type=submit]');
  expect((await text('.error')).includes('not the admin key'), 'a wrong key is refused');
  await keep('login-refused');
  await page.fill('#key', adminKey);
  await page.click('button[type=submit]');
  expect(new URL(page.url()).pathname === '/console/connections', `after login: ${page.url()}`);
  await keep('connections-empty');

  await page.goto(`${base}/console/connectors`);
  expect((await page.content()).includes('POST'), 'the connectors page lists routes');
  await keep('connectors');

  // The create form is generated from the schema: the secret is a password field.
  await page.goto(`${base}/console/connections/new?connector=sandbox`);
  expect(await page.locator('input[name="setting.webhook_secret"][type=password]').count() === 1,
    'a secret setting is a password field');
  await keep('new-connection-form');
  await page.fill('#name', 'shop');
  await page.fill('input[name="setting.webhook_secret"]', secret);
  await page.click('main button:has-text("Create")');
  expect(new URL(page.url()).pathname === '/console/connections/shop', `after create: ${page.url()}`);
  expect((await text('.status')) === 'pending_authorization', 'a new connection waits for authorization');
  expect((await page.content()).includes('= set (secret)'), 'the secret shows as set');
  await keep('connection-created');

  // Connect: the sandbox's consent page, then back to the connection.
  await page.click('button:has-text("Connect")');
  await page.waitForURL(/\/oauth\/authorize/);
  await keep('sandbox-consent');
  await page.click('button[value=approve]');
  await page.waitForURL(/\/console\/connections\/shop/);
  expect((await text('.status')) === 'connected', `after approval: ${await text('.status')}`);
  expect((await text('.notice')) === 'Connected.', 'the page says it connected');
  await keep('connected');

  // A sync: Run now, then the records appear.
  await page.click('button:has-text("Run now")');
  await page.waitForURL(/done=run/);
  let records = 0;
  for (let i = 0; i < 100 && records === 0; i += 1) {
    await page.reload();
    records = Number(await text('#records'));
    if (records === 0) await new Promise((r) => setTimeout(r, 200));
  }
  expect(records > 0, 'the sync stored records');
  await keep('synced');

  // The connections list shows it with its status and the activity chart.
  await page.goto(`${base}/console/connections`);
  expect(await page.locator('svg.chart').count() === 1, 'the activity chart is drawn');
  await keep('connections');

  // Revoke, after the confirmation page.
  await page.goto(`${base}/console/connections/shop`);
  await page.click('a:has-text("Revoke")');
  await keep('confirm-revoke');
  await page.click('button.danger');
  await page.waitForURL(/done=revoked/);
  expect((await text('.status')) === 'revoked', `after revoke: ${await text('.status')}`);
  await keep('revoked');

  // Log out: the session is gone.
  await page.click('header button:has-text("Log out")');
  expect(new URL(page.url()).pathname === '/console/login', 'after logout');
  await page.goto(`${base}/console/connections`);
  expect(new URL(page.url()).pathname === '/console/login', 'a closed session reaches nothing');
  await keep('logged-out');

  expect(violations.length === 0, `the browser reported errors: ${violations.join(' | ')}`);
  console.log('done');
} catch (e) {
  console.error(`step ${step + 1} failed: ${e.message}`);
  try { await keep('failure'); } catch { /* the page may be gone */ }
  await browser.close();
  process.exit(1);
}
await browser.close();
