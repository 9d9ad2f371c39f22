//! API server failures in words a kubectl user acts on: unreachable (which server, which
//! context), the CRDs not installed (run `kubectl skupper install`), forbidden (the verb, the
//! resource, the role to ask for), not found, conflicts, and invalid objects (the server's causes,
//! one per line).

use std::fmt;

use kube::core::Status;

use super::client::Target;

/// Upstream's text when the `skupper.io` API is missing.
pub(crate) const NO_CRDS: &str =
    "The Skupper CRDs are not yet installed. To install them, run\n\"kubectl skupper install\"";

/// What a request was about, for messages: `create links.skupper.io "west"`.
#[derive(Debug, Clone)]
pub(crate) struct Op<'a> {
    /// `get`, `list`, `create`, `update`, `delete`, `patch`.
    pub verb: &'a str,
    /// `links.skupper.io`, `secrets`.
    pub resource: &'a str,
    /// Object name, when one is meant.
    pub name: Option<&'a str>,
}

impl fmt::Display for Op<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name {
            Some(n) => write!(f, "{} {} {n:?}", self.verb, self.resource),
            None => write!(f, "{} {}", self.verb, self.resource),
        }
    }
}

/// Whether a failure says the object does not exist (as opposed to its type).
pub(crate) fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.is_not_found() && !type_missing(s))
}

/// Whether a failure is an optimistic-locking conflict.
pub(crate) fn is_conflict(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 409 && s.reason == "Conflict")
}

/// Whether a create failed because the object exists.
pub(crate) fn is_already_exists(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.is_already_exists())
}

/// A 404 that names no object: the resource type itself is unknown to the server.
fn type_missing(s: &Status) -> bool {
    s.code == 404 && s.details.as_ref().is_none_or(|d| d.name.is_empty())
}

/// Resources that belong to the cluster rather than to a namespace (what `install` writes).
fn cluster_scoped(resource: &str) -> bool {
    resource.starts_with("customresourcedefinitions.") || resource.starts_with("clusterroles.")
}

/// The failure `e` of `op` against `target`, explained.
pub(crate) fn explain(e: kube::Error, op: &Op<'_>, target: &Target) -> anyhow::Error {
    let ns = &target.namespace;
    match e {
        kube::Error::Api(s) if type_missing(&s) && op.resource.ends_with(".skupper.io") => anyhow::anyhow!("{NO_CRDS}"),
        kube::Error::Api(s) if s.is_forbidden() && cluster_scoped(op.resource) => anyhow::anyhow!(
            "{}\nYou may not {op}: this needs a cluster administrator (the cluster-admin role); ask one to run \
             kubectl skupper install for the cluster.",
            s.message
        ),
        kube::Error::Api(s) if s.is_forbidden() => {
            let role = if op.resource.ends_with(".skupper.io") { "skupper-edit" } else { "edit" };
            anyhow::anyhow!(
                "{}\nYou may not {op} in namespace {ns}. Ask your cluster administrator for the {role} role there \
                 (e.g. kubectl create rolebinding skupper-edit --clusterrole={role} --user=<you> -n {ns}).",
                s.message
            )
        }
        kube::Error::Api(s) if s.code == 422 => {
            let causes: Vec<String> =
                s.details
                    .as_ref()
                    .map(|d| {
                        d.causes
                            .iter()
                            .map(|c| {
                                if c.field.is_empty() {
                                    c.message.clone()
                                } else {
                                    format!("{}: {}", c.field, c.message)
                                }
                            })
                            .collect()
                    })
                    .unwrap_or_default();
            if causes.is_empty() {
                anyhow::anyhow!("{op} was refused as invalid: {}", s.message)
            } else {
                anyhow::anyhow!("{op} was refused as invalid:\n  {}", causes.join("\n  "))
            }
        }
        kube::Error::Api(s) if is_conflict_status(&s) => anyhow::anyhow!(
            "{op}: the object was changed by someone else at the same time; read it again and retry ({})",
            s.message
        ),
        kube::Error::Api(s) => anyhow::anyhow!("{op} failed: {} ({} {})", s.message, s.code, s.reason),
        e @ (kube::Error::HyperError(_) | kube::Error::Service(_)) => unreachable(&e, target),
        other => anyhow::Error::new(other).context(format!("{op} failed")),
    }
}

fn is_conflict_status(s: &Status) -> bool {
    s.code == 409 && s.reason == "Conflict"
}

/// The API server cannot be reached: which one, through which context, why, and what to do.
pub(crate) fn unreachable(e: &dyn std::error::Error, target: &Target) -> anyhow::Error {
    let mut cause = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        cause = s.to_string();
        source = s.source();
    }
    anyhow::anyhow!(
        "cannot reach the Kubernetes API server {} (context {}): {cause}; check --context/--kubeconfig or use \
         --platform local",
        target.server(),
        target.context
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::core::response::{StatusCause, StatusDetails};

    fn target() -> Target {
        Target {
            config: kube::Config::new("https://127.0.0.1:6443".parse().expect("uri")),
            context: "kind".into(),
            namespace: "west".into(),
        }
    }

    fn details(name: &str, causes: Vec<StatusCause>) -> StatusDetails {
        StatusDetails {
            name: name.into(),
            group: String::new(),
            kind: String::new(),
            uid: String::new(),
            causes,
            retry_after_seconds: 0,
        }
    }

    fn api(code: u16, reason: &str, message: &str, details: Option<StatusDetails>) -> kube::Error {
        let mut s = Status::failure(message, reason).with_code(code);
        s.details = details;
        kube::Error::Api(Box::new(s))
    }

    #[test]
    fn messages_say_what_to_do() {
        let op = Op { verb: "list", resource: "links.skupper.io", name: None };
        let missing = api(404, "NotFound", "the server could not find the requested resource", None);
        assert!(!is_not_found(&missing));
        assert_eq!(explain(missing, &op, &target()).to_string(), NO_CRDS);

        let forbidden = api(403, "Forbidden", "links.skupper.io is forbidden: User \"bob\" cannot list", None);
        let text = explain(forbidden, &op, &target()).to_string();
        assert!(text.contains("You may not list links.skupper.io in namespace west"), "{text}");
        assert!(text.contains("skupper-edit"), "{text}");

        let invalid = details(
            "l",
            vec![StatusCause {
                reason: "FieldValueRequired".into(),
                message: "Required value".into(),
                field: "spec.endpoints".into(),
            }],
        );
        let create = Op { verb: "create", resource: "links.skupper.io", name: Some("l") };
        let text = explain(api(422, "Invalid", "Link \"l\" is invalid", Some(invalid)), &create, &target()).to_string();
        assert_eq!(text, "create links.skupper.io \"l\" was refused as invalid:\n  spec.endpoints: Required value");

        let gone = api(404, "NotFound", "links.skupper.io \"x\" not found", Some(details("x", Vec::new())));
        assert!(is_not_found(&gone));
    }
}
