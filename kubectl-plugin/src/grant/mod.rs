//! Access grants on every platform: issuing a grant and its token, the HTTPS grant server that
//! exchanges a token's code for link credentials, and the client that redeems a token.
//!
//! The protocol is upstream's (reference §2.2): `POST /<grant uid>`, body = code, headers
//! `name` and `subject`; 200 answers a YAML stream `---` Secret `---` Link... Unlike upstream,
//! expired, used-up and unknown grants get distinct answers, and a redemption is only counted
//! once the credential exists.

#[cfg(test)]
mod fuzz;
pub(crate) mod limits;
pub(crate) mod redeem;
pub(crate) mod server;

use skupper_core::duration::GoDuration;
use skupper_core::grant as rules;
use skupper_core::grant::RedeemFailure as Failure;
use skupper_core::resources::{
    AccessGrant, AccessGrantSpec, AccessToken, AccessTokenSpec, Condition, Endpoint, Link, condition,
};

use self::redeem::RedeemError;

/// Conditions that make an AccessGrant Ready.
pub(crate) const GRANT_REQUIRED: &[&str] = &[condition::PROCESSED, condition::RESOLVED];

/// A new grant (not processed yet).
pub(crate) fn new_grant(name: &str, uid: &str, redemptions_allowed: i64, window: GoDuration) -> AccessGrant {
    let mut g = AccessGrant::new(
        name,
        AccessGrantSpec { redemptions_allowed, expiration_window: window.to_string(), ..Default::default() },
    );
    g.metadata.uid = Some(uid.into());
    g
}

/// Fills a grant's status the way upstream's controller does (`checkGrant`): url, ca, code
/// (spec.code or random), expiration time (set once: now + window, 10 minutes if no window),
/// Processed/Resolved conditions. Grants already processed keep their code and expiry.
pub(crate) fn process(grant: &mut AccessGrant, url_base: &str, ca_pem: &str, now: i64) -> anyhow::Result<()> {
    let now_text = skupper_core::time::format_rfc3339(now);
    if grant.spec.redemptions_allowed == 0 {
        grant.spec.redemptions_allowed = 1;
    }
    if grant.metadata.uid.as_deref().unwrap_or("").is_empty() {
        grant.metadata.uid = Some(crate::platform::uuid_v4()?);
    }
    let uid = grant.metadata.uid.clone().unwrap_or_default();
    let st = &mut grant.status;
    if st.code.is_empty() {
        st.code = if grant.spec.code.is_empty() {
            rules::generate_code(&crate::platform::random_bytes::<24>()?)
        } else {
            grant.spec.code.clone()
        };
    }
    st.url = format!("{url_base}/{uid}");
    st.ca = ca_pem.to_string();
    if st.expiration_time.is_empty() {
        match rules::expiration_window(&grant.spec.expiration_window) {
            Ok(w) => {
                st.expiration_time = skupper_core::time::format_rfc3339(rules::expiration(now, w));
                st.status.set_condition(Condition::ready(condition::PROCESSED), GRANT_REQUIRED, Some(&now_text));
            }
            Err(e) => {
                let msg = e.to_string();
                st.status.set_condition(Condition::error(condition::PROCESSED, msg), GRANT_REQUIRED, Some(&now_text));
            }
        }
    }
    st.status.set_condition(Condition::ready(condition::RESOLVED), GRANT_REQUIRED, Some(&now_text));
    Ok(())
}

/// The token for a processed grant (`metadata.name` = grant name, as upstream), with advisory
/// annotations (issued-at, expires-at, redemptions-allowed, grant and issuing site) that
/// inspectors may show; the grant stays the authority.
pub(crate) fn token_for(grant: &AccessGrant, site: &str, cost: i64, issued_at: i64) -> AccessToken {
    let mut t = AccessToken::new(
        grant.name(),
        AccessTokenSpec {
            url: grant.status.url.clone(),
            code: grant.status.code.clone(),
            ca: grant.status.ca.clone(),
            link_cost: cost,
            settings: Default::default(),
            extra: Default::default(),
        },
    );
    let expires = skupper_core::time::parse_rfc3339(&grant.status.expiration_time).ok();
    t.metadata.annotations = rules::token_annotations(
        issued_at,
        expires.unwrap_or(issued_at),
        rules::effective_redemptions_allowed(grant.spec.redemptions_allowed),
        grant.name(),
        site,
    );
    if expires.is_none() {
        t.metadata.annotations.remove(rules::ANNOTATION_EXPIRES_AT);
    }
    t
}

/// Links for a redeemed grant: one per endpoint group, named `<name>` (or `<name>-1`, `-2` with
/// several groups), `tlsCredentials: <name>`, no cost (reference §2.2).
pub(crate) fn links_for_grant(name: &str, endpoints: &[Endpoint]) -> Vec<Link> {
    skupper_core::link::links_for_grant(name, endpoints)
}

/// Links for `link generate`: one per endpoint group, named `link-<site>-<group>`.
pub(crate) fn generate_links(site: &str, endpoints: &[Endpoint], tls_credentials: &str, cost: i64) -> Vec<Link> {
    skupper_core::link::generate_links(site, endpoints, tls_credentials, cost)
}

/// What went wrong with a redemption, in one clear sentence per cause and what to do next: the
/// CLI prints it, a controller puts it into the AccessToken's status. `prog` is how users invoke
/// this program (`kubectl skupper`).
pub(crate) fn redeem_failure(prog: &str, name: &str, e: &RedeemError) -> String {
    let new_token = format!("Ask the issuing site for a new token ({prog} token issue <file> on that site)");
    match e {
        RedeemError::Refused(Failure::Expired { at }) => {
            let when = at.as_deref().map(|t| format!(" (at {t})")).unwrap_or_default();
            format!("Token {name:?} has expired{when}: its grant's expiration window has passed.\n{new_token}.")
        }
        RedeemError::Refused(Failure::UsedUp { .. }) => format!(
            "Token {name:?} is used up: it was already redeemed as many times as it allows.\n{new_token}; \
             use --redemptions-allowed to allow more redemptions."
        ),
        RedeemError::Refused(Failure::UnknownGrant) => format!(
            "The issuing site does not know token {name:?} (no such grant): the grant was deleted, the site \
             was re-created, or (on upstream Skupper sites) the token expired.\n{new_token}."
        ),
        RedeemError::Refused(Failure::WrongCode) => format!(
            "The issuing site refused the code of token {name:?}: the token file was altered or damaged.\n\
             Redeem the original file, or {}.",
            new_token.replacen("Ask", "ask", 1)
        ),
        RedeemError::Refused(other) => format!("Token {name:?} could not be redeemed: {other}."),
        RedeemError::Unreachable { .. } | RedeemError::Timeout { .. } => format!(
            "Token {name:?} could not be redeemed: {e}.\nCheck that the issuing site is running ({prog} system start \
             on that site) and reachable from this host, then redeem again."
        ),
        RedeemError::Tls { .. } => format!(
            "Token {name:?} could not be redeemed: {e}.\nThe token's CA does not belong to the site at the \
             token's URL (a token from another site, or the site was re-created). {new_token}."
        ),
        other => format!("Token {name:?} could not be redeemed: {other}.\n{new_token}."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn processing_sets_everything_once() {
        let mut g = new_grant("west-1", "uid-1", 0, GoDuration::from_secs(900));
        process(&mut g, "https://127.0.0.1:9090", "CA", 1_000).expect("process");
        assert_eq!(g.spec.redemptions_allowed, 1);
        assert_eq!(g.status.url, "https://127.0.0.1:9090/uid-1");
        assert_eq!(g.status.code.len(), 24);
        assert_eq!(g.status.expiration_time, skupper_core::time::format_rfc3339(1_900));
        assert_eq!(g.status.status.status, "Ready");
        let code = g.status.code.clone();
        process(&mut g, "https://127.0.0.1:9090", "CA", 5_000).expect("again");
        assert_eq!(
            (g.status.code.as_str(), g.status.expiration_time.clone()),
            (code.as_str(), skupper_core::time::format_rfc3339(1_900))
        );
        let t = token_for(&g, "west", 3, 1_000);
        assert_eq!((t.name(), t.spec.link_cost), ("west-1", 3));
        assert_eq!(t.metadata.annotations.get(rules::ANNOTATION_EXPIRES_AT), Some(&g.status.expiration_time));
        assert_eq!(t.metadata.annotations.get(rules::ANNOTATION_REDEMPTIONS_ALLOWED).map(String::as_str), Some("1"));
    }

    #[test]
    fn bad_window_is_an_error_condition() {
        let mut g = new_grant("g", "u", 1, GoDuration::from_secs(60));
        g.spec.expiration_window = "soon".into();
        process(&mut g, "https://h:1", "CA", 0).expect("process");
        assert_eq!(g.status.status.status, "Error");
        assert!(g.status.status.message.starts_with("Invalid duration \"soon\""), "{}", g.status.status.message);
    }

    #[test]
    fn generated_links_per_group() {
        let ep = |n: &str, g: &str| Endpoint { name: n.into(), host: "h".into(), port: "1".into(), group: g.into() };
        let eps = [
            ep("inter-router", "skupper-router"),
            ep("edge", "skupper-router"),
            ep("inter-router", "skupper-router-2"),
        ];
        let links = generate_links("west", &eps, "link-west", 2);
        assert_eq!(
            links.iter().map(|l| l.name()).collect::<Vec<_>>(),
            ["link-west-skupper-router", "link-west-skupper-router-2"]
        );
        assert_eq!(links[0].spec.endpoints.len(), 2);
        assert_eq!(links_for_grant("tok", &eps).iter().map(|l| l.name()).collect::<Vec<_>>(), ["tok-1", "tok-2"]);
        assert_eq!(links_for_grant("tok", &eps[..2]).len(), 1);
    }
}
