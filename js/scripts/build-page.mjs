// Builds js/dist/token-inspector.html: page/index.html with page/app.js bundled (esbuild, one
// classic inline script) and the wasm module inlined, so the one file works opened from disk
// (file:// cannot load modules or fetch files) and needs nothing else. The module is inlined
// gzipped, then base64 (`import ... from 'inline-wasm-gzip'`); the page inflates it with
// DecompressionStream: a third of the size of plain base64, and smaller even once the page is
// served gzipped.
// Needs js/pkg from scripts/build-wasm.sh.
import { build } from 'esbuild';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const js = fileURLToPath(new URL('..', import.meta.url));
const wasm = `${js}pkg/skupper_web_bg.wasm`;
const out = `${js}dist/token-inspector.html`;

if (!existsSync(wasm)) {
  console.error(`build-page: ${wasm} is missing: run scripts/build-wasm.sh (or npm run build) first`);
  process.exit(1);
}

const bundle = await build({
  entryPoints: [`${js}page/app.js`],
  bundle: true,
  format: 'iife',
  platform: 'browser',
  target: ['chrome100', 'firefox100', 'safari15'],
  minify: true,
  legalComments: 'none',
  charset: 'utf8',
  write: false,
  plugins: [
    {
      name: 'inline-wasm-gzip',
      setup(b) {
        b.onResolve({ filter: /^inline-wasm-gzip$/ }, () => ({ path: wasm, namespace: 'inline-wasm-gzip' }));
        b.onLoad({ filter: /.*/, namespace: 'inline-wasm-gzip' }, () => ({
          contents: gzipSync(readFileSync(wasm), { level: 9 }),
          loader: 'base64',
        }));
      },
    },
  ],
  // The glue's default init path builds a URL from import.meta.url; the page passes the bytes
  // itself, so that path never runs.
  logOverride: { 'empty-import-meta': 'silent' },
});
const script = bundle.outputFiles[0].text;
if (/<\/script/i.test(script) || script.includes('<!--')) {
  console.error('build-page: the bundle contains "</script" or "<!--", which would break the inline script');
  process.exit(1);
}

const template = readFileSync(`${js}page/index.html`, 'utf8');
const marker = '<!-- app -->';
if (template.split(marker).length !== 2) {
  console.error(`build-page: page/index.html must contain ${marker} exactly once`);
  process.exit(1);
}
const html = template.replace(marker, () => `<script>${script}</script>`);

mkdirSync(`${js}dist`, { recursive: true });
writeFileSync(`${out}.tmp`, html);
renameSync(`${out}.tmp`, out);
console.error(`build-page: wrote ${out} (${html.length} bytes)`);
