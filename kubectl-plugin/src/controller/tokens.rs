//! AccessTokens on Kubernetes: the controller redeems every token that is not redeemed yet with
//! the issuing site's grant server (the same client as the local platform's `token redeem`),
//! stores the answered Secret and Links (owned by the Site, cost from `linkCost`), and reports in
//! the token's `Redeemed` condition. Final refusals (expired, used up, unknown, wrong code, not a
//! usable token) are reported once and never retried; an unreachable or failing grant server is
//! retried with backoff (5 s doubling to 5 min), which the message says.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Secret as KubeSecret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::Api;
use kube::api::PostParams;
use skupper_core::resources::{Condition, Resource, condition};
use tokio::sync::mpsc;

use super::state::{Stores, by_name};
use super::status::{observed, write_status};
use crate::grant::redeem;
use crate::platform::kube::cr::{Cr, KAccessToken, KLink, KSite, LinkKind, kube_secret};
use crate::platform::now_rfc3339;

/// Annotation on a redeemed Secret naming the AccessToken it came from.
pub(crate) const TOKEN_UID_ANNOTATION: &str = "skupper.io/access-token-uid";
/// Timeout of one redemption request (upstream: 10 s).
const REDEEM_TIMEOUT: Duration = Duration::from_secs(10);
const FIRST_RETRY: Duration = Duration::from_secs(5);
const MAX_RETRY: Duration = Duration::from_secs(300);
const REQUIRED: &[&str] = &[condition::REDEEMED];

/// How a redemption ended.
enum Outcome {
    Redeemed(Vec<String>),
    Final(String),
    Retry(String),
}

/// Redemptions under way and their retry schedule.
pub(crate) struct Tokens {
    inflight: BTreeSet<String>,
    /// Uids of tokens whose final outcome (redeemed or refused) this controller wrote, until the
    /// watch shows it: the cache lags the write, and a token that looks unfinished there must
    /// not be taken up again (its Secret would make it look redeemed, hiding a refusal).
    settled: BTreeSet<String>,
    retry: BTreeMap<String, (Instant, Duration)>,
    tx: mpsc::UnboundedSender<(String, Outcome)>,
    rx: mpsc::UnboundedReceiver<(String, Outcome)>,
}

/// The owner reference of objects a Site owns.
pub(crate) fn owned_by(site: &KSite) -> OwnerReference {
    OwnerReference {
        api_version: format!("{}/{}", crate::platform::kube::cr::GROUP, crate::platform::kube::cr::VERSION),
        kind: "Site".into(),
        name: site.name().to_string(),
        uid: site.metadata.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: None,
    }
}

impl Tokens {
    /// Nothing under way.
    pub(crate) fn new() -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        Self { inflight: BTreeSet::new(), settled: BTreeSet::new(), retry: BTreeMap::new(), tx, rx }
    }

    /// Reports finished redemptions, then starts the ones that are due.
    pub(crate) async fn reconcile(&mut self, client: &kube::Client, namespace: &str, stores: &Stores, prog: &str) {
        let api: Api<KAccessToken> = Api::namespaced(client.clone(), namespace);
        while let Ok((name, outcome)) = self.rx.try_recv() {
            self.finish(&api, stores, &name, outcome).await;
        }
        let site = stores.active_site();
        for t in stores.tokens.state() {
            let st = t.status.clone().unwrap_or_default();
            let uid = t.metadata.uid.clone().unwrap_or_default();
            if self.settled.contains(&uid) {
                let shown =
                    st.redeemed || st.status.condition(condition::REDEEMED).is_some_and(|c| c.reason == "Error");
                if shown {
                    self.settled.remove(&uid);
                }
                continue;
            }
            if st.redeemed || self.inflight.contains(t.name()) {
                continue;
            }
            let Some(site) = site.clone() else {
                let c = Condition::pending(condition::REDEEMED, "No active site in namespace");
                set_condition(&api, &t, c).await;
                continue;
            };
            if self.retry.get(t.name()).is_some_and(|(at, _)| Instant::now() < *at) {
                continue;
            }
            if st.status.condition(condition::REDEEMED).is_some_and(|c| c.reason == "Error") {
                continue; // final: a new token is needed
            }
            // Redeemed before, but the status was not written (a crash in between): do not spend
            // another use of the grant.
            let already = stores
                .secrets
                .find(|s| s.metadata.annotations.as_ref().and_then(|a| a.get(TOKEN_UID_ANNOTATION)) == Some(&uid));
            if already.is_some() {
                self.finish(&api, stores, t.name(), Outcome::Redeemed(Vec::new())).await;
                continue;
            }
            self.inflight.insert(t.name().to_string());
            let tx = self.tx.clone();
            let client = client.clone();
            let namespace = namespace.to_string();
            let prog = prog.to_string();
            tokio::spawn(async move {
                let name = t.name().to_string();
                let outcome = redeem_one(&client, &namespace, &t, &site, &prog).await;
                let _ = tx.send((name, outcome));
            });
        }
    }

    async fn finish(&mut self, api: &Api<KAccessToken>, stores: &Stores, name: &str, outcome: Outcome) {
        self.inflight.remove(name);
        let Some(t) = by_name(&stores.tokens, name) else { return };
        let mut st = t.status.clone().unwrap_or_default();
        let now = now_rfc3339();
        let settles = !matches!(outcome, Outcome::Retry(_));
        match outcome {
            Outcome::Redeemed(links) => {
                self.retry.remove(name);
                st.redeemed = true;
                st.status.set_condition(Condition::ready(condition::REDEEMED), REQUIRED, Some(&now));
                if !links.is_empty() {
                    tracing::info!(target: "controller", "token {name} redeemed: link {} added", links.join(", "));
                }
            }
            Outcome::Final(msg) => {
                self.retry.remove(name);
                tracing::warn!(target: "controller", "token {name} refused: {msg}");
                st.status.set_condition(Condition::error(condition::REDEEMED, msg), REQUIRED, Some(&now));
            }
            Outcome::Retry(msg) => {
                let delay = self.retry.get(name).map(|(_, d)| (*d * 2).min(MAX_RETRY)).unwrap_or(FIRST_RETRY);
                self.retry.insert(name.to_string(), (Instant::now() + delay, delay));
                let msg = format!("{msg} Retrying in {}s.", delay.as_secs());
                tracing::info!(target: "controller", "token {name} not redeemed yet: {msg}");
                st.status.set_condition(Condition::pending(condition::REDEEMED, msg), REQUIRED, Some(&now));
            }
        }
        observed(&mut st.status, t.metadata.generation);
        match write_status(api, &t, st).await {
            Ok(_) if settles => {
                self.settled.insert(t.metadata.uid.clone().unwrap_or_default());
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(target: "controller", "token {name}: {e:#}"),
        }
    }
}

async fn set_condition(api: &Api<KAccessToken>, t: &KAccessToken, c: Condition) {
    let mut st = t.status.clone().unwrap_or_default();
    if st.status.condition(&c.type_).is_some_and(|x| x.status == c.status && x.message == c.message) {
        return;
    }
    st.status.set_condition(c, REQUIRED, Some(&now_rfc3339()));
    observed(&mut st.status, t.metadata.generation);
    if let Err(e) = write_status(api, t, st).await {
        tracing::warn!(target: "controller", "token {}: {e:#}", t.name());
    }
}

/// Redeems one token and stores what the issuing site answered.
async fn redeem_one(
    client: &kube::Client,
    namespace: &str,
    t: &Arc<KAccessToken>,
    site: &KSite,
    prog: &str,
) -> Outcome {
    let Resource::AccessToken(token) = t.to_resource() else { return Outcome::Final("not a token".into()) };
    let subject = site.metadata.uid.clone().unwrap_or_default();
    let mut answer = match redeem::redeem(&token, &subject, REDEEM_TIMEOUT).await {
        Ok(a) => a,
        Err(e) => {
            let msg = crate::grant::redeem_failure(prog, token.name(), &e);
            return if e.is_transient() { Outcome::Retry(msg) } else { Outcome::Final(msg) };
        }
    };
    if token.spec.link_cost > 0 {
        for l in &mut answer.links {
            l.spec.cost = token.spec.link_cost;
        }
    }
    let owner = owned_by(site);
    let mut secret = match kube_secret(&answer.secret, namespace) {
        Ok(s) => s,
        Err(e) => return Outcome::Final(format!("Controller could not decode the received secret: {e:#}")),
    };
    secret.metadata.owner_references = Some(vec![owner.clone()]);
    secret
        .metadata
        .annotations
        .get_or_insert_with(Default::default)
        .insert(TOKEN_UID_ANNOTATION.into(), t.metadata.uid.clone().unwrap_or_default());
    let secrets: Api<KubeSecret> = Api::namespaced(client.clone(), namespace);
    if let Err(e) = secrets.create(&PostParams::default(), &secret).await {
        return Outcome::Final(format!("Controller could not create received secret: {}", api_text(&e)));
    }
    let links: Api<KLink> = Api::namespaced(client.clone(), namespace);
    let mut names = Vec::new();
    for l in answer.links {
        let name = l.name().to_string();
        let Some(mut link) = Cr::<LinkKind>::from_resource(Resource::Link(l)) else { continue };
        link.metadata.namespace = Some(namespace.into());
        link.metadata.owner_references = Some(vec![owner.clone()]);
        if let Err(e) = links.create(&PostParams::default(), &link).await {
            return Outcome::Final(format!("Controller could not create received link: {}", api_text(&e)));
        }
        names.push(name);
    }
    Outcome::Redeemed(names)
}

fn api_text(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => s.message.clone(),
        other => other.to_string(),
    }
}
