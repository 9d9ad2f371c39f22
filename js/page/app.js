// The token inspector page. Bundled by scripts/build-page.mjs into one inline script with the wasm
// module gzipped and base64-encoded (`inline-wasm-gzip`, made by the build); no request is made
// for anything. All inspection logic is the Rust core's
// (through src/api.js); this file only renders the report. Every value from the file goes into
// the page through textContent, never as HTML.
import init, * as raw from '../pkg/skupper_web.js';
import wasmGzipBase64 from 'inline-wasm-gzip';
import { createApi } from '../src/api.js';

const MAX_BYTES = 1 << 20; // tokens are ~1-3 KiB; anything this big is not one

const $ = (id) => document.getElementById(id);
let api = null;
let current = null; // { text, source, redacted, redactError }
let revealed = false;
let timer = 0;
let lastTimeKey = '';

const KIND_LABEL = {
  accessToken: 'AccessToken',
  staticLink: 'Static link (Link + Secret)',
  v1Secret: 'Skupper v1 token Secret',
  notAToken: 'Not a token',
};

const KIND_DETAIL = {
  accessToken: 'A token to redeem once at the issuing site (kubectl skupper token redeem). It holds a secret code.',
  staticLink: 'Links with their TLS credentials (kubectl skupper link generate). The private key makes this file a credential in itself.',
  v1Secret: 'A Skupper v1 token; Skupper v2 sites do not accept it.',
};

const STATE = {
  valid: 'VALID',
  expiresSoon: 'EXPIRES SOON',
  expired: 'EXPIRED',
  unknown: 'UNKNOWN',
};

const HOST_CLASS = {
  loopback: 'this machine only (loopback)',
  unspecified: 'a bind address, not a destination',
  privateIp: 'private network address',
  publicIp: 'public IP address',
  clusterInternal: 'cluster-internal name (unreachable from outside the cluster)',
  shortName: 'short name (needs a local search domain)',
  publicDns: 'DNS name',
  invalid: 'not a valid host',
};

const SERIOUS = new Set(['expired', 'plain-http', 'private-key', 'parse-error', 'missing-ca', 'missing-code', 'missing-url', 'invalid-url', 'weak-code', 'weak-key', 'loopback-host', 'unspecified-host']);

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === 'class') node.className = v;
    else if (k === 'text') node.textContent = v;
    else node.setAttribute(k, v);
  }
  for (const c of children) if (c != null) node.append(c);
  return node;
}

/** A definition list from [label, value] rows; values are strings or nodes; empty rows are skipped. */
function dl(rows) {
  const list = el('dl');
  for (const [label, value, id] of rows) {
    if (value == null || value === '') continue;
    list.append(el('dt', { text: label }));
    const dd = el('dd', id ? { id } : {});
    dd.append(value);
    list.append(dd);
  }
  return list;
}

function copyButton(text, label) {
  const b = el('button', { type: 'button', class: 'secondary', 'aria-label': label, text: 'Copy' });
  b.addEventListener('click', () => copy(text, label.replace(/^Copy /, '')));
  return b;
}

function when(ts) {
  if (!ts) return null;
  const local = new Date(ts.unix * 1000);
  return `${ts.rfc3339} (${local.toLocaleString()})`;
}

function hostLine(host, port, cls) {
  return `${host}${port ? `:${port}` : ''} - ${HOST_CLASS[cls] ?? cls}`;
}

function certRows(c, prefix) {
  const fp = el('span', { class: 'fp' }, el('code', { id: `${prefix}-fingerprint`, text: c.sha256Fingerprint }), copyButton(c.sha256Fingerprint, `Copy ${prefix === 'ca' ? 'CA' : 'certificate'} SHA-256 fingerprint`));
  const flags = [c.isCa ? 'CA' : null, c.selfSigned ? 'self-signed' : null].filter(Boolean).join(', ');
  const sans = [...c.dnsNames, ...c.ipAddresses].join(', ');
  return [
    ['Subject', c.subject, `${prefix}-subject`],
    ['Issuer', c.issuer === c.subject ? null : c.issuer],
    ['Valid', `${c.notBefore.rfc3339} to ${c.notAfter.rfc3339}`, `${prefix}-validity`],
    ['SHA-256', fp],
    ['Key', `${c.keyAlgorithm}, ${c.signatureAlgorithm}`],
    ['Names', sans || null],
    ['Kind', flags || null],
  ];
}

function renderWhere(r) {
  const box = $('where');
  box.replaceChildren();
  if (r.url) {
    box.append(dl([
      ['Redemption URL', el('code', { text: r.url.url }), 'url'],
      ['Host', hostLine(r.url.host, r.url.port, r.url.hostClass), 'host'],
      ['Link cost', r.linkCost == null ? 'not set (1)' : String(r.linkCost), 'link-cost'],
      ['Settings', Object.keys(r.settings).length ? Object.entries(r.settings).map(([k, v]) => `${k}=${v}`).join(', ') : null],
    ]));
  }
  for (const [i, link] of r.links.entries()) {
    box.append(el('h3', { text: `Link ${link.name}` }));
    const eps = el('ul');
    for (const e of link.endpoints) eps.append(el('li', { text: `${e.name || '(unnamed)'}: ${hostLine(e.host, e.port, e.hostClass)}` }));
    box.append(dl([
      ['Endpoints', eps],
      ['Link cost', `${link.effectiveCost}${link.cost !== link.effectiveCost ? ` (written as ${link.cost})` : ''}`, i === 0 ? 'link-cost' : undefined],
      ['TLS Secret', link.tlsCredentials],
      ['Problems', link.errors.length ? link.errors.map((f) => `${f.field}: ${f.message}`).join('; ') : null],
    ]));
  }
  $('where-section').hidden = !box.childElementCount;
}

function renderTrust(r) {
  const box = $('trust');
  box.replaceChildren();
  if (r.ca) {
    box.append(el('h3', { text: r.caCertificates > 1 ? `CA (first of ${r.caCertificates})` : 'CA' }), dl(certRows(r.ca, 'ca')));
  }
  if (r.clientCert) {
    const chained = r.clientCertIssuedByCa == null ? null : r.clientCertIssuedByCa ? 'yes (issuer matches the CA)' : 'no: issued by another CA';
    box.append(el('h3', { text: 'Client certificate' }), dl([...certRows(r.clientCert, 'client'), ['Issued by the CA', chained]]));
  }
  const secrets = [
    ['Private key', r.privateKeyPresent ? `present${r.privateKeyFormat ? ` (${r.privateKeyFormat})` : ''}: this file is a credential` : null, 'private-key'],
    ['Code', r.code ? `${r.code.length} characters, ${r.code.distinctCharacters} distinct (hidden)` : null, 'code-shape'],
  ];
  if (secrets.some(([, v]) => v != null)) box.append(el('h3', { text: 'Secrets' }), dl(secrets));
  $('trust-section').hidden = !box.childElementCount;
}

function renderTime(r) {
  const advisory = r.expirySource === 'annotation' ? ' (advisory, written by the issuer)' : r.expirySource === 'clientCertificate' ? ' (client certificate)' : '';
  const box = $('time');
  box.replaceChildren(dl([
    ['Issued at', when(r.issuedAt), 'issued-at'],
    ['Expires at', r.expiresAt ? `${when(r.expiresAt)}${advisory}` : (r.kind.type === 'accessToken' ? 'unknown: stock Skupper tokens do not say (grants default to 15 minutes after issue)' : null), 'expires-at'],
    ['Redemptions', r.redemptionsAllowed == null ? null : `${r.redemptionsAllowed} allowed${r.expirySource === 'annotation' ? ' (advisory)' : ''}`, 'redemptions'],
    ['Grant', r.grantName],
    ['Issuing site', r.issuerSite],
  ]));
  $('time-section').hidden = !box.querySelector('dt');
}

/** The parts that change with the clock: badge, countdown, warnings. */
function renderClock(r) {
  const badge = $('state');
  const label = STATE[r.state] ?? r.state.toUpperCase();
  if (badge.textContent !== label) {
    // only on change: the badge is a live region, and re-setting the same text re-announces it
    badge.className = `badge ${r.state}`;
    badge.textContent = label;
  }
  let countdown = '';
  if (r.secondsLeft != null && r.secondsLeft >= 0) countdown = `expires in ${api.humanizeSeconds(r.secondsLeft)}`;
  else if (r.secondsLeft != null) countdown = `expired ${api.humanizeSeconds(r.secondsLeft)} ago`;
  else if (r.kind.type === 'accessToken') countdown = 'expiry unknown';
  $('countdown').textContent = countdown;
  $('clock').textContent = ` (now ${r.now.rfc3339})`;
  const key = JSON.stringify(r.warnings);
  if (key === lastTimeKey) return;
  lastTimeKey = key;
  const list = $('warnings');
  list.replaceChildren();
  for (const w of r.warnings) {
    list.append(el('li', { class: SERIOUS.has(w.code) ? 'serious' : '', 'data-code': w.code }, el('code', { text: w.code }), w.message));
  }
  if (!r.warnings.length) list.append(el('li', { class: 'none', text: 'No warnings.' }));
  $('warn-count').textContent = String(r.warnings.length);
}

function renderDoc() {
  const doc = $('doc');
  const reveal = $('reveal');
  reveal.setAttribute('aria-pressed', String(revealed));
  reveal.textContent = revealed ? 'Hide secrets' : 'Reveal secrets';
  $('copy').disabled = current.redacted == null;
  if (revealed) {
    doc.textContent = current.text;
    $('doc-note').textContent = 'Showing the file as given, secrets included. Do not share a screenshot of this.';
  } else if (current.redacted != null) {
    doc.textContent = current.redacted;
    const n = current.redactions;
    $('doc-note').textContent = n ? `${n} secret value${n > 1 ? 's are' : ' is'} hidden as <redacted>.` : 'No secret values found.';
  } else {
    doc.textContent = '';
    $('doc-note').textContent = `Nothing is shown because the text could not be read, so its secrets cannot be found (${current.redactError}). Reveal to see it as given.`;
  }
}

function render() {
  const r = api.inspect(current.text, Date.now());
  const type = r.kind.type;
  $('kind').textContent = KIND_LABEL[type] ?? type;
  $('kind').dataset.kind = type;
  const detail = type === 'notAToken' ? r.kind.reason : type === 'v1Secret' ? `${KIND_DETAIL.v1Secret} (${r.kind.tokenType})` : KIND_DETAIL[type];
  $('kind-detail').textContent = `${r.name ? `${r.name}. ` : ''}${detail ?? ''}`;
  renderWhere(r);
  renderTrust(r);
  renderTime(r);
  lastTimeKey = '';
  renderClock(r);
  current.redactions = r.redactions.length;
  renderDoc();
  $('result').hidden = false;
}

function tick() {
  if (!current) return;
  try {
    renderClock(api.inspect(current.text, Date.now()));
  } catch (e) {
    stop();
    showError(`Inspection stopped: ${e.message}`);
  }
}

function stop() {
  clearInterval(timer);
  timer = 0;
}

function showError(message) {
  $('input-error').textContent = message;
}

function load(text, source) {
  showError('');
  if (!text.trim()) return showError('There is nothing to inspect: paste or choose a file first.');
  if (text.length > MAX_BYTES) return showError(`This is ${text.length} characters long: too large for a token or link file.`);
  let redacted = null;
  let redactError = '';
  try {
    redacted = api.redact(text);
  } catch (e) {
    redactError = e.message;
  }
  current = { text, source, redacted, redactError, redactions: 0 };
  revealed = false;
  $('text').value = '';
  $('source').textContent = source;
  $('drop').hidden = true;
  $('loaded').hidden = false;
  render();
  stop();
  timer = setInterval(tick, 1000);
  $('kind').setAttribute('tabindex', '-1');
  $('kind').focus({ preventScroll: false });
}

function reset() {
  stop();
  $('copy-status').textContent = '';
  showError('');
  current = null;
  revealed = false;
  $('result').hidden = true;
  $('doc').textContent = '';
  $('loaded').hidden = true;
  $('drop').hidden = false;
  $('text').focus();
}

async function loadFile(file) {
  if (!file) return;
  if (file.size > MAX_BYTES) return showError(`${file.name} is ${file.size} bytes: too large for a token or link file.`);
  load(await file.text(), file.name);
}

async function copy(text, what) {
  const status = $('copy-status');
  try {
    if (navigator.clipboard?.writeText) await navigator.clipboard.writeText(text);
    else fallbackCopy(text);
    status.textContent = `Copied ${what}.`;
  } catch {
    try {
      fallbackCopy(text);
      status.textContent = `Copied ${what}.`;
    } catch {
      status.textContent = 'Copying is blocked here: select the text and copy it yourself.';
    }
  }
}

function fallbackCopy(text) {
  const area = el('textarea', { 'aria-hidden': 'true', style: 'position:fixed;opacity:0' });
  area.value = text;
  document.body.append(area);
  area.select();
  const ok = document.execCommand('copy');
  area.remove();
  if (!ok) throw new Error('copy refused');
}

function wire() {
  const text = $('text');
  text.addEventListener('paste', (e) => {
    const pasted = e.clipboardData?.getData('text/plain');
    if (pasted == null) return; // let it land in the box; the button inspects it
    e.preventDefault();
    load(pasted, 'pasted text');
  });
  text.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) load(text.value, 'typed text');
  });
  $('go').addEventListener('click', () => load(text.value, 'typed text'));
  $('file').addEventListener('change', (e) => {
    loadFile(e.target.files?.[0]).catch((err) => showError(`Cannot read the file: ${err.message}`));
    e.target.value = '';
  });
  $('again').addEventListener('click', reset);
  $('reveal').addEventListener('click', () => {
    revealed = !revealed;
    renderDoc();
  });
  $('copy').addEventListener('click', () => {
    if (current?.redacted != null) copy(current.redacted, 'the redacted file');
  });
  const drop = $('drop');
  // A file dropped anywhere must not make the browser open it (and leave this page).
  for (const type of ['dragover', 'drop']) window.addEventListener(type, (e) => e.preventDefault());
  drop.addEventListener('dragover', () => drop.classList.add('over'));
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    drop.classList.remove('over');
    const file = e.dataTransfer?.files?.[0];
    if (file) loadFile(file).catch((err) => showError(`Cannot read the file: ${err.message}`));
    else load(e.dataTransfer?.getData('text/plain') ?? '', 'dropped text');
  });
}

/** The wasm module: base64 -> gzip -> bytes, with the browser's own DecompressionStream. */
async function wasmBytes() {
  const gz = Uint8Array.from(atob(wasmGzipBase64), (c) => c.charCodeAt(0));
  const stream = new Blob([gz]).stream().pipeThrough(new DecompressionStream('gzip'));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

async function start() {
  await init({ module_or_path: await wasmBytes() });
  api = createApi(raw);
  wire();
  $('boot').hidden = true;
  document.body.dataset.ready = 'true';
}

start().catch((e) => {
  $('boot').textContent = `The inspector could not start: ${e.message}. It needs a browser with WebAssembly.`;
  $('boot').classList.add('error');
});
