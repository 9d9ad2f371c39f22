// The public functions, over the raw wasm-bindgen exports of wasm/web (skupper-web).
// This layer only adapts types: text and clock in, parsed JSON out. Every rule (what a token is,
// when it expires, what to warn about, what to redact) lives in the Rust core.

const decoder = new TextDecoder('utf-8', { fatal: false });

/** Text from a string or bytes (UTF-8). */
function asText(input, fn) {
  if (typeof input === 'string') return input;
  if (input instanceof Uint8Array) return decoder.decode(input);
  if (input instanceof ArrayBuffer) return decoder.decode(new Uint8Array(input));
  throw new TypeError(`${fn}: text must be a string, Uint8Array or ArrayBuffer (got ${describe(input)})`);
}

/** Milliseconds since the epoch from a Date, a number, or the current clock. */
function asMillis(now) {
  if (now === undefined) return Date.now();
  const ms = now instanceof Date ? now.getTime() : now;
  if (typeof ms !== 'number' || !Number.isFinite(ms)) {
    throw new TypeError(`inspect: now must be a Date or milliseconds since the epoch (got ${describe(now)})`);
  }
  return ms;
}

function describe(v) {
  if (v === null) return 'null';
  if (v instanceof Date) return 'an invalid Date';
  return typeof v === 'object' ? (v.constructor?.name ?? 'object') : `${typeof v} ${String(v)}`;
}

/**
 * Builds the public API over the raw bindings (`inspect`, `redact`, `validateLink`,
 * `humanizeSeconds` of the wasm-bindgen module, already initialised).
 */
export function createApi(raw) {
  return Object.freeze({
    /** Report on a token or link file as seen at `now` (default: this machine's clock). */
    inspect(text, now) {
      return JSON.parse(raw.inspect(asText(text, 'inspect'), asMillis(now)));
    },
    /** The same text as YAML with grant codes, private keys and passwords replaced. Throws on unparsable text. */
    redact(text) {
      return raw.redact(asText(text, 'redact'));
    },
    /** Link validation by the core's rules; `settings`: `{ edgeSite?: boolean }`. */
    validateLink(text, settings = {}) {
      if (settings === null || typeof settings !== 'object' || Array.isArray(settings)) {
        throw new TypeError(`validateLink: settings must be an object like { edgeSite: false } (got ${describe(settings)})`);
      }
      return JSON.parse(raw.validateLink(asText(text, 'validateLink'), JSON.stringify(settings)));
    },
    /** `12m 30s`, `3h 5m`, `2d 4h` for a number of seconds (the sign is ignored), as the CLI prints it. */
    humanizeSeconds(seconds) {
      if (typeof seconds !== 'number' || !Number.isFinite(seconds)) {
        throw new TypeError(`humanizeSeconds: seconds must be a finite number (got ${describe(seconds)})`);
      }
      return raw.humanizeSeconds(seconds);
    },
  });
}
