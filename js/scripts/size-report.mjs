// Size report (a benchmark, not a test): the wasm module, its JS glue and the single-file page,
// raw / gzip -9 / brotli, against budgets; exits 1 when a budget is exceeded. Also prints how long
// inspect() takes on a real token here, for information only (no time is asserted).
//
//   node scripts/size-report.mjs            human-readable table
//   node scripts/size-report.mjs --json     the same as JSON
// Budgets (bytes, gzip) can be overridden with WASM_GZ_BUDGET / PAGE_GZ_BUDGET.
import { existsSync, readFileSync } from 'node:fs';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';

const js = fileURLToPath(new URL('..', import.meta.url));
const KiB = 1024;
// The module measured 245 KiB gzipped (195 KiB brotli) when the budget was set: about half is
// serde_json/serde_yaml/unsafe-libyaml (core decodes every resource kind through one generic
// `Resource::from_value`, which instantiates ~16 deserializers), a sixth is der/x509-cert. The
// page inlines the module gzipped, so it costs about the module plus 12 KiB.
const budgets = {
  wasm: Number(process.env.WASM_GZ_BUDGET ?? 256 * KiB),
  page: Number(process.env.PAGE_GZ_BUDGET ?? 300 * KiB),
};
const artefacts = [
  { name: 'wasm', path: 'pkg/skupper_web_bg.wasm', budget: budgets.wasm },
  { name: 'glue', path: 'pkg/skupper_web.js' },
  { name: 'page', path: 'dist/token-inspector.html', budget: budgets.page },
];

const rows = [];
for (const a of artefacts) {
  const file = `${js}${a.path}`;
  if (!existsSync(file)) {
    console.error(`size-report: ${a.path} is missing: run npm run build first`);
    process.exit(1);
  }
  const bytes = readFileSync(file);
  const gzip = gzipSync(bytes, { level: 9 }).length;
  const brotli = brotliCompressSync(bytes, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }).length;
  rows.push({ ...a, raw: bytes.length, gzip, brotli, over: a.budget != null && gzip > a.budget });
}

// Speed, for information: median of many inspect() calls on a token made by our CLI when there is
// one, else on the committed upstream sample.
const { inspect } = await import('../index.js');
const generated = `${js}test/fixtures/generated/access-token.yaml`;
const sample = existsSync(generated) ? generated : `${js}test/fixtures/upstream-access-token.yaml`;
const text = readFileSync(sample, 'utf8');
const now = Date.now();
for (let i = 0; i < 50; i++) inspect(text, now); // warm-up
const times = [];
for (let i = 0; i < 300; i++) {
  const t0 = process.hrtime.bigint();
  inspect(text, now);
  times.push(Number(process.hrtime.bigint() - t0) / 1000);
}
times.sort((a, b) => a - b);
const speed = { file: sample.slice(js.length), medianMicros: Math.round(times[150]), p95Micros: Math.round(times[285]) };

if (process.argv.includes('--json')) {
  console.log(JSON.stringify({ artefacts: rows, speed }, null, 2));
} else {
  const kib = (n) => `${(n / KiB).toFixed(1)} KiB`;
  const pad = (s, n) => String(s).padStart(n);
  console.log(`${'artefact'.padEnd(30)}${pad('raw', 12)}${pad('gzip -9', 12)}${pad('brotli', 12)}${pad('budget (gz)', 18)}`);
  for (const r of rows) {
    const verdict = r.budget == null ? '' : `${kib(r.budget)} ${r.over ? 'OVER' : 'ok'}`;
    console.log(`${r.path.padEnd(30)}${pad(kib(r.raw), 12)}${pad(kib(r.gzip), 12)}${pad(kib(r.brotli), 12)}${pad(verdict, 18)}`);
  }
  console.log(`inspect() on ${speed.file}: median ${speed.medianMicros} us, p95 ${speed.p95Micros} us (node ${process.version}, information only)`);
}
const over = rows.filter((r) => r.over);
if (over.length) {
  console.error(`size-report: over budget: ${over.map((r) => `${r.path} ${r.gzip} > ${r.budget} bytes gzipped`).join('; ')}`);
  process.exit(1);
}
