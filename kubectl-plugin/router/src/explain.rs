//! How listeners explain their routing: the decision behind a connection (targets as scored,
//! the reason, what failed before) and the counts per target and next hop. Plain data.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Why a connection went where it went (reference §5.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RouteReason {
    /// A local connector had no open connection: remote targets were not considered.
    IdleLocal,
    /// The lowest open connections + path cost among the targets.
    LowestScore,
    /// The target chosen first failed (refused, unreachable); this was the best of the rest.
    Failover,
}

impl RouteReason {
    /// The reason in words, for people.
    pub fn describe(self) -> &'static str {
        match self {
            Self::IdleLocal => "idle local connector (remote targets not considered)",
            Self::LowestScore => "lowest open connections + path cost",
            Self::Failover => "failover: a better target failed",
        }
    }
}

/// The routing key a multi-key listener chose for a connection, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyChoice {
    /// The key.
    pub routing_key: String,
    /// Why, in words, e.g. `priority: first key with a destination` or `weighted 1:2 ...`.
    pub reason: String,
}

/// One target as it was scored for a new connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScoredCandidate {
    /// Router id of the target (this router for a local connector).
    pub target: String,
    /// Next hop toward it (the target itself for a neighbour, this router for a local one).
    pub next_hop: String,
    /// Whether the target is a connector of this router.
    pub local: bool,
    /// Open connections counted against it: per local connector, or per routing key and next hop.
    pub open: u32,
    /// Path cost: 0 locally, else the sum of link costs.
    pub path_cost: u64,
    /// `open + path_cost`: the lowest wins.
    pub score: u64,
}

/// How the last connection of a listener was routed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteDecision {
    /// Router id of the target that took it.
    pub target: String,
    /// Next hop used.
    pub next_hop: String,
    /// Why.
    pub reason: RouteReason,
    /// What failed before, in order (failover), e.g. `connector db: connection refused by ...`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failed: Vec<String>,
    /// The targets as they were scored for the attempt that succeeded, in the order of §5.4
    /// (local connectors first, then remote routers by id); ties keep the earlier one.
    pub candidates: Vec<ScoredCandidate>,
    /// Multi-key listener: the routing key chosen and why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<KeyChoice>,
}

/// Connections a listener sent to one target through one next hop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PathCount {
    /// Router id of the target.
    pub target: String,
    /// Next hop.
    pub next_hop: String,
    /// Connections routed there since the listener started.
    pub connections: u64,
    /// The same, by reason.
    pub reasons: BTreeMap<RouteReason, u64>,
}

/// What a listener keeps to explain its routing.
#[derive(Debug, Clone, Default)]
pub(crate) struct Explain {
    /// By (target, next hop).
    pub paths: BTreeMap<(String, String), PathCount>,
    /// The last decision.
    pub last: Option<RouteDecision>,
}
