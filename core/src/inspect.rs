//! Offline inspection of a token or link file: what it is, where it points, which CA it trusts,
//! when it expires and what looks wrong, without any network access or clock of its own.
//!
//! Decoding is not verifying: nothing here can tell whether a grant still exists or has
//! redemptions left (only the issuing site knows), and certificate signatures are not checked.
//! Input is a list of documents already decoded by the caller (a YAML stream turned into JSON
//! values); the [`Report`] is deterministic for a given input and `now`.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::Digest as _;
use x509_cert::Certificate;
use x509_cert::der::asn1::{AnyRef, UintRef};
use x509_cert::der::oid::ObjectIdentifier;
use x509_cert::der::{Decode, SliceReader};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{BasicConstraints, SubjectAltName};

use crate::grant::{
    ANNOTATION_EXPIRES_AT, ANNOTATION_GRANT_NAME, ANNOTATION_ISSUED_AT, ANNOTATION_ISSUER_SITE,
    ANNOTATION_REDEMPTIONS_ALLOWED,
};
use crate::link::{Finding, LinkContext, validate_link};
use crate::names::{HostClass, classify_host};
use crate::resources::{API_VERSION, AccessToken, Link, Secret, V1};
use crate::time::{format_rfc3339, parse_rfc3339};

/// A token with less than this many seconds left is reported as [`ExpiryState::ExpiresSoon`].
pub const EXPIRES_SOON_SECS: i64 = 120;
/// Codes shorter than this are reported as weak (upstream codes have 24 characters).
pub const MIN_CODE_LEN: usize = 16;
/// Codes with fewer distinct characters than this are reported as weak.
pub const MIN_CODE_DISTINCT: usize = 8;
/// The text that replaces secret values in [`redact`].
pub const REDACTED: &str = "<redacted>";

/// What the input is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum TokenKind {
    /// A `skupper.io/v2alpha1` AccessToken (redeemed over HTTPS for link credentials).
    AccessToken,
    /// Links plus their TLS Secret, as printed by `link generate` (a credential in itself).
    StaticLink,
    /// A Skupper v1 token Secret (`skupper.io/type: connection-token` or `token-claim`).
    V1Secret {
        /// The v1 token type label.
        token_type: String,
    },
    /// Anything else.
    NotAToken {
        /// What it is instead, and what to do.
        reason: String,
    },
}

/// How much time the credential has left.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ExpiryState {
    /// More than [`EXPIRES_SOON_SECS`] left.
    Valid,
    /// Less than [`EXPIRES_SOON_SECS`] left.
    ExpiresSoon,
    /// Past its expiry.
    Expired,
    /// The input does not say when it expires.
    Unknown,
}

/// An instant, as Unix seconds and RFC 3339.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Timestamp {
    /// Unix seconds.
    pub unix: i64,
    /// RFC 3339, UTC.
    pub rfc3339: String,
}

impl Timestamp {
    /// The instant `unix`.
    pub fn new(unix: i64) -> Self {
        Self { unix, rfc3339: format_rfc3339(unix) }
    }
}

/// One thing that looks wrong or deserves attention.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Warning {
    /// Stable machine-readable code, e.g. `plain-http`.
    pub code: String,
    /// What it means and what to do.
    pub message: String,
}

/// The redemption URL, taken apart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UrlInfo {
    /// The URL as written.
    pub url: String,
    /// Scheme, lower case.
    pub scheme: String,
    /// Host without IPv6 brackets.
    pub host: String,
    /// Port: explicit, else the scheme's default (443/80).
    pub port: Option<u16>,
    /// Whether the port was written in the URL.
    pub port_explicit: bool,
    /// Path (the grant's id on upstream servers).
    pub path: String,
    /// Where the host can be reached from.
    pub host_class: HostClass,
}

/// What an X.509 certificate says (not verified).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CertInfo {
    /// Subject DN (RFC 4514).
    pub subject: String,
    /// Issuer DN (RFC 4514).
    pub issuer: String,
    /// Serial number, colon-separated upper-case hex.
    pub serial: String,
    /// Start of validity.
    pub not_before: Timestamp,
    /// End of validity.
    pub not_after: Timestamp,
    /// SHA-256 of the DER encoding, colon-separated upper-case hex.
    pub sha256_fingerprint: String,
    /// Issuer DN equals subject DN.
    pub self_signed: bool,
    /// Basic constraints say it is a CA.
    pub is_ca: bool,
    /// Key algorithm and size, e.g. `RSA 2048`, `ECDSA P-256`, `Ed25519`.
    pub key_algorithm: String,
    /// Signature algorithm, e.g. `sha256WithRSAEncryption`.
    pub signature_algorithm: String,
    /// DNS subject alternative names.
    pub dns_names: Vec<String>,
    /// IP subject alternative names.
    pub ip_addresses: Vec<String>,
}

/// Length and variety of a grant code (never the code itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CodeInfo {
    /// Characters.
    pub length: usize,
    /// Distinct characters.
    pub distinct_characters: usize,
}

/// One endpoint of a Link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointInfo {
    /// Role (`inter-router` / `edge`).
    pub name: String,
    /// Host.
    pub host: String,
    /// Port text.
    pub port: String,
    /// Router group.
    pub group: String,
    /// Where the host can be reached from.
    pub host_class: HostClass,
}

/// One Link of a static link file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinkInfo {
    /// Link name.
    pub name: String,
    /// `spec.cost` as written.
    pub cost: i64,
    /// The cost the router uses.
    pub effective_cost: u32,
    /// Secret name.
    pub tls_credentials: String,
    /// Endpoints.
    pub endpoints: Vec<EndpointInfo>,
    /// Settings.
    pub settings: BTreeMap<String, String>,
    /// Validation errors (Secret existence in the target namespace is not checked).
    pub errors: Vec<Finding>,
    /// Validation warnings.
    pub warnings: Vec<Finding>,
}

/// The TLS Secret of a static link (or a v1 token Secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretInfo {
    /// Secret name.
    pub name: String,
    /// Secret type.
    #[serde(rename = "type")]
    pub type_: String,
    /// Keys present in `data` and `stringData`, sorted.
    pub keys: Vec<String>,
}

/// Everything [`inspect`] found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// What the input is.
    pub kind: TokenKind,
    /// `metadata.name` of the token, or of the first Link.
    pub name: Option<String>,
    /// `apiVersion` of that document.
    pub api_version: Option<String>,
    /// Non-empty documents in the input.
    pub documents: usize,
    /// The instant the report was computed for (the caller's clock).
    pub now: Timestamp,
    /// Redemption URL (AccessToken, v1 claim).
    pub url: Option<UrlInfo>,
    /// The code's shape (AccessToken, v1 claim).
    pub code: Option<CodeInfo>,
    /// `spec.linkCost` of an AccessToken.
    pub link_cost: Option<i64>,
    /// `spec.settings` of an AccessToken.
    pub settings: BTreeMap<String, String>,
    /// The CA the file trusts (first certificate of `spec.ca` or `ca.crt`).
    pub ca: Option<CertInfo>,
    /// Certificates found in the CA PEM.
    pub ca_certificates: usize,
    /// Links of a static link file.
    pub links: Vec<LinkInfo>,
    /// The TLS Secret of a static link file or v1 token.
    pub secret: Option<SecretInfo>,
    /// The client certificate (`tls.crt`).
    pub client_cert: Option<CertInfo>,
    /// Whether the client certificate's issuer DN is the CA's subject DN.
    pub client_cert_issued_by_ca: Option<bool>,
    /// Whether a private key (`tls.key`) is included: the file is then a credential.
    pub private_key_present: bool,
    /// PEM label of the private key, e.g. `RSA PRIVATE KEY`.
    pub private_key_format: Option<String>,
    /// Issue time: advisory annotation, or the client certificate's start.
    pub issued_at: Option<Timestamp>,
    /// Expiry: advisory annotation, or the client certificate's end.
    pub expires_at: Option<Timestamp>,
    /// Where the expiry comes from: `annotation` or `clientCertificate`.
    pub expiry_source: Option<String>,
    /// Advisory redemptions allowed.
    pub redemptions_allowed: Option<i64>,
    /// Advisory grant name.
    pub grant_name: Option<String>,
    /// Advisory issuing site.
    pub issuer_site: Option<String>,
    /// Time state.
    pub state: ExpiryState,
    /// Seconds until expiry (negative once expired).
    pub seconds_left: Option<i64>,
    /// Findings, in a fixed order.
    pub warnings: Vec<Warning>,
    /// JSON pointers (into the input document list) of secret values, e.g. `/0/spec/code`.
    pub redactions: Vec<String>,
}

impl Report {
    fn new(now: i64) -> Self {
        Self {
            kind: TokenKind::NotAToken { reason: String::new() },
            name: None,
            api_version: None,
            documents: 0,
            now: Timestamp::new(now),
            url: None,
            code: None,
            link_cost: None,
            settings: BTreeMap::new(),
            ca: None,
            ca_certificates: 0,
            links: Vec::new(),
            secret: None,
            client_cert: None,
            client_cert_issued_by_ca: None,
            private_key_present: false,
            private_key_format: None,
            issued_at: None,
            expires_at: None,
            expiry_source: None,
            redemptions_allowed: None,
            grant_name: None,
            issuer_site: None,
            state: ExpiryState::Unknown,
            seconds_left: None,
            warnings: Vec::new(),
            redactions: Vec::new(),
        }
    }

    fn warn(&mut self, code: &str, message: impl Into<String>) {
        self.warnings.push(Warning { code: code.into(), message: message.into() });
    }

    /// Whether a warning with this code was reported.
    pub fn has_warning(&self, code: &str) -> bool {
        self.warnings.iter().any(|w| w.code == code)
    }
}

/// `12m 30s`, `3h 5m`, `2d 4h`, `45s` for a number of seconds (sign ignored).
pub fn humanize_secs(secs: i64) -> String {
    let s = secs.unsigned_abs();
    let (d, h, m, sec) = (s / 86_400, s % 86_400 / 3600, s % 3600 / 60, s % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{sec}s"),
        (0, 0, _) => format!("{m}m {sec}s"),
        (0, _, _) => format!("{h}h {m}m"),
        _ => format!("{d}d {h}h"),
    }
}

fn get<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |cur, k| cur.as_object()?.get(*k))
}

fn get_str<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    get(v, path)?.as_str()
}

fn kind_of(v: &Value) -> (&str, &str) {
    (get_str(v, &["apiVersion"]).unwrap_or(""), get_str(v, &["kind"]).unwrap_or(""))
}

fn string_map(v: Option<&Value>) -> BTreeMap<String, String> {
    v.and_then(Value::as_object)
        .map(|m| m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string()))).collect())
        .unwrap_or_default()
}

fn colon_hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 3);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            s.push(':');
        }
        s.push_str(&format!("{b:02X}"));
    }
    s
}

/// Escapes a JSON-pointer token (RFC 6901).
fn pointer_token(k: &str) -> String {
    k.replace('~', "~0").replace('/', "~1")
}

fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    k.ends_with(".key") || k.contains("password") || k.contains("token") || k.contains("secret") || k == "code"
}

/// Secret values per document: `(document index, pointer inside the document)`.
fn secret_pointers(docs: &[Value]) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (i, d) in docs.iter().enumerate() {
        match kind_of(d).1 {
            "AccessToken" | "AccessGrant" => {
                for (path, ptr) in [(["spec", "code"], "/spec/code"), (["status", "code"], "/status/code")] {
                    if get(d, &path).is_some_and(|c| !c.is_null()) {
                        out.push((i, ptr.to_string()));
                    }
                }
            }
            "Secret" => {
                for field in ["data", "stringData"] {
                    if let Some(m) = get(d, &[field]).and_then(Value::as_object) {
                        for k in m.keys().filter(|k| is_secret_key(k)) {
                            out.push((i, format!("/{field}/{}", pointer_token(k))));
                        }
                    }
                }
            }
            _ => {}
        }
    }
    out.sort();
    out
}

/// The documents with every secret value (grant codes, private keys, passwords) replaced by
/// [`REDACTED`]; the same values [`Report::redactions`] lists.
pub fn redact(docs: &[Value]) -> Vec<Value> {
    let mut out = docs.to_vec();
    for (i, ptr) in secret_pointers(docs) {
        if let Some(v) = out.get_mut(i).and_then(|d| d.pointer_mut(&ptr)) {
            *v = Value::String(REDACTED.into());
        }
    }
    out
}

/// Inspects a token or link file at `now_unix` (the caller's clock).
pub fn inspect(docs: &[Value], now_unix: i64) -> Report {
    let mut r = Report::new(now_unix);
    r.redactions = secret_pointers(docs).into_iter().map(|(i, p)| format!("/{i}{p}")).collect();
    let present: Vec<(usize, &Value)> = docs.iter().enumerate().filter(|(_, d)| !d.is_null()).collect();
    r.documents = present.len();
    if present.is_empty() {
        r.kind = TokenKind::NotAToken {
            reason: "the input holds no document: give a token file (AccessToken) or a link file (Link and Secret)"
                .into(),
        };
        return r;
    }
    for (i, d) in &present {
        if !d.is_object() {
            r.warn("parse-error", format!("document {} is not a mapping and was skipped", i + 1));
        }
    }
    let of_kind =
        |k: &str| -> Vec<(usize, &Value)> { present.iter().copied().filter(|(_, d)| kind_of(d).1 == k).collect() };
    let tokens = of_kind("AccessToken");
    let links = of_kind("Link");
    let secrets = of_kind("Secret");
    let v1 = secrets.iter().copied().find(|(_, s)| v1_type(s).is_some());
    let mut used: BTreeSet<usize> = BTreeSet::new();
    if let Some(&(i, doc)) = tokens.first() {
        used.insert(i);
        if tokens.len() > 1 {
            r.warn(
                "several-tokens",
                format!("the input holds {} AccessTokens; only the first is inspected", tokens.len()),
            );
        }
        access_token(&mut r, doc, now_unix);
    } else if !links.is_empty() {
        used.extend(static_link(&mut r, &links, &secrets, now_unix));
    } else if let Some((i, doc)) = v1 {
        used.insert(i);
        v1_secret(&mut r, doc, now_unix);
    } else {
        let (api, kind) = present.first().map(|(_, d)| kind_of(d)).unwrap_or(("", ""));
        let reason = match kind {
            "AccessGrant" => "this is an AccessGrant, the issuing site's record of a token; the token file is \
                              written by `kubectl skupper token issue <file>`"
                .to_string(),
            "Secret" => "a Secret without a Link: a static link file holds Link documents and their TLS Secret \
                         (`kubectl skupper link generate`)"
                .to_string(),
            "" => "no document has a `kind`: this is not a Kubernetes resource".to_string(),
            k => format!("kind {k} (apiVersion {api:?}) is not a token or a link"),
        };
        r.kind = TokenKind::NotAToken { reason };
        return r;
    }
    for &(i, d) in &present {
        if d.is_object() && !used.contains(&i) {
            let (_, kind) = kind_of(d);
            r.warn("extra-documents", format!("document {} ({kind}) is not part of the token and was ignored", i + 1));
        }
    }
    for &i in &used {
        if let Some(d) = docs.get(i) {
            unknown_fields(&mut r, d, i, docs.len() > 1);
            if let Err(e) = decode_used(d) {
                r.warn("parse-error", format!("document {}: {e}", i + 1));
            }
        }
    }
    finish_time(&mut r, now_unix);
    r
}

/// Checks that a document the report used decodes as its kind. Only the three kinds a token or a
/// link file holds are decoded here: going through `Resource::from_value` would pull every
/// kind's decoder into the browser's Wasm module (about 120 KiB).
fn decode_used(d: &Value) -> Result<(), String> {
    fn de<T: serde::de::DeserializeOwned>(d: &Value) -> Result<(), String> {
        serde_json::from_value::<T>(d.clone()).map(drop).map_err(|e| e.to_string())
    }
    match d.get("kind").and_then(Value::as_str) {
        Some("AccessToken") => de::<AccessToken>(d),
        Some("Link") => de::<Link>(d),
        Some("Secret") => de::<Secret>(d),
        _ => Ok(()),
    }
}

fn v1_type(secret: &Value) -> Option<&str> {
    get_str(secret, &["metadata", "labels", "skupper.io/type"])
        .filter(|t| matches!(*t, "connection-token" | "token-claim"))
}

fn access_token(r: &mut Report, doc: &Value, now: i64) {
    r.kind = TokenKind::AccessToken;
    r.name = get_str(doc, &["metadata", "name"]).map(String::from);
    let api = get_str(doc, &["apiVersion"]).unwrap_or("");
    r.api_version = Some(api.into());
    if api != API_VERSION {
        r.warn("api-version", format!("apiVersion {api:?} is not {API_VERSION:?}: the site may not accept this token"));
    }
    if r.name.as_deref().is_none_or(str::is_empty) {
        r.warn("missing-name", "metadata.name is empty: `token redeem` needs it to name the AccessToken");
    }
    match get_str(doc, &["spec", "url"]).filter(|u| !u.is_empty()) {
        Some(url) => analyze_url(r, url),
        None => r.warn("missing-url", "spec.url is empty: the token does not say where to redeem it; get a new token"),
    }
    match get_str(doc, &["spec", "code"]) {
        Some(code) if !code.is_empty() => analyze_code(r, code),
        _ => r.warn("missing-code", "spec.code is empty: the grant server will refuse the token; get a new token"),
    }
    r.link_cost = get(doc, &["spec", "linkCost"]).and_then(Value::as_i64);
    if r.link_cost.is_some_and(|c| c < 0) {
        r.warn("negative-cost", "spec.linkCost is negative: it is ignored and the links get cost 1");
    }
    r.settings = string_map(get(doc, &["spec", "settings"]));
    match get_str(doc, &["spec", "ca"]).filter(|c| !c.trim().is_empty()) {
        Some(ca) => analyze_ca(r, ca.as_bytes(), now),
        None => r.warn(
            "missing-ca",
            "token does not have a CA: the grant server cannot be verified, so redemption fails; get a new token",
        ),
    }
    let ann = |k: &str| get_str(doc, &["metadata", "annotations", k]);
    for (key, slot) in [(ANNOTATION_ISSUED_AT, &mut r.issued_at), (ANNOTATION_EXPIRES_AT, &mut r.expires_at)] {
        if let Some(text) = ann(key) {
            match parse_rfc3339(text) {
                Ok(t) => *slot = Some(Timestamp::new(t)),
                Err(e) => r.warnings.push(Warning { code: "bad-annotation".into(), message: format!("{key}: {e}") }),
            }
        }
    }
    if r.expires_at.is_some() {
        r.expiry_source = Some("annotation".into());
    }
    if let Some(text) = ann(ANNOTATION_REDEMPTIONS_ALLOWED) {
        match text.trim().parse::<i64>() {
            Ok(n) => r.redemptions_allowed = Some(n),
            Err(_) => r.warn("bad-annotation", format!("{ANNOTATION_REDEMPTIONS_ALLOWED}: {text:?} is not a number")),
        }
    }
    r.grant_name = ann(ANNOTATION_GRANT_NAME).map(String::from);
    r.issuer_site = ann(ANNOTATION_ISSUER_SITE).map(String::from);
}

fn analyze_code(r: &mut Report, code: &str) {
    let length = code.chars().count();
    let distinct_characters = code.chars().collect::<BTreeSet<char>>().len();
    r.code = Some(CodeInfo { length, distinct_characters });
    if length < MIN_CODE_LEN || distinct_characters < MIN_CODE_DISTINCT {
        r.warn(
            "weak-code",
            format!(
                "the code is short or repetitive ({length} characters, {distinct_characters} distinct): anyone who \
                 can reach the grant URL could guess it; issue tokens with generated codes"
            ),
        );
    }
}

/// Splits `scheme://[userinfo@]host[:port][/path]`.
fn parse_url(url: &str) -> Result<(String, bool, String, Option<u16>, String), &'static str> {
    let (scheme, rest) = url.split_once("://").ok_or("no scheme (expected https://host:port/id)")?;
    if scheme.is_empty() || !scheme.bytes().all(|c| c.is_ascii_alphanumeric() || b"+-.".contains(&c)) {
        return Err("the scheme is not valid");
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    let (userinfo, hostport) = match authority.rsplit_once('@') {
        Some((_, hp)) => (true, hp),
        None => (false, authority),
    };
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        let (h, after) = v6.split_once(']').ok_or("'[' without ']' in the host")?;
        match after {
            "" => (h, None),
            p => (h, Some(p.strip_prefix(':').ok_or("unexpected text after ']'")?)),
        }
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        }
    };
    if host.is_empty() {
        return Err("the host is empty");
    }
    let port = match port {
        None => None,
        Some(p) => Some(p.parse::<u16>().ok().filter(|p| *p != 0).ok_or("the port is not a number from 1 to 65535")?),
    };
    Ok((scheme.to_ascii_lowercase(), userinfo, host.to_string(), port, path.to_string()))
}

fn analyze_url(r: &mut Report, url: &str) {
    let (scheme, userinfo, host, port, path) = match parse_url(url) {
        Ok(parts) => parts,
        Err(problem) => {
            r.warn("invalid-url", format!("spec.url {url:?} cannot be used: {problem}"));
            return;
        }
    };
    let default_port = match scheme.as_str() {
        "https" => Some(443),
        "http" => Some(80),
        _ => None,
    };
    let host_class = classify_host(&host);
    r.url = Some(UrlInfo {
        url: url.into(),
        scheme: scheme.clone(),
        host: host.clone(),
        port: port.or(default_port),
        port_explicit: port.is_some(),
        path,
        host_class,
    });
    match scheme.as_str() {
        "https" => {}
        "http" => r.warn(
            "plain-http",
            "the URL uses plain http: the code would cross the network unencrypted, and Skupper sites refuse it \
             (\"token url scheme must be https\"); issue the token from a grant server with TLS",
        ),
        s => r.warn("unsupported-scheme", format!("scheme {s:?} is not https: the token cannot be redeemed")),
    }
    if userinfo {
        r.warn("url-userinfo", "the URL contains user:password@ — grant servers do not use it; remove it");
    }
    let (code, message) = match host_class {
        HostClass::Loopback => (
            "loopback-host",
            format!(
                "{host} is this machine only: a remote site cannot reach it; use the grant server's public address"
            ),
        ),
        HostClass::Unspecified => ("unspecified-host", format!("{host} is a bind address, not a place to connect to")),
        HostClass::PrivateIp => {
            ("private-host", format!("{host} is a private address: only sites on the same network can redeem"))
        }
        HostClass::PublicIp => (
            "ip-host",
            format!("{host} is an IP address: the token stops working if it changes (e.g. a re-created load balancer)"),
        ),
        HostClass::ClusterInternal => (
            "cluster-internal-host",
            format!("{host} is a cluster-internal name: sites outside that cluster cannot reach it"),
        ),
        HostClass::ShortName => {
            ("short-host-name", format!("{host} has no domain: it resolves only through a local search domain"))
        }
        HostClass::Invalid => ("invalid-url", format!("{host:?} is not a valid host name or IP address")),
        HostClass::PublicDns => ("", String::new()),
    };
    if !code.is_empty() {
        r.warn(code, message);
    }
    let usual: &[u16] = if scheme == "http" { &[80, 8080, 9090, 8081] } else { &[443, 8443, 9090, 8081] };
    if let Some(p) = port.or(default_port)
        && !usual.contains(&p)
    {
        r.warn(
            "unusual-port",
            format!("port {p} is unusual for a grant server (9090 by default, 443 behind a route or load balancer): check it is reachable"),
        );
    }
}

/// `-----BEGIN ...-----` ... `-----END ...-----` blocks of a PEM text.
fn pem_blocks(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN ") {
        let from = &rest[start..];
        let Some(end) = from.find("-----END ") else { break };
        let after_end = &from[end + 9..];
        let Some(close) = after_end.find("-----") else { break };
        let len = end + 9 + close + 5;
        out.push(&from[..len]);
        rest = &from[len..];
    }
    out
}

/// PEM label of the first block, e.g. `RSA PRIVATE KEY`.
fn pem_label(text: &str) -> Option<String> {
    let start = text.find("-----BEGIN ")? + 11;
    let len = text[start..].find("-----")?;
    Some(text[start..start + len].to_string())
}

/// Certificates of a PEM text, with a description of what could not be read.
fn certificates(pem: &[u8]) -> (Vec<CertInfo>, Vec<String>) {
    let mut certs = Vec::new();
    let mut problems = Vec::new();
    let Ok(text) = core::str::from_utf8(pem) else {
        return (certs, alloc::vec!["the PEM text is not UTF-8".into()]);
    };
    let blocks = pem_blocks(text);
    if blocks.is_empty() {
        problems.push("no PEM block (-----BEGIN CERTIFICATE-----) found".into());
    }
    for block in blocks {
        match x509_cert::der::pem::decode_vec(block.as_bytes()) {
            Ok(("CERTIFICATE", der)) => match cert_info(&der) {
                Ok(c) => certs.push(c),
                Err(e) => problems.push(e),
            },
            Ok((label, _)) => problems.push(format!("a {label} block is not a certificate")),
            Err(e) => problems.push(format!("a PEM block cannot be decoded: {e}")),
        }
    }
    (certs, problems)
}

const OID_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const OID_EC: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const OID_ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
const OID_ED448: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.113");
const OID_SAN: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.17");
const OID_BASIC_CONSTRAINTS: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.19");

fn curve_name(oid: &str) -> &str {
    match oid {
        "1.2.840.10045.3.1.7" => "P-256",
        "1.3.132.0.34" => "P-384",
        "1.3.132.0.35" => "P-521",
        other => other,
    }
}

fn signature_name(oid: &str) -> &str {
    match oid {
        "1.2.840.113549.1.1.4" => "md5WithRSAEncryption",
        "1.2.840.113549.1.1.5" => "sha1WithRSAEncryption",
        "1.2.840.113549.1.1.10" => "RSASSA-PSS",
        "1.2.840.113549.1.1.11" => "sha256WithRSAEncryption",
        "1.2.840.113549.1.1.12" => "sha384WithRSAEncryption",
        "1.2.840.113549.1.1.13" => "sha512WithRSAEncryption",
        "1.2.840.10045.4.1" => "ecdsa-with-SHA1",
        "1.2.840.10045.4.3.2" => "ecdsa-with-SHA256",
        "1.2.840.10045.4.3.3" => "ecdsa-with-SHA384",
        "1.2.840.10045.4.3.4" => "ecdsa-with-SHA512",
        "1.3.101.112" => "Ed25519",
        "1.3.101.113" => "Ed448",
        other => other,
    }
}

/// Bits of an RSA modulus from the DER `RSAPublicKey`.
fn rsa_bits(key: &[u8]) -> Option<usize> {
    let seq = AnyRef::from_der(key).ok()?;
    let mut reader = SliceReader::new(seq.value()).ok()?;
    let n = UintRef::decode(&mut reader).ok()?;
    let bytes = n.as_bytes();
    let first = *bytes.first()?;
    Some((bytes.len() - 1) * 8 + (8 - first.leading_zeros() as usize))
}

fn unix(t: x509_cert::time::Time) -> i64 {
    i64::try_from(t.to_unix_duration().as_secs()).unwrap_or(i64::MAX)
}

fn cert_info(der: &[u8]) -> Result<CertInfo, String> {
    let cert = Certificate::from_der(der).map_err(|e| format!("not a readable X.509 certificate: {e}"))?;
    let tbs = &cert.tbs_certificate;
    let spki = &tbs.subject_public_key_info;
    let alg = spki.algorithm.oid;
    let key_algorithm = if alg == OID_RSA {
        match rsa_bits(spki.subject_public_key.raw_bytes()) {
            Some(bits) => format!("RSA {bits}"),
            None => "RSA".into(),
        }
    } else if alg == OID_EC {
        let curve = spki.algorithm.parameters.as_ref().and_then(|p| p.decode_as::<ObjectIdentifier>().ok());
        match curve {
            Some(c) => format!("ECDSA {}", curve_name(&c.to_string())),
            None => "ECDSA".into(),
        }
    } else if alg == OID_ED25519 {
        "Ed25519".into()
    } else if alg == OID_ED448 {
        "Ed448".into()
    } else {
        alg.to_string()
    };
    let mut dns_names = Vec::new();
    let mut ip_addresses = Vec::new();
    let mut is_ca = false;
    for ext in tbs.extensions.as_deref().unwrap_or(&[]) {
        if ext.extn_id == OID_SAN {
            let san = SubjectAltName::from_der(ext.extn_value.as_bytes())
                .map_err(|e| format!("the subjectAltName extension cannot be read: {e}"))?;
            for name in san.0 {
                match name {
                    GeneralName::DnsName(d) => dns_names.push(d.to_string()),
                    GeneralName::IpAddress(ip) => ip_addresses.push(ip_text(ip.as_bytes())),
                    _ => {}
                }
            }
        } else if ext.extn_id == OID_BASIC_CONSTRAINTS {
            is_ca = BasicConstraints::from_der(ext.extn_value.as_bytes()).map(|b| b.ca).unwrap_or(false);
        }
    }
    let subject = tbs.subject.to_string();
    let issuer = tbs.issuer.to_string();
    Ok(CertInfo {
        self_signed: tbs.subject == tbs.issuer,
        subject,
        issuer,
        serial: colon_hex(tbs.serial_number.as_bytes()),
        not_before: Timestamp::new(unix(tbs.validity.not_before)),
        not_after: Timestamp::new(unix(tbs.validity.not_after)),
        sha256_fingerprint: colon_hex(&sha2::Sha256::digest(der)),
        is_ca,
        key_algorithm,
        signature_algorithm: signature_name(&cert.signature_algorithm.oid.to_string()).to_string(),
        dns_names,
        ip_addresses,
    })
}

fn ip_text(b: &[u8]) -> String {
    if let Ok(a) = <[u8; 4]>::try_from(b) {
        core::net::Ipv4Addr::from(a).to_string()
    } else if let Ok(a) = <[u8; 16]>::try_from(b) {
        core::net::Ipv6Addr::from(a).to_string()
    } else {
        colon_hex(b)
    }
}

/// Warnings every certificate gets: weak key, weak signature, not yet valid.
fn cert_warnings(r: &mut Report, what: &str, c: &CertInfo, now: i64) {
    if let Some(bits) = c.key_algorithm.strip_prefix("RSA ").and_then(|b| b.parse::<usize>().ok())
        && bits < 2048
    {
        r.warn("weak-key", format!("the {what} has a {bits}-bit RSA key: 2048 bits or more are expected"));
    }
    if c.signature_algorithm.contains("SHA1")
        || c.signature_algorithm.contains("sha1")
        || c.signature_algorithm.contains("md5")
    {
        r.warn(
            "weak-signature",
            format!("the {what} is signed with {}: TLS libraries reject it", c.signature_algorithm),
        );
    }
    if c.not_before.unix > now {
        r.warn(
            "not-yet-valid",
            format!(
                "the {what} is valid only from {} (in {}): check this machine's clock",
                c.not_before.rfc3339,
                humanize_secs(c.not_before.unix - now)
            ),
        );
    }
}

fn analyze_ca(r: &mut Report, pem: &[u8], now: i64) {
    let (certs, problems) = certificates(pem);
    for p in problems {
        r.warn("ca-unreadable", format!("CA: {p}"));
    }
    r.ca_certificates = certs.len();
    let Some(ca) = certs.into_iter().next() else { return };
    cert_warnings(r, "CA certificate", &ca, now);
    if ca.not_after.unix < now {
        r.warn(
            "ca-expired",
            format!(
                "the CA certificate expired at {}: TLS verification will fail; the issuing site must renew its CA",
                ca.not_after.rfc3339
            ),
        );
    }
    r.ca = Some(ca);
}

fn static_link(r: &mut Report, links: &[(usize, &Value)], secrets: &[(usize, &Value)], now: i64) -> Vec<usize> {
    r.kind = TokenKind::StaticLink;
    let mut used: Vec<usize> = links.iter().map(|(i, _)| *i).collect();
    let first = links.first().map(|(_, d)| *d);
    r.name = first.and_then(|d| get_str(d, &["metadata", "name"])).map(String::from);
    r.api_version = first.and_then(|d| get_str(d, &["apiVersion"])).map(String::from);
    let typed_links: Vec<Link> =
        links.iter().filter_map(|(_, d)| serde_json::from_value::<Link>((*d).clone()).ok()).collect();
    let typed_secrets: Vec<(usize, Secret)> =
        secrets.iter().filter_map(|(i, d)| Some((*i, serde_json::from_value::<Secret>((*d).clone()).ok()?))).collect();
    for (idx, link) in typed_links.iter().enumerate() {
        let others: Vec<Link> =
            typed_links.iter().enumerate().filter(|(j, _)| *j != idx).map(|(_, l)| l.clone()).collect();
        let v = validate_link(link, &LinkContext { secrets: None, other_links: &others, edge_site: false });
        r.links.push(LinkInfo {
            name: link.name().into(),
            cost: link.spec.cost,
            effective_cost: link.spec.effective_cost(),
            tls_credentials: link.spec.tls_credentials.clone(),
            endpoints: link
                .spec
                .endpoints
                .iter()
                .map(|e| EndpointInfo {
                    name: e.name.clone(),
                    host: e.host.clone(),
                    port: e.port.clone(),
                    group: e.group.clone(),
                    host_class: classify_host(&e.host),
                })
                .collect(),
            settings: link.spec.settings.clone(),
            errors: v.errors,
            warnings: v.warnings,
        });
        if let Some(proxy) = link.spec.proxy_configuration()
            && let Some((i, _)) = typed_secrets.iter().find(|(_, s)| s.name() == proxy)
        {
            used.push(*i);
        }
    }
    let wanted: BTreeSet<&str> = typed_links.iter().map(|l| l.spec.tls_credentials.as_str()).collect();
    if wanted.len() > 1 {
        r.warn("mixed-credentials", "the Links name different tlsCredentials Secrets; only the first is inspected");
    }
    let tls_name = typed_links.first().map(|l| l.spec.tls_credentials.as_str()).unwrap_or("");
    let Some((si, secret)) = typed_secrets.iter().find(|(_, s)| s.name() == tls_name) else {
        r.warn(
            "secret-missing",
            format!(
                "the Secret {tls_name:?} named by tlsCredentials is not in the file: the Link cannot connect unless \
                 that Secret already exists where it is applied"
            ),
        );
        return used;
    };
    used.push(*si);
    tls_secret(r, secret, now);
    used
}

/// CA, client certificate and key of a TLS Secret (static link or v1 connection token).
fn tls_secret(r: &mut Report, secret: &Secret, now: i64) {
    let mut keys: Vec<String> = secret.data.keys().chain(secret.string_data.keys()).cloned().collect();
    keys.sort();
    keys.dedup();
    r.secret = Some(SecretInfo { name: secret.name().into(), type_: secret.type_.clone(), keys });
    let value = |r: &mut Report, key: &str| match secret.get(key) {
        Ok(v) => v.filter(|v| !v.is_empty()),
        Err(e) => {
            r.warn("parse-error", e.to_string());
            None
        }
    };
    match value(r, "ca.crt") {
        Some(ca) => analyze_ca(r, &ca, now),
        None => r.warn(
            "missing-ca",
            format!("Secret {:?} has no ca.crt: the remote site cannot be verified", secret.name()),
        ),
    }
    if let Some(crt) = value(r, "tls.crt") {
        let (certs, problems) = certificates(&crt);
        for p in problems {
            r.warn("client-cert-unreadable", format!("tls.crt: {p}"));
        }
        if let Some(c) = certs.into_iter().next() {
            cert_warnings(r, "client certificate", &c, now);
            if let Some(ca) = &r.ca {
                let ok = c.issuer == ca.subject;
                r.client_cert_issued_by_ca = Some(ok);
                if !ok {
                    r.warn(
                        "client-cert-not-from-ca",
                        format!(
                            "the client certificate was issued by {:?}, not by the included CA {:?}: the remote site \
                             will refuse it unless it trusts that issuer",
                            c.issuer, ca.subject
                        ),
                    );
                }
            }
            r.issued_at = Some(c.not_before.clone());
            r.expires_at = Some(c.not_after.clone());
            r.expiry_source = Some("clientCertificate".into());
            r.client_cert = Some(c);
        }
    } else {
        r.warn(
            "missing-client-cert",
            format!("Secret {:?} has no tls.crt: the link cannot authenticate", secret.name()),
        );
    }
    if let Some(key) = value(r, "tls.key") {
        r.private_key_present = true;
        r.private_key_format = core::str::from_utf8(&key).ok().and_then(pem_label);
        r.warn(
            "private-key",
            format!(
                "this file is a credential: Secret {:?} holds a private key (tls.key); share it only over a private \
                 channel and never paste it into tickets",
                secret.name()
            ),
        );
    } else {
        r.warn(
            "missing-private-key",
            format!("Secret {:?} has no tls.key: the link cannot authenticate", secret.name()),
        );
    }
}

fn v1_secret(r: &mut Report, doc: &Value, now: i64) {
    let token_type = v1_type(doc).unwrap_or("").to_string();
    r.kind = TokenKind::V1Secret { token_type: token_type.clone() };
    r.name = get_str(doc, &["metadata", "name"]).map(String::from);
    r.api_version = get_str(doc, &["apiVersion"]).map(String::from);
    r.warn(
        "v1-token",
        format!(
            "this is a Skupper v1 token ({token_type}): v2 sites cannot redeem it; issue a new token on a v2 site \
             (kubectl skupper token issue)"
        ),
    );
    if let Some(url) = get_str(doc, &["metadata", "annotations", "skupper.io/url"]) {
        analyze_url(r, url);
    }
    let Ok(secret) = serde_json::from_value::<Secret>(doc.clone()) else {
        r.warn("parse-error", "the Secret's data cannot be read");
        return;
    };
    if token_type == "token-claim" {
        if let Ok(Some(code)) = secret.get_str("password") {
            analyze_code(r, &code);
        }
        if let Ok(Some(ca)) = secret.get("ca.crt") {
            analyze_ca(r, &ca, now);
        }
        let mut keys: Vec<String> = secret.data.keys().chain(secret.string_data.keys()).cloned().collect();
        keys.sort();
        keys.dedup();
        r.secret = Some(SecretInfo { name: secret.name().into(), type_: secret.type_.clone(), keys });
    } else {
        tls_secret(r, &secret, now);
    }
}

fn unknown_fields(r: &mut Report, doc: &Value, index: usize, several: bool) {
    const TOP: &[&str] = &["apiVersion", "kind", "metadata", "spec", "status"];
    const SECRET_TOP: &[&str] = &["apiVersion", "kind", "metadata", "type", "data", "stringData", "immutable"];
    const META: &[&str] = &[
        "name",
        "namespace",
        "labels",
        "annotations",
        "uid",
        "resourceVersion",
        "generation",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "ownerReferences",
        "managedFields",
        "finalizers",
        "generateName",
        "selfLink",
    ];
    const TOKEN_SPEC: &[&str] = &["url", "code", "ca", "linkCost", "settings"];
    const LINK_SPEC: &[&str] = &["endpoints", "tlsCredentials", "cost", "settings"];
    const ENDPOINT: &[&str] = &["name", "host", "port", "group"];
    let (api, kind) = kind_of(doc);
    let top = if kind == "Secret" && api == V1 { SECRET_TOP } else { TOP };
    let mut found: Vec<String> = Vec::new();
    let mut check = |v: Option<&Value>, known: &[&str], prefix: &str| {
        if let Some(m) = v.and_then(Value::as_object) {
            found.extend(m.keys().filter(|k| !known.contains(&k.as_str())).map(|k| format!("{prefix}{k}")));
        }
    };
    check(Some(doc), top, "");
    check(get(doc, &["metadata"]), META, "metadata.");
    match kind {
        "AccessToken" => check(get(doc, &["spec"]), TOKEN_SPEC, "spec."),
        "Link" => {
            check(get(doc, &["spec"]), LINK_SPEC, "spec.");
            if let Some(eps) = get(doc, &["spec", "endpoints"]).and_then(Value::as_array) {
                for (i, e) in eps.iter().enumerate() {
                    check(Some(e), ENDPOINT, &format!("spec.endpoints[{i}]."));
                }
            }
        }
        _ => {}
    }
    let doc_note = if several { format!(" (document {})", index + 1) } else { String::new() };
    for f in found {
        r.warn("unknown-field", format!("unknown field {f}{doc_note} is ignored: misspelled?"));
    }
}

fn finish_time(r: &mut Report, now: i64) {
    let Some(exp) = r.expires_at.clone() else {
        if matches!(r.kind, TokenKind::AccessToken) {
            r.warn(
                "expiry-unknown",
                "the token does not say when it expires: upstream grants expire 15 minutes after issue by default; \
                 only the issuing site knows (its AccessGrant status)",
            );
        }
        return;
    };
    let left = exp.unix.saturating_sub(now);
    r.seconds_left = Some(left);
    let what = if r.expiry_source.as_deref() == Some("clientCertificate") { "client certificate" } else { "token" };
    r.state = if left < 0 {
        r.warn(
            "expired",
            format!(
                "the {what} expired at {} ({} ago): ask the issuing site for a new one",
                exp.rfc3339,
                humanize_secs(left)
            ),
        );
        ExpiryState::Expired
    } else if left < EXPIRES_SOON_SECS {
        r.warn(
            "expires-soon",
            format!("the {what} expires in {}: use it now or ask for a new one", humanize_secs(left)),
        );
        ExpiryState::ExpiresSoon
    } else {
        ExpiryState::Valid
    };
    if let Some(ca) = &r.ca
        && ca.not_after.unix >= now
        && ca.not_after.unix < exp.unix
    {
        let message =
            format!("the CA certificate expires at {}, before the {what} ({})", ca.not_after.rfc3339, exp.rfc3339);
        r.warn("ca-expires-before-token", message);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grant::token_annotations;
    use alloc::vec;
    use serde_json::json;

    const CA: &str = include_str!("../tests/fixtures/ca.crt");
    const CLIENT: &str = include_str!("../tests/fixtures/client.crt");
    const CLIENT_KEY: &str = include_str!("../tests/fixtures/client.key");
    const EC_CA: &str = include_str!("../tests/fixtures/ec-ca.crt");
    const WEAK: &str = include_str!("../tests/fixtures/weak-sha1.crt");
    /// 2026-11-25T18:34:09Z, when the fixtures were made (`openssl x509 -noout -dates`).
    const MADE: i64 = 1_795_631_649;

    fn token(url: &str, code: &str, ca: &str) -> Value {
        json!({"apiVersion": "skupper.io/v2alpha1", "kind": "AccessToken",
               "metadata": {"name": "west-0f7c0c9e"},
               "spec": {"url": url, "code": code, "ca": ca, "linkCost": 1}})
    }

    fn b64(s: &str) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    fn static_link_docs() -> Vec<Value> {
        vec![
            json!({"apiVersion": "skupper.io/v2alpha1", "kind": "Link", "metadata": {"name": "link-west-skupper-router"},
                   "spec": {"cost": 1, "tlsCredentials": "link-west", "endpoints": [
                       {"group": "skupper-router", "host": "west.example.com", "name": "inter-router", "port": "55671"},
                       {"group": "skupper-router", "host": "west.example.com", "name": "edge", "port": "45671"}]},
                   "status": {}}),
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "link-west"}, "type": "kubernetes.io/tls",
                   "data": {"ca.crt": b64(CA), "tls.crt": b64(CLIENT), "tls.key": b64(CLIENT_KEY)}}),
        ]
    }

    #[test]
    fn used_documents_that_do_not_decode_are_reported() {
        let url = "https://grants.example.com:9090/86b80f6b";
        let mut t = token(url, "L1qCl2mZ7D81gbXp3ax4YT0K", CA);
        assert!(!inspect(&[t.clone()], MADE).warnings.iter().any(|w| w.code == "parse-error"));
        t["spec"]["redeemed"] = json!(true);
        t["metadata"]["labels"] = json!("not a map");
        let r = inspect(&[t], MADE);
        let w = r.warnings.iter().find(|w| w.code == "parse-error").expect("a parse-error warning");
        assert!(w.message.contains("document 1") && w.message.contains("expected a map"), "{}", w.message);
        let mut docs = static_link_docs();
        docs[0]["spec"]["endpoints"] = json!("inter-router");
        let r = inspect(&docs, MADE);
        assert!(
            r.warnings.iter().any(|w| w.code == "parse-error" && w.message.contains("sequence")),
            "{:?}",
            r.warnings
        );
    }

    #[test]
    fn fixture_times_match_openssl() {
        assert_eq!(format_rfc3339(MADE), "2026-11-25T18:34:09Z");
    }

    #[test]
    fn access_token_report() {
        let url = "https://grants.example.com:9090/86b80f6b-2b02-47ac-bab4-d285bb4f7b9d";
        let r = inspect(&[token(url, "L1qCl2mZ7D81gbXp3ax4YT0K", CA)], MADE + 60);
        assert_eq!(r.kind, TokenKind::AccessToken);
        assert_eq!(r.name.as_deref(), Some("west-0f7c0c9e"));
        let u = r.url.as_ref().expect("url");
        assert_eq!(
            (u.scheme.as_str(), u.host.as_str(), u.port, u.port_explicit),
            ("https", "grants.example.com", Some(9090), true)
        );
        assert_eq!(u.host_class, HostClass::PublicDns);
        assert_eq!(u.path, "/86b80f6b-2b02-47ac-bab4-d285bb4f7b9d");
        let ca = r.ca.as_ref().expect("ca");
        assert_eq!(ca.subject, "CN=west site CA");
        assert!(ca.self_signed && ca.is_ca);
        assert_eq!(ca.key_algorithm, "RSA 2048");
        assert_eq!(ca.signature_algorithm, "sha256WithRSAEncryption");
        assert_eq!(ca.serial, "47:61:93:4B:56:3A:C6:8A:16:7C:15:4A:A8:31:40:40:A4:2D:34:4B");
        assert_eq!(
            ca.sha256_fingerprint,
            "72:85:74:7B:49:3E:B0:29:B1:6C:D1:65:7F:AF:58:2A:9A:1A:B3:02:93:DA:E0:E5:C4:FA:4A:87:7C:48:AE:28"
        );
        assert_eq!(ca.not_before.rfc3339, "2026-11-25T18:34:09Z");
        assert_eq!(ca.not_after.rfc3339, "2031-11-24T18:34:09Z");
        assert_eq!(r.code, Some(CodeInfo { length: 24, distinct_characters: 23 }));
        assert_eq!(r.link_cost, Some(1));
        assert_eq!(r.state, ExpiryState::Unknown);
        let codes: Vec<&str> = r.warnings.iter().map(|w| w.code.as_str()).collect();
        assert_eq!(codes, ["expiry-unknown"]);
        assert_eq!(r.redactions, ["/0/spec/code"]);
    }

    #[test]
    fn annotations_drive_the_countdown() {
        let mut t = token("https://grants.example.com/x", "L1qCl2mZ7D81gbXp3ax4YT0K", CA);
        let ann = token_annotations(MADE, MADE + 900, 2, "west-0f7c0c9e", "west");
        t["metadata"]["annotations"] = serde_json::to_value(ann).expect("json");
        let at = |now: i64| inspect(core::slice::from_ref(&t), now);
        let r = at(MADE + 100);
        assert_eq!((r.state, r.seconds_left), (ExpiryState::Valid, Some(800)));
        assert_eq!(r.expires_at.as_ref().map(|t| t.rfc3339.as_str()), Some("2026-11-25T18:49:09Z"));
        assert_eq!(r.redemptions_allowed, Some(2));
        assert_eq!(r.grant_name.as_deref(), Some("west-0f7c0c9e"));
        assert_eq!(r.issuer_site.as_deref(), Some("west"));
        assert_eq!(r.expiry_source.as_deref(), Some("annotation"));
        assert!(r.warnings.is_empty(), "{:?}", r.warnings);
        assert_eq!(at(MADE + 900 - 119).state, ExpiryState::ExpiresSoon);
        assert_eq!(at(MADE + 900).state, ExpiryState::ExpiresSoon);
        let r = at(MADE + 901);
        assert_eq!((r.state, r.seconds_left), (ExpiryState::Expired, Some(-1)));
        assert!(r.has_warning("expired"));
        t["metadata"]["annotations"][ANNOTATION_EXPIRES_AT] = json!("tomorrow");
        let r = inspect(core::slice::from_ref(&t), MADE);
        assert!(r.has_warning("bad-annotation") && r.state == ExpiryState::Unknown);
    }

    #[test]
    fn url_warnings() {
        let codes = |url: &str| -> Vec<String> {
            inspect(&[token(url, "L1qCl2mZ7D81gbXp3ax4YT0K", CA)], MADE)
                .warnings
                .into_iter()
                .map(|w| w.code)
                .filter(|c| c != "expiry-unknown")
                .collect()
        };
        assert_eq!(codes("http://grants.example.com:9090/x"), ["plain-http"]);
        assert_eq!(codes("https://10.107.241.191:9090/x"), ["private-host"]);
        assert_eq!(codes("https://127.0.0.1:9090/x"), ["loopback-host"]);
        assert_eq!(codes("https://[::1]:9090/x"), ["loopback-host"]);
        assert_eq!(codes("https://skupper-grant-server.west.svc:9090/x"), ["cluster-internal-host"]);
        assert_eq!(codes("https://8.8.8.8/x"), ["ip-host"]);
        assert_eq!(codes("https://grants.example.com:1234/x"), ["unusual-port"]);
        assert_eq!(codes("https://grants.example.com:99999/x"), ["invalid-url"]);
        assert_eq!(codes("grants.example.com/x"), ["invalid-url"]);
        assert_eq!(codes("ftp://grants.example.com/x"), ["unsupported-scheme"]);
        assert_eq!(codes("https://u:p@grants.example.com/x"), ["url-userinfo"]);
    }

    #[test]
    fn weak_and_missing_parts() {
        let r = inspect(&[token("https://grants.example.com/x", "aaaa", "")], MADE);
        assert!(r.has_warning("weak-code") && r.has_warning("missing-ca"));
        let r = inspect(&[token("", "", WEAK)], MADE);
        assert!(r.has_warning("missing-url") && r.has_warning("missing-code"));
        assert!(r.has_warning("weak-key") && r.has_warning("weak-signature"), "{:?}", r.warnings);
        let r = inspect(&[token("https://grants.example.com/x", "L1qCl2mZ7D81gbXp3ax4YT0K", "garbage")], MADE);
        assert!(r.has_warning("ca-unreadable") && r.ca.is_none());
        let r = inspect(&[token("https://grants.example.com/x", "L1qCl2mZ7D81gbXp3ax4YT0K", EC_CA)], MADE);
        let ca = r.ca.expect("ec ca");
        assert_eq!((ca.key_algorithm.as_str(), ca.signature_algorithm.as_str()), ("ECDSA P-256", "ecdsa-with-SHA256"));
        assert_eq!(ca.subject, "CN=grant server CA,O=Example");
    }

    #[test]
    fn ca_expiry_against_token_expiry() {
        let mut t = token("https://grants.example.com/x", "L1qCl2mZ7D81gbXp3ax4YT0K", EC_CA);
        // The EC CA ends 2026-12-25T18:34:09Z (30 days after MADE).
        let ann = token_annotations(MADE, MADE + 40 * 86_400, 1, "g", "west");
        t["metadata"]["annotations"] = serde_json::to_value(ann).expect("json");
        assert!(inspect(core::slice::from_ref(&t), MADE).has_warning("ca-expires-before-token"));
        let r = inspect(core::slice::from_ref(&t), MADE + 31 * 86_400);
        assert!(r.has_warning("ca-expired") && !r.has_warning("ca-expires-before-token"));
        assert!(inspect(core::slice::from_ref(&t), MADE - 10).has_warning("not-yet-valid"));
    }

    #[test]
    fn static_link_report() {
        let docs = static_link_docs();
        let r = inspect(&docs, MADE + 86_400);
        assert_eq!(r.kind, TokenKind::StaticLink);
        assert_eq!(r.name.as_deref(), Some("link-west-skupper-router"));
        assert_eq!(r.links.len(), 1);
        let l = &r.links[0];
        assert_eq!((l.cost, l.effective_cost, l.tls_credentials.as_str()), (1, 1, "link-west"));
        assert_eq!(l.endpoints.len(), 2);
        assert!(l.errors.is_empty() && l.warnings.is_empty(), "{l:?}");
        let s = r.secret.as_ref().expect("secret");
        assert_eq!(s.keys, ["ca.crt", "tls.crt", "tls.key"]);
        let c = r.client_cert.as_ref().expect("client cert");
        assert_eq!(c.subject, "CN=10.102.82.46");
        assert_eq!(c.dns_names, ["west.example.com"]);
        assert_eq!(c.ip_addresses, ["10.102.82.46"]);
        assert!(!c.self_signed && !c.is_ca);
        assert_eq!(r.client_cert_issued_by_ca, Some(true));
        assert!(r.private_key_present);
        assert_eq!(r.private_key_format.as_deref(), Some("PRIVATE KEY"));
        assert_eq!(r.expires_at.as_ref().map(|t| t.rfc3339.as_str()), Some("2027-11-25T18:34:09Z"));
        assert_eq!(r.state, ExpiryState::Valid);
        let codes: Vec<&str> = r.warnings.iter().map(|w| w.code.as_str()).collect();
        assert_eq!(codes, ["private-key"]);
        assert_eq!(r.redactions, ["/1/data/tls.key"]);
        let later = inspect(&docs, MADE + 366 * 86_400);
        assert_eq!(later.state, ExpiryState::Expired);
    }

    #[test]
    fn static_link_problems() {
        let mut docs = static_link_docs();
        docs[1]["data"]["ca.crt"] = json!(b64(EC_CA));
        docs[0]["spec"]["colour"] = json!("blue");
        docs.push(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}));
        let r = inspect(&docs, MADE);
        assert_eq!(r.client_cert_issued_by_ca, Some(false));
        for code in ["client-cert-not-from-ca", "unknown-field", "extra-documents"] {
            assert!(r.has_warning(code), "{code}: {:?}", r.warnings);
        }
        let r = inspect(&docs[..1], MADE);
        assert!(r.has_warning("secret-missing") && r.kind == TokenKind::StaticLink);
    }

    #[test]
    fn other_inputs() {
        assert!(matches!(inspect(&[], 0).kind, TokenKind::NotAToken { .. }));
        assert!(matches!(inspect(&[Value::Null], 0).kind, TokenKind::NotAToken { .. }));
        let grant = json!({"apiVersion": "skupper.io/v2alpha1", "kind": "AccessGrant", "metadata": {"name": "g"},
                           "spec": {"code": "x"}, "status": {"code": "y"}});
        let r = inspect(core::slice::from_ref(&grant), 0);
        let TokenKind::NotAToken { reason } = &r.kind else { panic!("not a token") };
        assert!(reason.contains("AccessGrant"));
        assert_eq!(r.redactions, ["/0/spec/code", "/0/status/code"]);
        let r = inspect(&[json!([1, 2])], 0);
        assert!(matches!(r.kind, TokenKind::NotAToken { .. }));
        let claim = json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "c", "labels": {"skupper.io/type": "token-claim"},
                         "annotations": {"skupper.io/url": "https://10.0.0.1:8081/abc"}},
            "data": {"password": b64("abcdefghijklmnopqrstuvwx"), "ca.crt": b64(CA)}});
        let r = inspect(&[claim], MADE);
        assert_eq!(r.kind, TokenKind::V1Secret { token_type: "token-claim".into() });
        assert!(r.has_warning("v1-token") && r.ca.is_some() && r.url.is_some());
        assert_eq!(r.redactions, ["/0/data/password"]);
    }

    #[test]
    fn redact_replaces_exactly_the_listed_values() {
        let mut docs = static_link_docs();
        docs.insert(0, token("https://grants.example.com/x", "L1qCl2mZ7D81gbXp3ax4YT0K", CA));
        docs[2]["stringData"] = json!({"my/password": "s3cret", "host": "proxy"});
        let red = redact(&docs);
        assert_eq!(red[0]["spec"]["code"], json!(REDACTED));
        assert_eq!(red[0]["spec"]["url"], docs[0]["spec"]["url"]);
        assert_eq!(red[2]["data"]["tls.key"], json!(REDACTED));
        assert_eq!(red[2]["data"]["tls.crt"], docs[2]["data"]["tls.crt"]);
        assert_eq!(red[2]["stringData"]["my/password"], json!(REDACTED));
        assert_eq!(red[2]["stringData"]["host"], json!("proxy"));
        let r = inspect(&docs, MADE);
        assert_eq!(r.redactions, ["/0/spec/code", "/2/data/tls.key", "/2/stringData/my~1password"]);
        let text = serde_json::to_string(&red).expect("json");
        assert!(!text.contains("L1qCl2mZ7D81gbXp3ax4YT0K") && !text.contains("s3cret"));
    }

    #[test]
    fn report_round_trips_and_is_deterministic() {
        let docs = static_link_docs();
        let a = inspect(&docs, MADE);
        let b = inspect(&docs, MADE);
        assert_eq!(a, b);
        let v = serde_json::to_value(&a).expect("json");
        assert_eq!(v["kind"], json!({"type": "staticLink"}));
        assert_eq!(v["state"], json!("valid"));
        assert!(v["clientCert"]["sha256Fingerprint"].is_string());
        let back: Report = serde_json::from_value(v).expect("decode");
        assert_eq!(back, a);
    }

    #[test]
    fn humanized() {
        assert_eq!(humanize_secs(0), "0s");
        assert_eq!(humanize_secs(750), "12m 30s");
        assert_eq!(humanize_secs(-3 * 3600 - 300), "3h 5m");
        assert_eq!(humanize_secs(2 * 86_400 + 4 * 3600), "2d 4h");
        assert!(!humanize_secs(i64::MIN).is_empty());
    }
}
