// Types of @kubectl-skupper/token-inspector. The report shapes mirror the Rust core's
// `skupper_core::inspect::Report` and `skupper_core::link::Validation` (serde, camelCase).

/** Text of a token or link file: YAML or JSON, one or more documents. Bytes are read as UTF-8. */
export type Input = string | Uint8Array | ArrayBuffer;

/** An instant, as Unix seconds and RFC 3339 (UTC). */
export interface Timestamp {
  unix: number;
  rfc3339: string;
}

/** What the input is. */
export type TokenKind =
  | { type: 'accessToken' }
  | { type: 'staticLink' }
  | { type: 'v1Secret'; tokenType: string }
  | { type: 'notAToken'; reason: string };

/** How much time the credential has left (advisory: only the issuing site knows for sure). */
export type ExpiryState = 'valid' | 'expiresSoon' | 'expired' | 'unknown';

/** Where a host can be reached from, judged from its text alone (no DNS lookups). */
export type HostClass =
  | 'loopback'
  | 'unspecified'
  | 'privateIp'
  | 'publicIp'
  | 'clusterInternal'
  | 'shortName'
  | 'publicDns'
  | 'invalid';

/** One thing that looks wrong or deserves attention; `code` is stable (e.g. `plain-http`, `expired`). */
export interface Warning {
  code: string;
  message: string;
}

/** The redemption URL, taken apart. */
export interface UrlInfo {
  url: string;
  scheme: string;
  host: string;
  /** Explicit port, else the scheme's default. */
  port: number | null;
  portExplicit: boolean;
  path: string;
  hostClass: HostClass;
}

/** What an X.509 certificate says. Decoded, not verified. */
export interface CertInfo {
  subject: string;
  issuer: string;
  /** Colon-separated upper-case hex. */
  serial: string;
  notBefore: Timestamp;
  notAfter: Timestamp;
  /** SHA-256 of the DER encoding, colon-separated upper-case hex. */
  sha256Fingerprint: string;
  selfSigned: boolean;
  isCa: boolean;
  /** e.g. `RSA 2048`, `ECDSA P-256`. */
  keyAlgorithm: string;
  signatureAlgorithm: string;
  dnsNames: string[];
  ipAddresses: string[];
}

/** Length and variety of the grant code (never the code itself). */
export interface CodeInfo {
  length: number;
  distinctCharacters: number;
}

/** A finding of the Link validator. */
export interface Finding {
  /** Field path, e.g. `spec.endpoints[0].port` (empty when the document could not be read). */
  field: string;
  message: string;
}

export interface EndpointInfo {
  name: string;
  host: string;
  port: string;
  group: string;
  hostClass: HostClass;
}

/** One Link of a static link file (`link generate`). */
export interface LinkInfo {
  name: string;
  cost: number;
  effectiveCost: number;
  tlsCredentials: string;
  endpoints: EndpointInfo[];
  settings: Record<string, string>;
  errors: Finding[];
  warnings: Finding[];
}

export interface SecretInfo {
  name: string;
  type: string;
  keys: string[];
}

/** Where text that could not be parsed went wrong (1-based). */
export interface ParseError {
  message: string;
  line?: number;
  column?: number;
}

/** Everything `inspect` found. */
export interface Report {
  kind: TokenKind;
  name: string | null;
  apiVersion: string | null;
  documents: number;
  /** The instant the report was computed for. */
  now: Timestamp;
  url: UrlInfo | null;
  code: CodeInfo | null;
  linkCost: number | null;
  settings: Record<string, string>;
  /** The CA the file trusts (first certificate of `spec.ca` / `ca.crt`). */
  ca: CertInfo | null;
  caCertificates: number;
  links: LinkInfo[];
  secret: SecretInfo | null;
  clientCert: CertInfo | null;
  clientCertIssuedByCa: boolean | null;
  /** A private key is included: the file is a credential. */
  privateKeyPresent: boolean;
  privateKeyFormat: string | null;
  /** Advisory annotation `kubectl-skupper.io/issued-at`, or the client certificate's start. */
  issuedAt: Timestamp | null;
  /** Advisory annotation `kubectl-skupper.io/expires-at`, or the client certificate's end. */
  expiresAt: Timestamp | null;
  expirySource: 'annotation' | 'clientCertificate' | null;
  redemptionsAllowed: number | null;
  grantName: string | null;
  issuerSite: string | null;
  state: ExpiryState;
  /** Seconds until expiry at `now` (negative once expired). */
  secondsLeft: number | null;
  warnings: Warning[];
  /** JSON pointers (into the parsed documents) of the secret values `redact` replaces. */
  redactions: string[];
  /** Present only when the text could not be parsed (then `kind.type` is `notAToken`). */
  parseError?: ParseError;
}

/** The validation of one Link document. */
export interface LinkResult {
  name: string;
  /** Index of the document in the text (0-based). */
  document: number;
  errors: Finding[];
  warnings: Finding[];
}

export interface LinkValidation {
  /** At least one Link and no errors. */
  ok: boolean;
  links: LinkResult[];
  /** Problems with the text itself: not YAML/JSON, or no Link in it. */
  problems: ParseError[];
}

export interface LinkSettings {
  /** Validate as seen from an edge site (its router uses the `edge` endpoint). Default false. */
  edgeSite?: boolean;
}

/**
 * Inspects a token or link file. `now` (a Date or epoch milliseconds; default `Date.now()`) is
 * the clock expiry is judged against. Never throws for bad text: unparsable input gives a
 * `notAToken` report with `parseError`. Throws `TypeError` for a non-text input or a bad `now`.
 */
export function inspect(text: Input, now?: Date | number): Report;

/**
 * The documents as YAML with grant codes, private keys and passwords replaced by `<redacted>`.
 * Throws an `Error` (naming the line) when the text cannot be parsed.
 */
export function redact(text: Input): string;

/**
 * Validates every Link in the text by the same rules as the CLI and the admission policy.
 * Secrets in the same text are checked as the Link's TLS Secret; Links against each other.
 */
export function validateLink(text: Input, settings?: LinkSettings): LinkValidation;

/** `12m 30s`, `3h 5m`, `2d 4h`, `45s` (the sign is ignored). */
export function humanizeSeconds(seconds: number): string;
