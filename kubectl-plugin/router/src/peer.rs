//! What the rest of the router holds of a link's session: its handle (opens streams to the
//! peer) and its outbox (control messages waiting to be sent). The session ([`super::session`])
//! creates and drives them.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use super::lanes::Lanes;
use super::mux::{Mux, OpenError, Stream};
use super::proto::{Control, Lsa};

/// Control messages waiting to be sent to one peer. Coalescing (one pending LSA per origin,
/// one pending cost) keeps it bounded by the size of the network whatever the peer's speed.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    inner: Mutex<Pending>,
    pub(crate) notify: Notify,
}

#[derive(Debug, Default)]
struct Pending {
    cost: Option<u32>,
    lsas: BTreeMap<String, Lsa>,
    ping: bool,
    refuse: Option<String>,
}

impl Outbox {
    fn pending(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues an LSA unless a newer one of the same site is already queued.
    pub(crate) fn push_lsa(&self, lsa: &Lsa) {
        let mut p = self.pending();
        if p.lsas.get(&lsa.site_id).is_none_or(|q| q.seq < lsa.seq) {
            p.lsas.insert(lsa.site_id.clone(), lsa.clone());
        }
        drop(p);
        self.notify.notify_one();
    }

    /// Queues a cost update.
    pub(crate) fn push_cost(&self, cost: u32) {
        self.pending().cost = Some(cost);
        self.notify.notify_one();
    }

    pub(crate) fn push_ping(&self) {
        self.pending().ping = true;
    }

    pub(crate) fn drain(&self) -> Vec<Control> {
        let mut p = self.pending();
        let mut out = Vec::new();
        if let Some(cost) = p.cost.take() {
            out.push(Control::Cost { cost });
        }
        out.extend(std::mem::take(&mut p.lsas).into_values().map(Control::Lsa));
        if std::mem::take(&mut p.ping) {
            out.push(Control::Ping);
        }
        if let Some(reason) = p.refuse.take() {
            out.push(Control::Refuse { reason });
        }
        out
    }

    /// Queues the last message of the session.
    pub(crate) fn push_refuse(&self, reason: &str) {
        self.pending().refuse = Some(reason.to_string());
        self.notify.notify_one();
    }
}

/// A stream of a link: read and written as chunks by the data plane, or as a tokio I/O object.
pub(crate) type LinkStream = Stream;

/// What other tasks hold to use a session: open streams, queue control messages.
#[derive(Debug, Clone)]
pub(crate) struct SessionHandle {
    /// Session id.
    pub id: u64,
    /// The first connection (it carries the control stream).
    pub(crate) mux: Mux,
    /// The data connections beside it.
    pub(crate) lanes: Arc<Lanes>,
    /// Control messages for the peer.
    pub outbox: Arc<Outbox>,
}

impl SessionHandle {
    /// Opens a stream to the peer, on the connection that carries the fewest.
    pub(crate) fn open(&self) -> Result<LinkStream, OpenError> {
        self.lanes.pick(&self.mux).open()
    }
}
