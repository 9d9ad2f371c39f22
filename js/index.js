// @kubectl-skupper/token-inspector: inspect Skupper v2 token and link files offline.
// The kubectl-skupper core (Rust) compiled to WebAssembly; this module loads it once (top-level
// await) and exposes inspect / redact / validateLink / humanizeSeconds. Nothing here touches the
// network except, in a browser served over http(s), fetching the package's own .wasm file.
import init, * as raw from './pkg/skupper_web.js';
import { createApi } from './src/api.js';

const wasmUrl = new URL('./pkg/skupper_web_bg.wasm', import.meta.url);

async function wasmSource() {
  if (wasmUrl.protocol !== 'file:') return wasmUrl; // browsers and bundlers: fetched by the glue
  const { readFile } = await import(/* webpackIgnore: true */ 'node:fs/promises');
  return readFile(wasmUrl);
}

await init({ module_or_path: await wasmSource() });

const api = createApi(raw);

/** @type {typeof import('./index.d.ts').inspect} */
export const inspect = api.inspect;
/** @type {typeof import('./index.d.ts').redact} */
export const redact = api.redact;
/** @type {typeof import('./index.d.ts').validateLink} */
export const validateLink = api.validateLink;
/** @type {typeof import('./index.d.ts').humanizeSeconds} */
export const humanizeSeconds = api.humanizeSeconds;
