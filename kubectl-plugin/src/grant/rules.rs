//! Grant rules: codes, expiry, the redemption check and how answers are told apart by the
//! redeemer. (Kept here until `skupper_core::grant` provides them; same shapes.)

use skupper_core::duration::GoDuration;
use skupper_core::resources::{Endpoint, Link, LinkSpec};

/// Advisory annotation: when the token was issued (RFC 3339).
pub const ANNOTATION_ISSUED_AT: &str = "skupper.io/issued-at";
/// Advisory annotation: when the grant expires (RFC 3339).
pub const ANNOTATION_EXPIRES_AT: &str = "skupper.io/expires-at";
/// Advisory annotation: how many redemptions the grant allows.
pub const ANNOTATION_REDEMPTIONS_ALLOWED: &str = "skupper.io/redemptions-allowed";

const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// A 24-character code from 24 random bytes.
pub fn generate_code(random: &[u8; 24]) -> String {
    random.iter().map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()])).collect()
}

/// Expiry (Unix seconds) of a grant processed at `now` with `window`.
pub fn expiration(now: i64, window: GoDuration) -> i64 {
    now.saturating_add(window.as_secs())
}

/// Why a redemption is refused; each maps to an HTTP answer the redeemer can tell apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No grant with that key.
    NoSuchGrant,
    /// The grant's expiry time cannot be read.
    Corrupted,
    /// The expiration window has passed.
    Expired,
    /// All redemptions are used.
    UsedUp,
    /// The code does not match.
    CodeRefused,
}

impl Refusal {
    /// HTTP status of the answer.
    pub fn http_status(self) -> u16 {
        match self {
            Refusal::NoSuchGrant => 404,
            Refusal::Corrupted => 500,
            Refusal::Expired | Refusal::UsedUp => 410,
            Refusal::CodeRefused => 403,
        }
    }
    /// Text body of the answer (upstream's where upstream has one).
    pub fn body(self) -> &'static str {
        match self {
            Refusal::NoSuchGrant => "No such claim",
            Refusal::Corrupted => "Corrupted claim",
            Refusal::Expired => "Access grant expired",
            Refusal::UsedUp => "Access grant used up: no redemptions left",
            Refusal::CodeRefused => "Redemption of access token refused",
        }
    }
}

/// What the grant server needs to decide a redemption.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantState {
    /// Secret code.
    pub code: String,
    /// RFC 3339 expiry.
    pub expiration_time: String,
    /// Redemptions allowed (0 counts as 1).
    pub redemptions_allowed: i64,
    /// Redemptions made.
    pub redemptions: i64,
}

impl GrantState {
    /// Checks a redemption attempt at `now` (upstream order: expiry, count, code).
    pub fn check(&self, code: &str, now: i64) -> Result<(), Refusal> {
        let expiry = skupper_core::time::parse_rfc3339(&self.expiration_time).map_err(|_| Refusal::Corrupted)?;
        if now > expiry {
            return Err(Refusal::Expired);
        }
        if self.redemptions_allowed.max(1) <= self.redemptions {
            return Err(Refusal::UsedUp);
        }
        if !constant_time_eq(code.trim().as_bytes(), self.code.as_bytes()) {
            return Err(Refusal::CodeRefused);
        }
        Ok(())
    }
    /// Counts one redemption (after the credential was produced).
    pub fn commit(&mut self) {
        self.redemptions += 1;
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// How a redeemer reads a non-200 answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The grant expired.
    Expired,
    /// No redemptions left.
    UsedUp,
    /// The server does not know the grant (upstream also says this for expired grants).
    UnknownGrant,
    /// The code was refused.
    CodeRefused,
    /// Anything else: status and body.
    Other(u16, String),
}

/// Classifies a grant server's answer.
pub fn classify_response(status: u16, body: &str) -> Failure {
    let body = body.trim();
    match (status, body) {
        (410, b) if b == Refusal::Expired.body() => Failure::Expired,
        (410, b) if b == Refusal::UsedUp.body() => Failure::UsedUp,
        (404, "No such claim") => Failure::UnknownGrant,
        (404, "No such access granted") => Failure::UsedUp,
        (403, _) => Failure::CodeRefused,
        (s, b) => Failure::Other(s, b.to_string()),
    }
}

/// Links for a redeemed grant: one per endpoint group.
pub fn links_for_grant(name: &str, endpoints: &[Endpoint]) -> Vec<Link> {
    let mut groups: Vec<&str> = endpoints.iter().map(|e| e.group.as_str()).collect();
    groups.sort_unstable();
    groups.dedup();
    let several = groups.len() > 1;
    groups
        .iter()
        .enumerate()
        .map(|(i, g)| {
            let link_name = if several { format!("{name}-{}", i + 1) } else { name.to_string() };
            Link::new(
                link_name,
                LinkSpec {
                    endpoints: endpoints.iter().filter(|e| e.group == *g).cloned().collect(),
                    tls_credentials: name.into(),
                    cost: 0,
                    settings: Default::default(),
                },
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> GrantState {
        GrantState {
            code: "abc".into(),
            expiration_time: skupper_core::time::format_rfc3339(100),
            redemptions_allowed: 1,
            redemptions: 0,
        }
    }

    #[test]
    fn check_order_and_commit() {
        let mut s = state();
        assert_eq!(s.check("abc", 50), Ok(()));
        assert_eq!(s.check("abd", 50), Err(Refusal::CodeRefused));
        assert_eq!(s.check("abc", 101), Err(Refusal::Expired));
        s.commit();
        assert_eq!(s.check("abc", 50), Err(Refusal::UsedUp));
        s.expiration_time = "garbage".into();
        assert_eq!(s.check("abc", 50), Err(Refusal::Corrupted));
    }

    #[test]
    fn answers_are_told_apart() {
        for (r, f) in [
            (Refusal::Expired, Failure::Expired),
            (Refusal::UsedUp, Failure::UsedUp),
            (Refusal::NoSuchGrant, Failure::UnknownGrant),
            (Refusal::CodeRefused, Failure::CodeRefused),
        ] {
            assert_eq!(classify_response(r.http_status(), &format!("{}\n", r.body())), f);
        }
        assert_eq!(classify_response(404, "No such access granted"), Failure::UsedUp);
        assert_eq!(classify_response(500, "x"), Failure::Other(500, "x".into()));
        assert_eq!(generate_code(&[0; 24]), "A".repeat(24));
    }
}
