// Shared by the node and browser tests: fixture paths and facts read independently of our code
// (node:crypto's X509Certificate, plain text search), so the tests compare the wasm's answers with
// a second opinion rather than with themselves.
import { existsSync, readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { fileURLToPath } from 'node:url';

export const fixtures = fileURLToPath(new URL('./fixtures/', import.meta.url));
export const generated = `${fixtures}generated/`;

export function read(name) {
  return readFileSync(`${fixtures}${name}`, 'utf8');
}

/** Whether every test must run (`REQUIRE_ALL_TESTS` 1/true/yes, set by scripts/test.sh and
 * scripts/test-js.sh; `REQUIRE_GENERATED=1` is the older name). */
export const requireAll = ['REQUIRE_ALL_TESTS', 'REQUIRE_GENERATED'].some((v) =>
  ['1', 'true', 'yes'].includes((process.env[v] ?? '').trim().toLowerCase()),
);

/**
 * The one way a test here says it cannot run: returns `reason` for node:test's `skip` option
 * (node counts and prints it), or throws under REQUIRE_ALL_TESTS, where a missing browser or
 * fixture is a failure. A falsy reason means "runs": returns false.
 */
export function skipBecause(reason) {
  if (!reason) return false;
  if (requireAll) {
    throw new Error(`${reason} (REQUIRE_ALL_TESTS=1: a test that cannot run is a failure)`);
  }
  process.stderr.write(`SKIPPED: ${reason}\n`);
  return reason;
}

/** The generated (real CLI) fixtures, or (`skip`) why they are missing. */
export function generatedFixtures() {
  const names = ['access-token.yaml', 'access-token-1m.yaml', 'link-generate.yaml', 'meta.json'];
  const missing = names.filter((n) => !existsSync(`${generated}${n}`));
  if (missing.length) {
    return {
      skip: skipBecause(
        `generated fixtures missing (${missing.join(', ')}): run \`npm run fixtures\` (test/fixtures/make-generated.sh)`,
      ),
    };
  }
  const text = (n) => readFileSync(`${generated}${n}`, 'utf8');
  return {
    skip: false,
    token: text('access-token.yaml'),
    token1m: text('access-token-1m.yaml'),
    link: text('link-generate.yaml'),
    meta: JSON.parse(text('meta.json')),
  };
}

/** A top-level `key: value` under `metadata.annotations` or `spec` (quotes removed). */
export function yamlScalar(text, key) {
  const m = text.match(new RegExp(`^\\s+${key.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: *(.*)$`, 'm'));
  if (!m) throw new Error(`no ${key} in fixture`);
  return m[1].trim().replace(/^(['"])(.*)\1$/, '$2');
}

/** The PEM under `spec.ca: |` of an AccessToken file. */
export function tokenCaPem(text) {
  const m = text.match(/^ {2}ca: \|\n((?: {4}.*\n)+)/m);
  if (!m) throw new Error('no spec.ca block in fixture');
  return m[1].replace(/^ {4}/gm, '');
}

/** A base64 `data` value of the Secret in a link file, decoded. */
export function secretData(text, key) {
  return Buffer.from(yamlScalar(text, key), 'base64').toString('utf8');
}

/** node:crypto's view of a PEM certificate, in the report's formats. */
export function x509(pem) {
  const c = new X509Certificate(pem);
  const rfc3339 = (s) => new Date(s).toISOString().replace('.000Z', 'Z');
  return {
    fingerprint: c.fingerprint256,
    subject: c.subject.split('\n').reverse().join(','),
    notBefore: rfc3339(c.validFrom),
    notAfter: rfc3339(c.validTo),
  };
}

export const unix = (rfc3339) => Date.parse(rfc3339) / 1000;
