// The single-file page (dist/token-inspector.html) in headless Chromium (Debian's /usr/bin/chromium,
// driven by playwright-core), opened from disk. It loads real files made by our CLI and checks what
// a person would see: the fields, the live countdown, redaction until "reveal", the "copy
// redacted" text, that nothing is stored and that no network request is made.
// Waits are for conditions (bounded by timeouts), never fixed sleeps.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { fixtures, generated, generatedFixtures, read, secretData, skipBecause, tokenCaPem, x509, yamlScalar } from './helpers.mjs';

const js = fileURLToPath(new URL('..', import.meta.url));
const pagePath = join(js, 'dist', 'token-inspector.html');
const pageUrl = pathToFileURL(pagePath).href;
const screenshot = join(js, 'dist', 'token-inspector.png');
const executablePath = process.env.CHROMIUM ?? '/usr/bin/chromium';
const ANN = 'kubectl-skupper.io/';

let gen = generatedFixtures();
// The token must have most of its 15 minutes left for the VALID / countdown checks: remake it
// (a second with our CLI) when it is older than 10 minutes.
if (!gen.skip && Date.now() - Date.parse(gen.meta.madeAt) > 10 * 60 * 1000) {
  const r = spawnSync('bash', [join(fixtures, 'make-generated.sh')], { stdio: 'inherit', timeout: 120_000 });
  assert.equal(r.status, 0, 'make-generated.sh failed');
  gen = generatedFixtures();
}
// Every reason not to run goes through skipBecause: a counted skip, or a failure under REQUIRE_ALL_TESTS.
const skip =
  gen.skip ||
  skipBecause(
    (!existsSync(pagePath) && `${pagePath} is missing: run npm run build`) ||
      (!existsSync(executablePath) && `Chromium (${executablePath}) is missing: scripts/wasm-toolchain.sh install --chromium`),
  );

let context;
let page;
let profile;
const requests = [];
const problems = [];

before(async () => {
  if (skip) return;
  profile = mkdtempSync(join(tmpdir(), 'token-inspector-chromium-'));
  context = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
    timeout: 60_000,
  });
  context.on('request', (r) => requests.push(r.url()));
  // Record what "Copy" puts on the clipboard without needing clipboard permissions.
  await context.addInitScript(() => {
    window.__copied = [];
    Object.defineProperty(navigator, 'clipboard', { value: { writeText: async (t) => void window.__copied.push(t) } });
  });
  page = context.pages()[0] ?? (await context.newPage());
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  page.on('console', (m) => m.type() === 'error' && problems.push(`console: ${m.text()}`));
  await page.goto(pageUrl);
  await page.waitForSelector('body[data-ready="true"]', { timeout: 30_000 });
});

after(async () => {
  await context?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

const text = (sel) => page.locator(sel).innerText();
const countdownSeconds = (s) => {
  const m = s.match(/^expires in (?:(\d+)m )?(\d+)s$/);
  assert.ok(m, `countdown text ${JSON.stringify(s)}`);
  return Number(m[1] ?? 0) * 60 + Number(m[2]);
};

test('a token issued by our CLI: fields, badge and advisory times', { skip }, async () => {
  await page.setInputFiles('#file', join(generated, 'access-token.yaml'));
  await page.waitForSelector('#result:not([hidden])');
  assert.equal(await text('#kind'), 'AccessToken');
  assert.equal(await text('#state'), 'VALID');
  assert.equal(await text('#source'), 'access-token.yaml');
  assert.equal(await text('#url'), yamlScalar(gen.token, 'url'));
  assert.match(await text('#host'), new RegExp(`^${gen.meta.host.replaceAll('.', '\\.')}:9090 - this machine only`));
  const ca = x509(tokenCaPem(gen.token));
  assert.equal(await text('#ca-subject'), ca.subject);
  assert.equal(await text('#ca-fingerprint'), ca.fingerprint);
  assert.match(await text('#ca-validity'), new RegExp(`to ${ca.notAfter}$`));
  assert.equal(await text('#link-cost'), '1');
  assert.match(await text('#issued-at'), new RegExp(`^${yamlScalar(gen.token, `${ANN}issued-at`)} `));
  assert.match(await text('#expires-at'), new RegExp(`^${yamlScalar(gen.token, `${ANN}expires-at`)} .*\\(advisory`));
  assert.match(await text('#redemptions'), /^1 allowed/);
  assert.equal(await page.locator('#warnings li[data-code="loopback-host"]').count(), 1);
  assert.match(await text('main'), /Decoding is not verifying\./);
});

test('the countdown is live', { skip }, async () => {
  const first = await text('#countdown');
  const left = countdownSeconds(first);
  assert.ok(left > 0 && left <= 15 * 60, first);
  await page.waitForFunction((prev) => document.getElementById('countdown').textContent !== prev, first, { timeout: 10_000 });
  const later = await text('#countdown');
  assert.ok(countdownSeconds(later) < left, `${first} -> ${later}`);
});

test('the code stays hidden until revealed; copy redacted has no secret', { skip }, async () => {
  const code = yamlScalar(gen.token, 'code');
  assert.equal(await page.inputValue('#text'), '', 'the input box does not keep the file');
  assert.ok(!(await text('body')).includes(code), 'the code must not be on screen');
  assert.match(await text('#doc'), /code: <redacted>/);
  assert.equal(await page.getAttribute('#reveal', 'aria-pressed'), 'false');
  await page.click('#reveal');
  assert.equal(await page.getAttribute('#reveal', 'aria-pressed'), 'true');
  assert.ok((await text('#doc')).includes(code), 'reveal shows the code');
  await page.click('#reveal');
  assert.ok(!(await text('body')).includes(code), 'hidden again');
  await page.click('#copy');
  await page.waitForFunction(() => window.__copied.length > 0);
  const copied = await page.evaluate(() => window.__copied.at(-1));
  assert.ok(!copied.includes(code));
  assert.match(copied, /code: <redacted>/);
  assert.ok(copied.includes(yamlScalar(gen.token, 'url')), 'the rest of the file is there');
  assert.equal(await text('#copy-status'), 'Copied the redacted file.');
});

test('a link file from our CLI: static link, cost, private key hidden', { skip }, async () => {
  await page.click('#again');
  await page.setInputFiles('#file', join(generated, 'link-generate.yaml'));
  await page.waitForFunction(() => document.getElementById('source').textContent === 'link-generate.yaml');
  assert.equal(await text('#kind'), 'Static link (Link + Secret)');
  assert.equal(await text('#state'), 'VALID');
  assert.equal(await text('#link-cost'), '2');
  assert.match(await text('#private-key'), /this file is a credential/);
  assert.equal(await text('#ca-fingerprint'), x509(secretData(gen.link, 'ca.crt')).fingerprint);
  assert.equal(await text('#client-subject'), x509(secretData(gen.link, 'tls.crt')).subject);
  assert.equal(await page.locator('#warnings li[data-code="private-key"]').count(), 1);
  const key = yamlScalar(gen.link, 'tls.key');
  assert.ok(!(await text('body')).includes(key), 'the private key must not be on screen');
  assert.match(await text('#doc'), /tls\.key: <redacted>/);
});

test('pasted and dropped files: expired, unknown and unparsable', { skip }, async () => {
  await page.click('#again');
  // a paste event inspects at once and never puts the text in the box
  await page.evaluate((t) => {
    const dt = new DataTransfer();
    dt.setData('text/plain', t);
    document.getElementById('text').dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true }));
  }, read('expired-token.yaml'));
  await page.waitForSelector('#result:not([hidden])');
  assert.equal(await text('#source'), 'pasted text');
  assert.equal(await text('#state'), 'EXPIRED');
  assert.match(await text('#countdown'), /^expired .+ ago$/);
  assert.equal(await page.locator('#warnings li[data-code="expired"]').count(), 1);

  await page.click('#again');
  await page.evaluate((t) => {
    const dt = new DataTransfer();
    dt.items.add(new File([t], 'upstream.yaml', { type: 'application/yaml' }));
    document.getElementById('drop').dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
  }, read('upstream-access-token.yaml'));
  await page.waitForFunction(() => document.getElementById('source').textContent === 'upstream.yaml');
  assert.equal(await text('#state'), 'UNKNOWN');
  assert.equal(await text('#countdown'), 'expiry unknown');
  assert.match(await text('#expires-at'), /^unknown: stock Skupper tokens do not say/);

  await page.click('#again');
  await page.fill('#text', 'apiVersion: skupper.io/v2alpha1\nkind: AccessToken\nspec: [oops\n');
  await page.click('#go');
  await page.waitForFunction(() => document.getElementById('source').textContent === 'typed text');
  assert.equal(await text('#kind'), 'Not a token');
  assert.match(await text('#kind-detail'), /^not valid YAML: .*\(line \d+, column \d+\)/);
  assert.match(await text('#doc-note'), /could not be read/);
  assert.equal(await page.isDisabled('#copy'), true);
});

test('nothing stored, no network request, CSP blocks connections', { skip }, async () => {
  const stored = await page.evaluate(async () => ({
    local: localStorage.length,
    session: sessionStorage.length,
    cookie: document.cookie,
    idb: (await indexedDB.databases()).length,
    caches: 'caches' in window ? (await caches.keys()).length : 0,
  }));
  assert.deepEqual(stored, { local: 0, session: 0, cookie: '', idb: 0, caches: 0 });
  const csp = await page.getAttribute('meta[http-equiv="Content-Security-Policy"]', 'content');
  assert.match(csp, /default-src 'none'/);
  assert.match(csp, /connect-src 'none'/);
  // Even a script on the page cannot phone home: the CSP refuses the connection.
  const attempt = await page.evaluate(() =>
    fetch('http://127.0.0.1:9/phone-home').then(() => 'sent', (e) => `refused: ${e.message}`),
  );
  assert.match(attempt, /^refused/);
  const others = requests.filter((u) => u !== pageUrl);
  assert.deepEqual(others, [], 'the page made requests');
  assert.ok(requests.includes(pageUrl), 'requests were being recorded');
  const unexpected = problems.filter((p) => !p.includes('phone-home') && !p.includes('Content Security Policy'));
  assert.deepEqual(unexpected, []);
});

test('screenshot of a token report', { skip }, async () => {
  await page.click('#again');
  await page.setInputFiles('#file', join(generated, 'access-token.yaml'));
  await page.waitForSelector('#result:not([hidden])');
  await page.setViewportSize({ width: 1100, height: 900 });
  await page.screenshot({ path: screenshot, fullPage: true });
  assert.ok(existsSync(screenshot));
});
