//! The limits of the link-access ports, which anyone can reach: how many unauthenticated
//! connections they hold and how long a handshake may take.

use std::sync::Arc;
use std::time::Duration;

use crate::limits::{self, Gate, GateConfig};

/// Time an unauthenticated client of a link-access port has for its handshake
/// (`SKUPPER_LINK_HANDSHAKE_TIMEOUT_MS` overrides).
const ACCEPT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// Unauthenticated connections one source may hold on the link-access ports.
const MAX_HANDSHAKES_PER_SOURCE: usize = 8;

/// The limits of the link-access ports: handshakes in progress (total and per source, over both
/// ports) and their deadline. Authenticated links are not counted.
#[derive(Debug)]
pub(crate) struct AccessLimits {
    pub(crate) gate: Arc<Gate>,
    pub(crate) handshake_timeout: Duration,
}

impl AccessLimits {
    /// `SKUPPER_LINK_MAX_CONNECTIONS` (default: the open-file limit / 8, within 16..=256) and
    /// `SKUPPER_LINK_MAX_PER_SOURCE` (8) handshakes at once.
    pub(crate) fn from_env() -> Arc<Self> {
        let limit = limits::prepare_process();
        let config = GateConfig::from_env("LINK", limits::scaled(limit, 8, 16, 256), MAX_HANDSHAKES_PER_SOURCE);
        Arc::new(Self {
            gate: Gate::new("link access", config),
            handshake_timeout: limits::env_millis("SKUPPER_LINK_HANDSHAKE_TIMEOUT_MS")
                .unwrap_or(ACCEPT_HANDSHAKE_TIMEOUT),
        })
    }
}
