// The package's public surface (index.js) on real files: tokens and a link file made by our CLI
// (test/fixtures/generated, see make-generated.sh) and committed upstream-format samples.
// Every clock is passed explicitly, so nothing here depends on when it runs.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as pkg from '../index.js';
import { inspect, redact, validateLink, humanizeSeconds } from '../index.js';
import { generatedFixtures, read, secretData, tokenCaPem, unix, x509, yamlScalar } from './helpers.mjs';

// Skips are per test (node counts skipped tests, not skipped suites); generatedFixtures() throws
// instead under REQUIRE_ALL_TESTS.
const gen = generatedFixtures();
const samples = JSON.parse(read('samples.json'));
const ANN = 'kubectl-skupper.io/';
const codes = (report) => report.warnings.map((w) => w.code);
const at = (rfc3339, deltaSeconds = 0) => Date.parse(rfc3339) + deltaSeconds * 1000;

describe('a token issued by `kubectl-skupper token issue`', () => {
  test('is an AccessToken whose URL, CA and advisory times match the file', { skip: gen.skip }, () => {
    const issued = yamlScalar(gen.token, `${ANN}issued-at`);
    const expires = yamlScalar(gen.token, `${ANN}expires-at`);
    const r = inspect(gen.token, at(issued, 60));
    assert.equal(r.kind.type, 'accessToken');
    assert.equal(r.name, yamlScalar(gen.token, 'name'));
    assert.equal(r.url.url, yamlScalar(gen.token, 'url'));
    assert.equal(r.url.host, gen.meta.host);
    assert.equal(r.url.scheme, 'https');
    assert.equal(r.url.hostClass, 'loopback');
    assert.equal(r.linkCost, 1);
    assert.equal(r.redemptionsAllowed, 1);
    assert.equal(r.issuerSite, 'west');
    assert.equal(r.grantName, r.name);
    assert.equal(r.issuedAt.rfc3339, issued);
    assert.equal(r.expiresAt.rfc3339, expires);
    assert.equal(r.expirySource, 'annotation');
    assert.equal(unix(expires) - unix(issued), 15 * 60, 'the CLI default window is 15m');
    assert.equal(r.state, 'valid');
    assert.equal(r.secondsLeft, 14 * 60);
    const ca = x509(tokenCaPem(gen.token));
    assert.equal(r.ca.sha256Fingerprint, ca.fingerprint);
    assert.equal(r.ca.subject, ca.subject);
    assert.equal(r.ca.notAfter.rfc3339, ca.notAfter);
    assert.equal(r.ca.isCa, true);
    assert.ok(codes(r).includes('loopback-host'), `warnings: ${codes(r)}`);
    assert.equal(r.code.length, yamlScalar(gen.token, 'code').length);
    assert.deepEqual(r.redactions, ['/0/spec/code']);
  });

  test('counts down to EXPIRES SOON and EXPIRED by the clock it is given', { skip: gen.skip }, () => {
    const expires = yamlScalar(gen.token, `${ANN}expires-at`);
    const soon = inspect(gen.token, at(expires, -90));
    assert.equal(soon.state, 'expiresSoon');
    assert.equal(soon.secondsLeft, 90);
    assert.ok(codes(soon).includes('expires-soon'));
    const gone = inspect(gen.token, new Date(at(expires, 5)));
    assert.equal(gone.state, 'expired');
    assert.equal(gone.secondsLeft, -5);
    assert.ok(codes(gone).includes('expired'));
    assert.equal(gone.now.rfc3339, new Date(at(expires, 5)).toISOString().replace('.000Z', 'Z'));
  });

  test('a 1m window with 3 redemptions and cost 4 is reported as such', { skip: gen.skip }, () => {
    const issued = yamlScalar(gen.token1m, `${ANN}issued-at`);
    const r = inspect(gen.token1m, at(issued));
    assert.equal(r.state, 'expiresSoon', 'a one-minute token is within the two-minute warning from the start');
    assert.equal(r.secondsLeft, 60);
    assert.equal(r.redemptionsAllowed, 3);
    assert.equal(r.linkCost, 4);
    assert.equal(humanizeSeconds(r.secondsLeft), '1m 0s');
  });

  test('redaction removes the code and keeps everything the report needs', { skip: gen.skip }, () => {
    const code = yamlScalar(gen.token, 'code');
    const red = redact(gen.token);
    assert.ok(!red.includes(code), 'the code must be gone');
    assert.match(red, /code: <redacted>/);
    const issued = yamlScalar(gen.token, `${ANN}issued-at`);
    const before = inspect(gen.token, at(issued));
    const after = inspect(red, at(issued));
    assert.equal(after.kind.type, 'accessToken');
    assert.equal(after.ca.sha256Fingerprint, before.ca.sha256Fingerprint);
    assert.equal(after.expiresAt.rfc3339, before.expiresAt.rfc3339);
    assert.equal(after.url.url, before.url.url);
  });
});

describe('a link file from `kubectl-skupper link generate`', () => {
  test('is a static link with a private key, its cost, CA and client certificate', { skip: gen.skip }, () => {
    const client = x509(secretData(gen.link, 'tls.crt'));
    const ca = x509(secretData(gen.link, 'ca.crt'));
    const r = inspect(gen.link, at(client.notBefore, 3600));
    assert.equal(r.kind.type, 'staticLink');
    assert.equal(r.privateKeyPresent, true);
    assert.ok(codes(r).includes('private-key'));
    assert.equal(r.links.length, 1);
    assert.equal(r.links[0].effectiveCost, 2);
    assert.equal(r.links[0].tlsCredentials, r.secret.name);
    assert.deepEqual(r.links[0].endpoints.map((e) => [e.name, e.host]), [
      ['inter-router', gen.meta.host],
      ['edge', gen.meta.host],
    ]);
    assert.equal(r.ca.sha256Fingerprint, ca.fingerprint);
    assert.equal(r.clientCert.subject, client.subject);
    assert.equal(r.clientCertIssuedByCa, true);
    assert.equal(r.expirySource, 'clientCertificate');
    assert.equal(r.expiresAt.rfc3339, client.notAfter);
    assert.equal(r.state, 'valid');
    assert.deepEqual(r.redactions, ['/1/data/tls.key']);
  });

  test('passes Link validation, and its Secret is what makes it pass', { skip: gen.skip }, () => {
    const v = validateLink(gen.link);
    assert.equal(v.ok, true, JSON.stringify(v));
    assert.equal(v.links[0].name, 'link-west-skupper-router');
    const renamed = gen.link.replace(/^ {2}name: link-west$/m, '  name: some-other-secret');
    assert.notEqual(renamed, gen.link);
    const broken = validateLink(renamed);
    assert.equal(broken.ok, false);
    assert.ok(broken.links[0].errors.some((e) => e.field === 'spec.tlsCredentials'), JSON.stringify(broken));
  });

  test('redaction removes the private key and only the private key', { skip: gen.skip }, () => {
    const red = redact(gen.link);
    const key = yamlScalar(gen.link, 'tls.key');
    assert.ok(!red.includes(key));
    assert.ok(red.includes(yamlScalar(gen.link, 'tls.crt')), 'certificates are public and stay');
    assert.match(red, /tls\.key: <redacted>/);
    const now = Date.parse(inspect(gen.link).clientCert.notBefore.rfc3339) + 60_000;
    const after = inspect(red, now);
    assert.equal(after.kind.type, 'staticLink');
    assert.equal(after.privateKeyPresent, false, 'no key is left to find');
    assert.equal(after.ca.sha256Fingerprint, inspect(gen.link, now).ca.sha256Fingerprint);
  });
});

describe('upstream-format samples', () => {
  test('a stock AccessToken has no expiry: state unknown with the reason', () => {
    const r = inspect(read('upstream-access-token.yaml'), at(samples.grantCa.notBefore, 86400));
    assert.equal(r.kind.type, 'accessToken');
    assert.equal(r.state, 'unknown');
    assert.equal(r.secondsLeft, null);
    assert.equal(r.expiresAt, null);
    assert.deepEqual(codes(r), ['expiry-unknown']);
    assert.equal(r.url.port, 9090);
    assert.equal(r.url.hostClass, 'publicDns');
    assert.equal(r.ca.subject, samples.grantCa.subject);
    assert.equal(r.ca.sha256Fingerprint, samples.grantCa.sha256);
    assert.equal(r.ca.sha256Fingerprint, x509(tokenCaPem(read('upstream-access-token.yaml'))).fingerprint);
    assert.equal(r.ca.keyAlgorithm, 'RSA 2048');
  });

  test('an AccessToken whose advisory expiry has passed is EXPIRED', () => {
    const r = inspect(read('expired-token.yaml'));
    assert.equal(r.state, 'expired');
    assert.ok(r.secondsLeft < 0);
    assert.equal(r.expiresAt.rfc3339, '2025-03-01T12:15:00Z');
    assert.ok(codes(r).includes('expired'));
    assert.equal(inspect(read('expired-token.yaml'), at('2025-03-01T12:14:00Z')).state, 'expiresSoon');
  });

  test('a `link generate` sample with openssl certificates', () => {
    const text = read('link-generate.yaml');
    const r = inspect(text, at(samples.linkClient.notBefore, 60));
    assert.equal(r.kind.type, 'staticLink');
    assert.equal(r.ca.sha256Fingerprint, samples.siteCa.sha256);
    assert.equal(r.clientCert.subject, samples.linkClient.subject);
    assert.equal(r.links[0].endpoints[0].hostClass, 'privateIp');
    assert.equal(r.links[0].endpoints[0].port, '55671');
    assert.ok(!redact(text).includes(samples.privateKeyBase64));
    assert.equal(validateLink(text).ok, true);
  });

  test('JSON input reads like YAML input', () => {
    const yaml = read('upstream-access-token.yaml');
    const doc = {
      apiVersion: 'skupper.io/v2alpha1',
      kind: 'AccessToken',
      metadata: { name: yamlScalar(yaml, 'name') },
      spec: { ca: tokenCaPem(yaml), code: samples.codes[0], linkCost: 1, url: yamlScalar(yaml, 'url') },
    };
    const now = at(samples.grantCa.notBefore, 60);
    assert.deepEqual(inspect(JSON.stringify(doc, null, 2), now), inspect(yaml, now));
  });
});

describe('bad input never throws from inspect', () => {
  test('a YAML error is a notAToken report with line and column', () => {
    const r = inspect('apiVersion: skupper.io/v2alpha1\nkind: AccessToken\nspec:\n  url: [oops\n', 0);
    assert.equal(r.kind.type, 'notAToken');
    assert.match(r.kind.reason, /^not valid YAML/);
    assert.equal(typeof r.parseError.line, 'number');
    assert.equal(typeof r.parseError.column, 'number');
    assert.equal(r.state, 'unknown');
    assert.deepEqual(codes(r), ['parse-error']);
  });

  test('other kinds and empty input say what they are', () => {
    assert.match(inspect('apiVersion: v1\nkind: ConfigMap\n', 0).kind.reason, /ConfigMap/);
    assert.match(inspect('', 0).kind.reason, /no document/);
    const grant = inspect('apiVersion: skupper.io/v2alpha1\nkind: AccessGrant\nmetadata: {name: g}\n', 0);
    assert.match(grant.kind.reason, /AccessGrant/);
  });

  test('arbitrary bytes give a report, not an exception or a trap', () => {
    let seed = 42; // deterministic xorshift, so a failure is reproducible
    const next = () => ((seed ^= seed << 13), (seed ^= seed >>> 17), (seed ^= seed << 5), seed >>> 0);
    const pieces = ['apiVersion: ', 'kind: AccessToken', '\n', '  ', '- ', '{', '}', '[', ']', ':', '"', "'", '!!', '&a', '*a', '---\n', '\t', '\u0000', 'é', '-----BEGIN CERTIFICATE-----'];
    for (let i = 0; i < 300; i++) {
      let text = '';
      const n = next() % 40;
      for (let j = 0; j < n; j++) text += pieces[next() % pieces.length];
      const r = inspect(text, 0);
      assert.ok(['accessToken', 'staticLink', 'v1Secret', 'notAToken'].includes(r.kind.type), text);
    }
    const bytes = new Uint8Array(4096).map(() => next() & 0xff);
    assert.equal(inspect(bytes, 0).kind.type, 'notAToken');
  });

  test('redact refuses text it cannot parse instead of returning it', () => {
    assert.throws(() => redact('code: [unterminated'), /cannot redact: not valid YAML.* at line \d+; fix the text/);
  });
});

describe('the API checks its arguments', () => {
  test('text may be a string, Uint8Array or ArrayBuffer; nothing else', () => {
    const text = read('expired-token.yaml');
    const now = at('2025-03-01T12:10:00Z');
    const bytes = new TextEncoder().encode(text);
    assert.deepEqual(inspect(bytes, now), inspect(text, now));
    assert.deepEqual(inspect(bytes.buffer, now), inspect(text, now));
    assert.throws(() => inspect(42, now), { name: 'TypeError', message: /text must be a string/ });
    assert.throws(() => redact(null), TypeError);
  });

  test('now may be a Date or milliseconds; NaN and strings are refused', () => {
    const text = read('expired-token.yaml');
    const ms = at('2025-03-01T12:10:00Z');
    assert.deepEqual(inspect(text, new Date(ms)), inspect(text, ms));
    assert.throws(() => inspect(text, NaN), { name: 'TypeError', message: /now must be a Date or milliseconds/ });
    assert.throws(() => inspect(text, '2025-03-01'), TypeError);
    assert.throws(() => inspect(text, new Date('nope')), /invalid Date/);
    const live = inspect(text);
    assert.ok(Math.abs(live.now.unix - Date.now() / 1000) < 3600, 'the default clock is Date.now()');
  });

  test('validateLink settings: edgeSite is read, typos are refused', () => {
    const text = read('link-generate.yaml').replace(/ {2}- group: skupper-router\n {4}host: [^\n]*\n {4}name: edge\n {4}port: "45671"\n/, '');
    assert.ok(!text.includes('name: edge'), 'the edge endpoint was removed');
    const interior = validateLink(text, { edgeSite: false });
    const edge = validateLink(text, { edgeSite: true });
    assert.notDeepEqual(edge.links[0], interior.links[0]);
    assert.throws(() => validateLink(text, { edge: true }), /validateLink settings: unknown field `edge`/);
    assert.throws(() => validateLink(text, 'edge'), TypeError);
    assert.equal(validateLink('kind: [').ok, false);
    assert.equal(typeof validateLink('kind: [').problems[0].line, 'number');
  });

  test('humanizeSeconds matches the CLI format', () => {
    assert.equal(humanizeSeconds(750), '12m 30s');
    assert.equal(humanizeSeconds(-45), '45s');
    assert.equal(humanizeSeconds(3 * 3600 + 5 * 60 + 9), '3h 5m');
    assert.equal(humanizeSeconds(2 * 86400 + 4 * 3600), '2d 4h');
    assert.throws(() => humanizeSeconds(Infinity), TypeError);
  });

  test('index.d.ts declares exactly what index.js exports', () => {
    const dts = readFileSync(new URL('../index.d.ts', import.meta.url), 'utf8');
    const declared = [...dts.matchAll(/^export function (\w+)/gm)].map((m) => m[1]).sort();
    assert.deepEqual(Object.keys(pkg).sort(), declared);
  });
});
