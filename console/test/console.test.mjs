// The console in a real headless browser (Debian's Chromium, driven by playwright-core)
// against a running `make dev`: logs in with the dev key, finds in Activity a notification this
// test sent through the API and reads its timeline, edits a template and sees the preview
// change and a syntax error reported, reads a batch's counts, and sees a forced dead letter on
// the Operations page. A screenshot of each page goes to SHOTS; any console error fails it.
//
// Run by scripts/console_test.sh (which installs what it needs); the stack's env file gives
// NOTIFY_API_URL, NOTIFY_API_KEY, NOTIFY_ADMIN_KEY.

import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const env = process.env;
const API = env.NOTIFY_API_URL;
const KEY = env.NOTIFY_API_KEY;
const ADMIN = env.NOTIFY_ADMIN_KEY;
const SHOTS = env.SHOTS || 'target/console-screenshots';
const TIMEOUT = 60_000;
const run = Math.random().toString(36).slice(2, 10);

function fail(message) {
  console.error(`console test: ${message}`);
  process.exit(1);
}

for (const [name, value] of Object.entries({ NOTIFY_API_URL: API, NOTIFY_API_KEY: KEY, NOTIFY_ADMIN_KEY: ADMIN })) {
  if (!value) fail(`${name} is not set`);
}
if (!/^http:\/\/(127\.\d+\.\d+\.\d+|\[::1\]|localhost)[:/]/.test(API)) fail(`${API} is not loopback`);

async function call(method, path, body) {
  const res = await fetch(API + path, {
    method,
    headers: { Authorization: `Bearer ${KEY}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: await res.json().catch(() => null) };
}

async function until(what, check) {
  const end = Date.now() + TIMEOUT;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > end) fail(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

// What the test sends through the API (the console itself sends nothing).
const to = `console-${run}@example.com`;
const sent = await call('POST', '/v1/notifications', { channel: 'email', to, subject: 'From the console test', text: 'Hello' });
if (sent.status !== 202) fail(`the send answered ${sent.status}: ${JSON.stringify(sent.body)}`);
const id = sent.body.id;
await until(`${id} to be sent`, async () => (await call('GET', `/v1/notifications/${id}`)).body?.status === 'sent');
const user = `console-${run}`;
const profile = await call('PUT', `/v1/users/${user}`, { email: `${user}@example.com`, name: 'Console' });
if (profile.status >= 300) fail(`the profile answered ${profile.status}: ${JSON.stringify(profile.body)}`);
const batchId = `console-${run}`;
const batch = await call('POST', '/v1/notifications/batch', {
  channel: 'email', subject: 'Batch', text: 'Hi', batchId,
  recipients: [1, 2, 3].map((i) => ({ to: `b${i}-${run}@example.com` })),
});
if (batch.status !== 202) fail(`the batch answered ${batch.status}: ${JSON.stringify(batch.body)}`);

// A dead letter, put straight into the email normal queue's DLQ (the stack's own settings).
const functionsEnv = readFileSync(join(env.NOTIFY_DEV_DIR || '.dev', 'functions.env'), 'utf8');
const dlq = /^NOTIFY_DLQ_URL_EMAIL_NORMAL=(.*)$/m.exec(functionsEnv)?.[1];
if (!dlq) fail('no NOTIFY_DLQ_URL_EMAIL_NORMAL in functions.env');
execFileSync(env.PYTHON || '.dev/venv/bin/python', ['-c', `
import boto3, sys
sqs = boto3.client("sqs", endpoint_url=sys.argv[1], region_name="us-east-1",
                   aws_access_key_id="test", aws_secret_access_key="test")
sqs.send_message(QueueUrl=sys.argv[2], MessageBody='{"forced":"by the console test"}')
`, env.NOTIFY_EMULATOR_URL, dlq]);

mkdirSync(SHOTS, { recursive: true });
const browser = await chromium.launch({
  executablePath: env.CHROMIUM || '/usr/bin/chromium',
  // Chromium's own sandbox needs user namespaces, which containers (and root) often lack.
  args: ['--no-sandbox'],
});
const errors = [];
const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
page.setDefaultTimeout(TIMEOUT);
// Any error the page logs or throws fails the test, and so does any 5xx answer or a page
// asset that fails. The one console line let through is the browser's own note of a 4xx API
// answer, which the page shows as it should (a new template's 404, a syntax error's 400).
page.on('console', (m) => {
  if (m.type() === 'error' && !/^Failed to load resource: the server responded with a status of 4\d\d/.test(m.text())) {
    errors.push(m.text());
  }
});
page.on('pageerror', (e) => errors.push(e.message));
page.on('requestfailed', (r) => {
  // A navigation (the test's reload) cancels what the page had in flight: not a failure.
  if (r.failure()?.errorText !== 'net::ERR_ABORTED') errors.push(`${r.url()}: ${r.failure()?.errorText}`);
});
page.on('response', (r) => {
  const asset = ['document', 'script', 'stylesheet', 'image', 'font'].includes(r.request().resourceType());
  if (r.status() >= 500 || (asset && r.status() >= 400)) errors.push(`${r.url()} answered ${r.status()}`);
});
// A screenshot of the page, after checking it shows no stray `null`, `undefined` or
// `[object …]` (a value the page failed to render).
const shot = async (name) => {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
  const text = await page.textContent('main');
  const stray = /\bnull\b|\bundefined\b|\[object /.exec(text);
  if (stray) fail(`the ${name} page shows "${stray[0]}": ${text.slice(Math.max(0, stray.index - 80), stray.index + 40)}`);
};
// Every field has a label (the console is used by keyboard and screen readers too).
const unlabelled = async () => page.$$eval('input, select, textarea', (els) => els.filter((e) => !e.labels || !e.labels.length).map((e) => e.id || e.name || e.outerHTML.slice(0, 60)));
const labelled = async (where) => {
  const missing = await unlabelled();
  if (missing.length) fail(`${where}: fields without a label: ${missing.join(', ')}`);
};

try {
  // Log in.
  await page.goto(`${API}/console`);
  await page.fill('#api-key', KEY);
  await page.fill('#admin-key', ADMIN);
  await labelled('keys');
  await shot('keys');
  await page.click('button[type=submit]');

  // Activity: find the notification by its recipient.
  await page.waitForSelector('#f-recipient');
  await page.fill('#f-recipient', to);
  await page.click('form[role=search] button[type=submit]');
  await page.waitForSelector(`a[href="#/n/${id}"]`);
  await labelled('activity');
  await shot('activity');
  await page.setViewportSize({ width: 390, height: 844 });
  await shot('activity-phone');
  await page.setViewportSize({ width: 1280, height: 900 });

  // Its timeline.
  await page.click(`a[href="#/n/${id}"]`);
  await page.waitForSelector('ol.timeline .s-sent');
  await shot('notification');

  // A template: the preview follows the edit, and a syntax error names its line and column.
  const name = `console-${run}`;
  await page.goto(`${API}/console#/templates/${name}`);
  await page.waitForSelector('#ed-subject');
  await page.fill('#ed-data', '{"name": "Ann"}');
  await page.fill('#ed-subject', 'Hello {{name}}');
  await page.fill('#ed-text', 'Welcome, {{name}}.');
  await page.waitForSelector('#preview dd:text("Hello Ann")');
  await page.fill('#ed-subject', 'Hi {{name}}');
  await page.waitForSelector('#preview dd:text("Hi Ann")');
  await page.click('text=Save as a new version');
  await page.waitForSelector('text=Saved as version 1.');
  await labelled('template');
  await shot('template');
  await page.fill('#ed-text', 'Welcome,\n{{#if name}}open');
  const error = await page.waitForSelector('#preview .error');
  const text = await error.textContent();
  if (!/line 2/.test(text) || !/column/.test(text)) fail(`the syntax error does not name its line and column: ${text}`);
  await shot('template-error');

  // A batch's counts.
  await page.goto(`${API}/console#/batches/${batchId}`);
  await page.waitForSelector('td.count');
  await page.waitForSelector('dd:text("3")');
  await shot('batch');

  // Stats.
  await page.goto(`${API}/console#/stats`);
  await page.waitForSelector('svg.chart');
  await shot('stats');

  // A user, and the tenant's endpoints and suppressions.
  await page.goto(`${API}/console#/users/${user}`);
  await page.waitForSelector(`dd:text("${user}@example.com")`);
  await shot('user');
  await page.goto(`${API}/console#/settings`);
  await page.waitForSelector('h2:text("Suppressions")');
  await shot('settings');

  // Operations: the dead letter.
  await page.goto(`${API}/console#/operations`);
  await until('the dead letter on the Operations page', async () => {
    await page.reload();
    const cell = await page.waitForSelector('.dlq-email-normal');
    return Number(await cell.textContent()) >= 1;
  });
  await shot('operations');
} catch (e) {
  await shot('failure').catch(() => {});
  await browser.close();
  fail(e.message);
}
await browser.close();
if (errors.length) fail(`the page logged errors:\n${errors.join('\n')}`);
console.log(`console test: passed; screenshots in ${SHOTS}`);
