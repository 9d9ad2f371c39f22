//! Access grants: codes, expiry, the redemption check on the grant server and the reading of its
//! answers on the redeeming side, plus the `token issue` input rules with upstream's texts.
//!
//! No clock and no randomness here: callers pass `now` (Unix seconds) and random bytes. The
//! HTTP exchange itself lives in the CLI crate; this module decides outcomes and wording.
//! Upstream reference: `internal/kube/grants/grants.go` (`checkAndUpdateAccessToken`).

use alloc::collections::BTreeMap;
use alloc::string::{String, ToString};
use core::fmt;

use serde::{Deserialize, Serialize};

use crate::duration::{DurationError, GoDuration};
use crate::resources::AccessGrant;
use crate::time::{format_rfc3339, parse_rfc3339};

/// Length of a generated grant code (upstream: 24 random characters).
pub const CODE_LEN: usize = 24;
/// Characters of a generated code.
const CODE_ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Default `token issue --expiration-window` (prints as `15m0s`).
pub const DEFAULT_EXPIRATION_WINDOW: GoDuration = GoDuration(15 * 60 * 1_000_000_000);
/// Window the upstream controller applies when `spec.expirationWindow` is empty (10 minutes,
/// although the CRD documents 15m).
pub const CONTROLLER_DEFAULT_WINDOW: GoDuration = GoDuration(10 * 60 * 1_000_000_000);
/// Smallest accepted expiration window (`NewExpirationInSecondsValidator`).
pub const MIN_EXPIRATION_WINDOW: GoDuration = GoDuration(60 * 1_000_000_000);
/// Smallest accepted `--timeout` (`NewTimeoutInSecondsValidator`).
pub const MIN_TIMEOUT: GoDuration = GoDuration(10 * 1_000_000_000);
/// Default `--timeout` of `token issue`/`token redeem`/`link generate`.
pub const DEFAULT_TIMEOUT: GoDuration = GoDuration(60 * 1_000_000_000);

/// Prefix of our advisory token annotations.
///
/// The annotations below are written by `kubectl skupper token issue` into the token file's
/// `metadata.annotations` so that an offline inspector can show a countdown. They are
/// **advisory and non-secret**: the AccessGrant on the issuing site stays the authority (it may
/// have been used, deleted or edited since), and upstream tokens do not carry them.
pub const ANNOTATION_PREFIX: &str = "kubectl-skupper.io/";
/// When the grant was issued (RFC 3339). Advisory, see [`ANNOTATION_PREFIX`].
pub const ANNOTATION_ISSUED_AT: &str = "kubectl-skupper.io/issued-at";
/// When the grant expires (RFC 3339). Advisory, see [`ANNOTATION_PREFIX`].
pub const ANNOTATION_EXPIRES_AT: &str = "kubectl-skupper.io/expires-at";
/// How many redemptions the grant allows (decimal). Advisory, see [`ANNOTATION_PREFIX`].
pub const ANNOTATION_REDEMPTIONS_ALLOWED: &str = "kubectl-skupper.io/redemptions-allowed";
/// Name of the AccessGrant on the issuing site. Advisory, see [`ANNOTATION_PREFIX`].
pub const ANNOTATION_GRANT_NAME: &str = "kubectl-skupper.io/grant-name";
/// Name of the issuing Site. Advisory, see [`ANNOTATION_PREFIX`].
pub const ANNOTATION_ISSUER_SITE: &str = "kubectl-skupper.io/issuer-site";

/// The advisory annotations for a token (see [`ANNOTATION_PREFIX`]).
pub fn token_annotations(
    issued_unix: i64,
    expires_unix: i64,
    redemptions_allowed: i64,
    grant_name: &str,
    issuer_site: &str,
) -> BTreeMap<String, String> {
    [
        (ANNOTATION_ISSUED_AT, format_rfc3339(issued_unix)),
        (ANNOTATION_EXPIRES_AT, format_rfc3339(expires_unix)),
        (ANNOTATION_REDEMPTIONS_ALLOWED, redemptions_allowed.to_string()),
        (ANNOTATION_GRANT_NAME, grant_name.to_string()),
        (ANNOTATION_ISSUER_SITE, issuer_site.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// A grant code of [`CODE_LEN`] letters and digits from 24 random bytes.
///
/// The 192 random bits are read as one number and written in base 62 (24 digits cover about
/// 143 bits), so every character is uniform up to a bias below 2^-49, unlike a per-byte `% 62`.
pub fn generate_code(random: &[u8; 24]) -> String {
    let mut n = *random;
    let mut out = [0u8; CODE_LEN];
    for slot in out.iter_mut().rev() {
        // Long division of the big-endian number by 62.
        let mut rem: u32 = 0;
        for byte in n.iter_mut() {
            let cur = (rem << 8) | u32::from(*byte);
            *byte = (cur / 62) as u8;
            rem = cur % 62;
        }
        *slot = CODE_ALPHABET[rem as usize];
    }
    out.iter().map(|c| char::from(*c)).collect()
}

/// Expiry (Unix seconds) of a grant first processed at `issued_unix` with `window`
/// (upstream sets `status.expirationTime` once, to now + window, at whole seconds).
pub fn expiration(issued_unix: i64, window: GoDuration) -> i64 {
    issued_unix.saturating_add(window.as_secs())
}

/// The window of a grant: `spec.expirationWindow`, or [`CONTROLLER_DEFAULT_WINDOW`] when empty.
pub fn expiration_window(spec: &str) -> Result<GoDuration, InputError> {
    if spec.is_empty() {
        return Ok(CONTROLLER_DEFAULT_WINDOW);
    }
    GoDuration::parse(spec).map_err(|error| InputError::InvalidWindow { input: spec.to_string(), error })
}

/// `spec.redemptionsAllowed` as the controller applies it: values below 1 mean 1.
pub fn effective_redemptions_allowed(spec: i64) -> i64 {
    spec.max(1)
}

/// Compares two byte strings in time that depends only on their lengths, never on where they
/// differ. The loop runs over the longer length, so a guess of another length takes as long as
/// one of the right length; the stored code's length is public anyway ([`CODE_LEN`]).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let n = a.len().max(b.len());
    let mut diff: u8 = 0;
    for i in 0..n {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= core::hint::black_box(x ^ y);
    }
    let len_diff = a.len() ^ b.len();
    (core::hint::black_box(diff) == 0) & (len_diff == 0)
}

/// What the grant server knows about one grant at redemption time.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GrantState {
    /// The code a redeemer must present. An empty code never matches.
    pub code: String,
    /// Redemptions allowed; values below 1 count as 1 (upstream defaults 0 to 1).
    pub redemptions_allowed: i64,
    /// Redemptions made so far.
    pub redemptions: i64,
    /// Expiry, Unix seconds; the grant is refused once `now` is past it.
    pub expiration_time: i64,
}

impl GrantState {
    /// The state recorded in an AccessGrant (`status.code` or `spec.code`, the effective
    /// redemptions allowed, `status.redemptions`, `status.expirationTime`). An unreadable
    /// expiration time is [`Refusal::Corrupted`] (upstream 500 "Corrupted claim").
    pub fn from_grant(grant: &AccessGrant) -> Result<Self, Refusal> {
        let code = if grant.status.code.is_empty() { &grant.spec.code } else { &grant.status.code };
        let expiration_time = parse_rfc3339(&grant.status.expiration_time).map_err(|_| Refusal::Corrupted)?;
        Ok(Self {
            code: code.clone(),
            redemptions_allowed: effective_redemptions_allowed(grant.spec.redemptions_allowed),
            redemptions: grant.status.redemptions,
            expiration_time,
        })
    }

    /// Decides whether `presented_code` may redeem the grant at `now`.
    ///
    /// The code is checked first (in constant time), so only holders of the code learn whether
    /// the grant expired or was used up; upstream checks expiry and count first and so tells
    /// anyone who knows the URL. A grant is expired once `now > expiration_time` (upstream
    /// `expirationTime.Before(now)`), and used up once `redemptions >= redemptions_allowed`.
    pub fn check(&self, presented_code: &str, now: i64) -> Result<(), Refusal> {
        let code_ok = constant_time_eq(self.code.as_bytes(), presented_code.as_bytes());
        if !code_ok || self.code.is_empty() {
            return Err(Refusal::WrongCode);
        }
        if self.expiration_time < now {
            return Err(Refusal::Expired { at: self.expiration_time });
        }
        let allowed = effective_redemptions_allowed(self.redemptions_allowed);
        if self.redemptions >= allowed {
            return Err(Refusal::UsedUp { allowed });
        }
        Ok(())
    }

    /// Counts one redemption. Call it only after the credential (certificate and Links) was
    /// produced and is about to be sent.
    ///
    /// Upstream increments and persists the counter *before* generating the certificate
    /// (reference §2.2), so a generation failure (no issuer yet, no endpoints) burns a
    /// redemption and the user must issue a new token. We count afterwards instead. The caller
    /// serialises `check` + `commit` per grant (a lock, or a conditional update of the grant) so
    /// two concurrent redeemers cannot both take the last redemption.
    pub fn commit(&mut self) {
        self.redemptions = self.redemptions.saturating_add(1);
    }

    /// Redemptions left (never negative).
    pub fn remaining(&self) -> i64 {
        effective_redemptions_allowed(self.redemptions_allowed).saturating_sub(self.redemptions).max(0)
    }
}

/// Why the grant server refuses a redemption. `Display` is the response body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// No grant with that key (upstream 404 `No such claim`).
    Unknown,
    /// The grant expired at `at` (Unix seconds). Upstream answers 404 `No such claim`; we
    /// answer 410 with the time so the redeemer can say what happened.
    Expired {
        /// Expiry, Unix seconds.
        at: i64,
    },
    /// Every allowed redemption was made (upstream 404 `No such access granted`; we answer 410).
    UsedUp {
        /// Redemptions the grant allowed.
        allowed: i64,
    },
    /// The presented code is not the grant's (upstream 403, same text).
    WrongCode,
    /// The grant's record cannot be read, e.g. an unparsable expiration time (upstream 500).
    Corrupted,
    /// Too many wrong codes were tried for this grant: it redeems nothing any more, not even
    /// with the right code, and a new token must be issued (423; upstream has no such limit).
    Locked {
        /// Wrong codes tried.
        wrong_codes: u32,
    },
    /// Too many wrong codes came from this client or for this grant lately: try again after
    /// `retry_after` seconds (429 with `Retry-After`).
    Throttled {
        /// Seconds to wait.
        retry_after: u64,
    },
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unknown => f.write_str("No such claim"),
            Self::Expired { at } => write!(f, "Access grant expired at {}", format_rfc3339(*at)),
            Self::UsedUp { allowed } => write!(f, "No such access granted: all {allowed} redemptions were used"),
            Self::WrongCode => f.write_str("Redemption of access token refused"),
            Self::Corrupted => f.write_str("Corrupted claim"),
            Self::Locked { wrong_codes } => {
                write!(f, "Access grant locked: {wrong_codes} wrong codes were tried; issue a new token")
            }
            Self::Throttled { retry_after } => {
                write!(f, "Too many wrong codes: retry after {retry_after} seconds")
            }
        }
    }
}

impl core::error::Error for Refusal {}

impl Refusal {
    /// HTTP status to answer with.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::Unknown => 404,
            Self::Expired { .. } | Self::UsedUp { .. } => 410,
            Self::WrongCode => 403,
            Self::Corrupted => 500,
            Self::Locked { .. } => 423,
            Self::Throttled { .. } => 429,
        }
    }

    /// Response body (plain text; the server adds the final newline as Go's `http.Error` does).
    pub fn body(&self) -> String {
        self.to_string()
    }
}

/// Why a redemption failed, as the redeeming side understands the grant server's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RedeemFailure {
    /// 404 `No such claim`: unknown grant (or, from upstream servers, an expired one).
    UnknownGrant,
    /// The grant expired; `at` is the RFC 3339 time when the server said it.
    Expired {
        /// Expiry as the server wrote it.
        at: Option<String>,
    },
    /// All redemptions were used; `allowed` when the server said how many there were.
    UsedUp {
        /// Redemptions the grant allowed.
        allowed: Option<i64>,
    },
    /// 403: the code was refused.
    WrongCode,
    /// 500 `Corrupted claim`: the grant's record on the issuing site is damaged.
    Corrupted,
    /// 423 `Access grant locked`: the issuing site stopped accepting this token after too many
    /// wrong codes (someone may have been guessing it); a new token is needed.
    Locked {
        /// Wrong codes tried, when the server said.
        wrong_codes: Option<u32>,
    },
    /// 429, 502, 503, 504: a temporary problem; retrying may work.
    Unavailable {
        /// HTTP status.
        status: u16,
        /// Response body, trimmed and shortened.
        body: String,
    },
    /// Another 5xx: the issuing site failed to produce the credential.
    ServerError {
        /// HTTP status.
        status: u16,
        /// Response body, trimmed and shortened.
        body: String,
    },
    /// Any other non-200 answer.
    Rejected {
        /// HTTP status.
        status: u16,
        /// Response body, trimmed and shortened.
        body: String,
    },
}

const REISSUE: &str = "ask the issuing site for a new one (kubectl skupper token issue)";

impl RedeemFailure {
    /// Whether trying again later with the same token may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable { .. } | Self::ServerError { .. })
    }
}

impl fmt::Display for RedeemFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownGrant => write!(
                f,
                "the issuing site does not know this token (\"No such claim\"): its grant was deleted, or it \
                 expired (upstream Skupper reports expiry this way); {REISSUE}"
            ),
            Self::Expired { at: Some(at) } => write!(f, "the token has expired (at {at}): {REISSUE}"),
            Self::Expired { at: None } => write!(f, "the token has expired: {REISSUE}"),
            Self::UsedUp { allowed } => {
                match allowed {
                    Some(n) => write!(f, "the token was already used (all {n} redemptions were used): ")?,
                    None => write!(f, "the token was already used (no redemptions left): ")?,
                }
                write!(f, "{REISSUE}, with --redemptions-allowed if several sites must use it")
            }
            Self::WrongCode => write!(
                f,
                "the issuing site refused the token's code: the file was changed or belongs to another grant; {REISSUE}"
            ),
            Self::Corrupted => write!(
                f,
                "the issuing site's grant record is damaged (\"Corrupted claim\"): ask the issuing site to delete \
                 the AccessGrant and issue a new token"
            ),
            Self::Locked { wrong_codes } => {
                match wrong_codes {
                    Some(n) => write!(f, "the issuing site locked the token after {n} wrong codes were tried")?,
                    None => write!(f, "the issuing site locked the token after too many wrong codes")?,
                }
                write!(f, " (someone may have been guessing it): {REISSUE}")
            }
            Self::Unavailable { status, body } => {
                write!(f, "the issuing site is temporarily unavailable (HTTP {status}: {body}): retry in a moment")
            }
            Self::ServerError { status, body } => write!(
                f,
                "the issuing site failed to create the link credentials (HTTP {status}: {body}): fix that on the \
                 issuing site (is its site ready and link access enabled?), then retry"
            ),
            Self::Rejected { status, body } => write!(
                f,
                "the issuing site answered HTTP {status} ({body}): check that the token's url points at a Skupper \
                 grant server"
            ),
        }
    }
}

/// Trims a response body, replaces control characters and shortens it for messages.
fn tidy_body(body: &str) -> String {
    const MAX: usize = 200;
    let cleaned: String = body.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    let t = cleaned.trim();
    let mut out: String = t.chars().take(MAX).collect();
    if t.chars().nth(MAX).is_some() {
        out.push('…');
    }
    out
}

/// Understands a non-200 answer of a grant server (ours or upstream's, reference §2.2).
pub fn classify_response(status: u16, body: &str) -> RedeemFailure {
    let text = body.trim();
    match status {
        404 if text.starts_with("No such access granted") => RedeemFailure::UsedUp { allowed: None },
        404 => RedeemFailure::UnknownGrant,
        410 if text.starts_with("Access grant expired") => {
            let at =
                text.strip_prefix("Access grant expired at ").map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
            RedeemFailure::Expired { at }
        }
        410 if text.starts_with("No such access granted") => {
            let allowed = text
                .strip_prefix("No such access granted: all ")
                .and_then(|r| r.split(' ').next())
                .and_then(|n| n.parse::<i64>().ok());
            RedeemFailure::UsedUp { allowed }
        }
        410 => RedeemFailure::Expired { at: None },
        403 => RedeemFailure::WrongCode,
        500 if text == "Corrupted claim" => RedeemFailure::Corrupted,
        423 if text.starts_with("Access grant locked") => {
            let wrong_codes = text
                .strip_prefix("Access grant locked: ")
                .and_then(|r| r.split(' ').next())
                .and_then(|n| n.parse::<u32>().ok());
            RedeemFailure::Locked { wrong_codes }
        }
        429 | 502 | 503 | 504 => RedeemFailure::Unavailable { status, body: tidy_body(body) },
        500..=599 => RedeemFailure::ServerError { status, body: tidy_body(body) },
        _ => RedeemFailure::Rejected { status, body: tidy_body(body) },
    }
}

/// A `token issue` / `link generate` / `link update` input refused, with upstream's text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InputError {
    /// `--expiration-window` below one minute.
    #[error("expiration time is not valid: duration must not be less than {}; got {got}", MIN_EXPIRATION_WINDOW)]
    ExpirationTooShort {
        /// The window given.
        got: GoDuration,
    },
    /// `--redemptions-allowed` below 1.
    #[error("number of redemptions is not valid")]
    Redemptions {
        /// The number given.
        got: i64,
    },
    /// `--cost` negative.
    #[error("link cost is not valid: value is not positive")]
    NegativeCost {
        /// The cost given.
        got: i64,
    },
    /// `--cost` is not an integer (Go `strconv.Atoi` texts).
    #[error("link cost is not valid: strconv.Atoi: parsing {input:?}: {reason}")]
    CostSyntax {
        /// The text given.
        input: String,
        /// `invalid syntax` or `value out of range`, as Go says.
        reason: &'static str,
    },
    /// `--timeout` below ten seconds.
    #[error("timeout is not valid: duration must not be less than {}; got {got}", MIN_TIMEOUT)]
    TimeoutTooShort {
        /// The timeout given.
        got: GoDuration,
    },
    /// An AccessGrant's `spec.expirationWindow` is not a duration (upstream Processed=False text).
    #[error("Invalid duration {input:?}: {error}")]
    InvalidWindow {
        /// The text found.
        input: String,
        /// Why it does not parse.
        error: DurationError,
    },
}

/// `--expiration-window` must be at least one minute.
pub fn validate_expiration_window(window: GoDuration) -> Result<(), InputError> {
    if window < MIN_EXPIRATION_WINDOW { Err(InputError::ExpirationTooShort { got: window }) } else { Ok(()) }
}

/// `--redemptions-allowed` must be at least 1.
pub fn validate_redemptions(n: i64) -> Result<(), InputError> {
    if n < 1 { Err(InputError::Redemptions { got: n }) } else { Ok(()) }
}

/// `--timeout` must be at least ten seconds.
pub fn validate_timeout(timeout: GoDuration) -> Result<(), InputError> {
    if timeout < MIN_TIMEOUT { Err(InputError::TimeoutTooShort { got: timeout }) } else { Ok(()) }
}

/// `--cost` must be an integer >= 0 (0 is allowed by the CLI; the router treats it as 1).
pub fn validate_cost(cost: i64) -> Result<(), InputError> {
    if cost < 0 { Err(InputError::NegativeCost { got: cost }) } else { Ok(()) }
}

/// Parses `--cost` as Go's `strconv.Atoi` does (optional sign, decimal digits, 64-bit), then
/// applies [`validate_cost`].
pub fn parse_cost(text: &str) -> Result<i64, InputError> {
    let syntax = |reason| InputError::CostSyntax { input: text.to_string(), reason };
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return Err(syntax("invalid syntax"));
    }
    let cost = text.parse::<i64>().map_err(|_| syntax("value out of range"))?;
    validate_cost(cost)?;
    Ok(cost)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::{AccessGrantSpec, AccessGrantStatus};
    use alloc::format;

    fn state() -> GrantState {
        GrantState {
            code: "L1qCl2mZ7D81gbXp3ax4YT0K".into(),
            redemptions_allowed: 2,
            redemptions: 0,
            expiration_time: 1_000,
        }
    }

    #[test]
    fn codes_are_24_alphanumerics_and_depend_on_every_byte() {
        let zero = generate_code(&[0; 24]);
        assert_eq!(zero, "000000000000000000000000");
        let max = generate_code(&[0xff; 24]);
        assert_eq!(max.len(), CODE_LEN);
        assert!(max.bytes().all(|c| c.is_ascii_alphanumeric()));
        for i in 0..24 {
            let mut r = [7u8; 24];
            let base = generate_code(&r);
            r[i] ^= 1;
            assert_ne!(generate_code(&r), base, "byte {i} must matter");
        }
        // 62 = "10" in base 62.
        let mut r = [0u8; 24];
        r[23] = 62;
        assert_eq!(generate_code(&r), "000000000000000000000010");
    }

    #[test]
    fn check_outcomes() {
        let mut s = state();
        assert_eq!(s.check("L1qCl2mZ7D81gbXp3ax4YT0K", 1_000), Ok(()));
        assert_eq!(s.check("L1qCl2mZ7D81gbXp3ax4YT0k", 10), Err(Refusal::WrongCode));
        assert_eq!(s.check("", 10), Err(Refusal::WrongCode));
        assert_eq!(s.check("L1qCl2mZ7D81gbXp3ax4YT0K", 1_001), Err(Refusal::Expired { at: 1_000 }));
        // The code is checked first: a wrong code on an expired grant learns nothing more.
        assert_eq!(s.check("nope", 5_000), Err(Refusal::WrongCode));
        s.commit();
        assert_eq!(s.remaining(), 1);
        assert_eq!(s.check("L1qCl2mZ7D81gbXp3ax4YT0K", 10), Ok(()));
        s.commit();
        assert_eq!(s.check("L1qCl2mZ7D81gbXp3ax4YT0K", 10), Err(Refusal::UsedUp { allowed: 2 }));
        assert_eq!(s.remaining(), 0);
        let empty = GrantState { code: String::new(), ..state() };
        assert_eq!(empty.check("", 0), Err(Refusal::WrongCode));
        let zero_allowed = GrantState { redemptions_allowed: 0, ..state() };
        assert_eq!(zero_allowed.check("L1qCl2mZ7D81gbXp3ax4YT0K", 0), Ok(()));
    }

    #[test]
    fn refusal_wire_format() {
        assert_eq!((Refusal::Unknown.http_status(), Refusal::Unknown.body().as_str()), (404, "No such claim"));
        let e = Refusal::Expired { at: 1_784_800_800 };
        assert_eq!((e.http_status(), e.body().as_str()), (410, "Access grant expired at 2026-07-23T10:00:00Z"));
        let u = Refusal::UsedUp { allowed: 3 };
        assert_eq!((u.http_status(), u.body().as_str()), (410, "No such access granted: all 3 redemptions were used"));
        assert_eq!(
            (Refusal::WrongCode.http_status(), Refusal::WrongCode.body().as_str()),
            (403, "Redemption of access token refused")
        );
        assert_eq!((Refusal::Corrupted.http_status(), Refusal::Corrupted.body().as_str()), (500, "Corrupted claim"));
    }

    #[test]
    fn every_refusal_is_understood_by_the_client() {
        for r in [
            Refusal::Unknown,
            Refusal::Expired { at: 1_784_800_800 },
            Refusal::UsedUp { allowed: 1 },
            Refusal::WrongCode,
            Refusal::Corrupted,
            Refusal::Locked { wrong_codes: 10 },
            Refusal::Throttled { retry_after: 4 },
        ] {
            let body = format!("{}\n", r.body());
            let c = classify_response(r.http_status(), &body);
            let expected = match r {
                Refusal::Unknown => RedeemFailure::UnknownGrant,
                Refusal::Expired { .. } => RedeemFailure::Expired { at: Some("2026-07-23T10:00:00Z".into()) },
                Refusal::UsedUp { .. } => RedeemFailure::UsedUp { allowed: Some(1) },
                Refusal::WrongCode => RedeemFailure::WrongCode,
                Refusal::Corrupted => RedeemFailure::Corrupted,
                Refusal::Locked { .. } => RedeemFailure::Locked { wrong_codes: Some(10) },
                Refusal::Throttled { .. } => RedeemFailure::Unavailable {
                    status: 429,
                    body: "Too many wrong codes: retry after 4 seconds".into(),
                },
            };
            assert_eq!(c, expected);
        }
    }

    #[test]
    fn client_messages_say_what_to_do() {
        let m = classify_response(410, "Access grant expired at 2026-07-23T10:00:00Z\n").to_string();
        assert_eq!(
            m,
            "the token has expired (at 2026-07-23T10:00:00Z): ask the issuing site for a new one (kubectl skupper \
             token issue)"
        );
        // Upstream servers: used-up is a 404 with its own body.
        assert_eq!(classify_response(404, "No such access granted\n"), RedeemFailure::UsedUp { allowed: None });
        assert!(classify_response(404, "No such claim").to_string().contains("token issue"));
        let locked = classify_response(423, "Access grant locked: 10 wrong codes were tried; issue a new token\n");
        assert_eq!(locked, RedeemFailure::Locked { wrong_codes: Some(10) });
        assert!(!locked.is_retryable());
        assert_eq!(
            locked.to_string(),
            "the issuing site locked the token after 10 wrong codes were tried (someone may have been guessing it): \
             ask the issuing site for a new one (kubectl skupper token issue)"
        );
        // A 423 from something else is not a locked grant.
        assert!(matches!(classify_response(423, "Locked"), RedeemFailure::Rejected { status: 423, .. }));
        let s = classify_response(503, "Internal error\n");
        assert!(s.is_retryable() && s.to_string().contains("retry"));
        let g = classify_response(500, "No valid endpoints found for site\n");
        assert_eq!(g, RedeemFailure::ServerError { status: 500, body: "No valid endpoints found for site".into() });
        let r = classify_response(405, "Only POST is supported\u{7}");
        assert_eq!(r, RedeemFailure::Rejected { status: 405, body: "Only POST is supported".into() });
        let long = "é".repeat(500);
        let RedeemFailure::Rejected { body, .. } = classify_response(400, &long) else { panic!("rejected") };
        assert_eq!(body.chars().count(), 201);
    }

    #[test]
    fn constant_time_compare_is_correct_for_all_length_cases() {
        assert!(constant_time_eq(b"", b""));
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(!constant_time_eq(b"ab", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abc\0"));
        assert!(!constant_time_eq(b"", b"\0"));
        assert!(!constant_time_eq(b"xbc", b"abc"));
    }

    #[test]
    fn from_grant_reads_status_and_defaults() {
        let mut g = AccessGrant::new(
            "g",
            AccessGrantSpec { redemptions_allowed: 0, code: "spec-code".into(), ..Default::default() },
        );
        g.status =
            AccessGrantStatus { expiration_time: "2026-07-23T10:00:00Z".into(), redemptions: 0, ..Default::default() };
        let s = GrantState::from_grant(&g).expect("readable");
        assert_eq!((s.code.as_str(), s.redemptions_allowed, s.expiration_time), ("spec-code", 1, 1_784_800_800));
        g.status.code = "status-code".into();
        assert_eq!(GrantState::from_grant(&g).expect("readable").code, "status-code");
        g.status.expiration_time = "soon".into();
        assert_eq!(GrantState::from_grant(&g), Err(Refusal::Corrupted));
    }

    #[test]
    fn windows_and_expiry() {
        assert_eq!(expiration(1_000, GoDuration::parse("15m").expect("15m")), 1_900);
        assert_eq!(expiration(i64::MAX, GoDuration::HOUR), i64::MAX);
        assert_eq!(expiration_window(""), Ok(CONTROLLER_DEFAULT_WINDOW));
        assert_eq!(expiration_window("1h"), Ok(GoDuration::HOUR));
        assert_eq!(
            expiration_window("x").expect_err("bad").to_string(),
            r#"Invalid duration "x": time: invalid duration "x""#
        );
        assert_eq!(DEFAULT_EXPIRATION_WINDOW.to_string(), "15m0s");
    }

    #[test]
    fn cli_rules_use_upstream_texts() {
        assert_eq!(validate_expiration_window(GoDuration::MINUTE), Ok(()));
        assert_eq!(
            validate_expiration_window(GoDuration::from_secs(30)).expect_err("short").to_string(),
            "expiration time is not valid: duration must not be less than 1m0s; got 30s"
        );
        assert_eq!(
            validate_timeout(GoDuration::ZERO).expect_err("short").to_string(),
            "timeout is not valid: duration must not be less than 10s; got 0s"
        );
        assert_eq!(validate_timeout(GoDuration::from_secs(10)), Ok(()));
        assert_eq!(validate_redemptions(0).expect_err("zero").to_string(), "number of redemptions is not valid");
        assert_eq!(validate_redemptions(1), Ok(()));
        assert_eq!(parse_cost("0"), Ok(0));
        assert_eq!(parse_cost("+7"), Ok(7));
        assert_eq!(
            parse_cost("-1").expect_err("negative").to_string(),
            "link cost is not valid: value is not positive"
        );
        assert_eq!(
            parse_cost("ten").expect_err("text").to_string(),
            r#"link cost is not valid: strconv.Atoi: parsing "ten": invalid syntax"#
        );
        assert_eq!(
            parse_cost("99999999999999999999").expect_err("big").to_string(),
            r#"link cost is not valid: strconv.Atoi: parsing "99999999999999999999": value out of range"#
        );
        assert!(parse_cost("").is_err() && parse_cost(" 1").is_err() && parse_cost("-").is_err());
    }

    #[test]
    fn annotations_are_advisory_and_parseable() {
        let a = token_annotations(0, 900, 1, "west-1", "west");
        assert_eq!(a[ANNOTATION_ISSUED_AT], "1970-01-01T00:00:00Z");
        assert_eq!(a[ANNOTATION_EXPIRES_AT], "1970-01-01T00:15:00Z");
        assert_eq!(a[ANNOTATION_REDEMPTIONS_ALLOWED], "1");
        assert!(a.keys().all(|k| k.starts_with(ANNOTATION_PREFIX)));
    }
}
