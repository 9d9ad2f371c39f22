//! One controller per namespace: the `coordination.k8s.io/v1` Lease `skupper-controller`. A
//! controller takes it when it is free or expired, renews it every few seconds, and gives it up
//! when it stops; the CLI reads it to know whether anything runs the namespace's site. Every
//! write carries the Lease's resourceVersion, so two controllers racing for it cannot both win.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::Api;
use kube::api::PostParams;

use crate::platform::kube::CONTROLLER_LEASE;
use crate::platform::kube::client::Target;
use crate::platform::kube::errors::{self, Op, explain};

/// How long a Lease stays valid without renewal.
pub(crate) const DURATION: Duration = Duration::from_secs(15);
/// How often it is renewed.
pub(crate) const RENEW_EVERY: Duration = Duration::from_secs(5);

/// Why the Lease could not be taken or kept.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LeaseError {
    /// Another live controller holds it.
    #[error(
        "another controller runs namespace {namespace} (holder {holder}); stop it first, or wait {secs}s if it has just stopped"
    )]
    Held {
        /// Namespace.
        namespace: String,
        /// Its holder identity.
        holder: String,
        /// Seconds until it expires when not renewed.
        secs: u64,
    },
    /// The API server refused or could not be reached.
    #[error(transparent)]
    Api(#[from] anyhow::Error),
}

/// The Lease as held by this controller.
pub(crate) struct Holder {
    api: Api<Lease>,
    target: Target,
    /// This controller's identity (`<host>-<pid>`, or the pod name).
    pub identity: String,
}

fn now() -> MicroTime {
    MicroTime(k8s_openapi::jiff::Timestamp::now())
}

fn expired(spec: &LeaseSpec) -> bool {
    let (Some(renewed), Some(secs)) = (&spec.renew_time, spec.lease_duration_seconds) else { return true };
    renewed.0.as_second() + i64::from(secs) < crate::platform::now_unix()
}

impl Holder {
    /// Takes the Lease of `target`'s namespace for `identity`, or says who holds it.
    pub(crate) async fn acquire(client: kube::Client, target: &Target, identity: String) -> Result<Self, LeaseError> {
        let api: Api<Lease> = Api::namespaced(client, &target.namespace);
        let holder = Self { api, target: target.clone(), identity };
        let op = |verb| Op { verb, resource: "leases.coordination.k8s.io", name: Some(CONTROLLER_LEASE) };
        for _ in 0..5 {
            let current = holder.api.get_opt(CONTROLLER_LEASE).await.map_err(|e| explain(e, &op("get"), target))?;
            let result = match current {
                None => holder.api.create(&PostParams::default(), &holder.lease(None)).await.map(|_| ()),
                Some(lease) => {
                    let spec = lease.spec.clone().unwrap_or_default();
                    let other = spec.holder_identity.clone().filter(|h| !h.is_empty() && *h != holder.identity);
                    if let Some(other) = other
                        && !expired(&spec)
                    {
                        return Err(LeaseError::Held {
                            namespace: target.namespace.clone(),
                            holder: other,
                            secs: DURATION.as_secs(),
                        });
                    }
                    let mut taken = holder.lease(Some(&lease));
                    taken.metadata.resource_version = lease.metadata.resource_version.clone();
                    holder.api.replace(CONTROLLER_LEASE, &PostParams::default(), &taken).await.map(|_| ())
                }
            };
            match result {
                Ok(()) => return Ok(holder),
                // Someone else wrote it in between: look again.
                Err(e) if errors::is_conflict(&e) || errors::is_already_exists(&e) => continue,
                Err(e) => return Err(LeaseError::Api(explain(e, &op("update"), target))),
            }
        }
        Err(LeaseError::Api(anyhow::anyhow!("the Lease {CONTROLLER_LEASE} keeps changing; try again")))
    }

    fn lease(&self, previous: Option<&Lease>) -> Lease {
        let transitions = previous.and_then(|l| l.spec.as_ref()).and_then(|s| s.lease_transitions).unwrap_or(0);
        Lease {
            metadata: ObjectMeta {
                name: Some(CONTROLLER_LEASE.into()),
                namespace: Some(self.target.namespace.clone()),
                labels: Some([("app.kubernetes.io/managed-by".to_string(), "kubectl-skupper".to_string())].into()),
                ..Default::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some(self.identity.clone()),
                lease_duration_seconds: Some(i32::try_from(DURATION.as_secs()).unwrap_or(15)),
                acquire_time: Some(now()),
                renew_time: Some(now()),
                lease_transitions: Some(transitions + i32::from(previous.is_some())),
                ..Default::default()
            }),
        }
    }

    /// Renews the Lease; an error means it is lost (taken by another controller) or cannot be
    /// renewed, and the controller must stop.
    pub(crate) async fn renew(&self) -> Result<(), LeaseError> {
        let op = Op { verb: "update", resource: "leases.coordination.k8s.io", name: Some(CONTROLLER_LEASE) };
        let mut lease = self.api.get(CONTROLLER_LEASE).await.map_err(|e| explain(e, &op, &self.target))?;
        let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
        if spec.holder_identity.as_deref() != Some(self.identity.as_str()) {
            return Err(LeaseError::Held {
                namespace: self.target.namespace.clone(),
                holder: spec.holder_identity.clone().unwrap_or_default(),
                secs: DURATION.as_secs(),
            });
        }
        spec.renew_time = Some(now());
        self.api
            .replace(CONTROLLER_LEASE, &PostParams::default(), &lease)
            .await
            .map_err(|e| explain(e, &op, &self.target))?;
        Ok(())
    }

    /// Gives the Lease up (the next controller starts at once; the CLI sees none running).
    pub(crate) async fn release(&self) {
        let Ok(mut lease) = self.api.get(CONTROLLER_LEASE).await else { return };
        let Some(spec) = lease.spec.as_mut() else { return };
        if spec.holder_identity.as_deref() != Some(self.identity.as_str()) {
            return;
        }
        spec.holder_identity = None;
        spec.renew_time = None;
        let _ = self.api.replace(CONTROLLER_LEASE, &PostParams::default(), &lease).await;
    }
}

/// This process's identity: `POD_NAME` in a pod, else `<hostname>-<pid>`.
pub(crate) fn identity() -> String {
    if let Some(p) = std::env::var("POD_NAME").ok().filter(|p| !p.is_empty()) {
        return p;
    }
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "controller".into());
    format!("{host}-{}", std::process::id())
}
