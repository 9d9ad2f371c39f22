//! Data connections: the extra mutual-TLS connections a link may carry beside its first one,
//! so that its streams are encrypted and decrypted on several cores at once (one connection's
//! TLS state is used by one task at a time).
//!
//! The accepting side puts a random join key in its hello. The dialing side, when it wants
//! more than one connection per link, dials the same address again (through the same proxy,
//! with the same certificate) and opens each new TLS connection with [`JOIN`] and the key
//! before the multiplexer's preface. The accepting side hands such a connection to the
//! session that owns the key, provided the peer presented the same certificate; the session
//! then opens new streams on whichever of its connections carries the fewest. The first
//! connection keeps the control stream; the session ends with any of its connections.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::mpsc;

use super::mux::{Mux, PREFACE, Parts};

/// What a data connection's dialer sends first, followed by the key.
pub(crate) const JOIN: &[u8; 8] = b"SKRLANE1";
/// Length of a join key in bytes.
pub(crate) const KEY_LEN: usize = 16;
/// Data connections a session takes beyond its first (more are refused).
pub(crate) const MAX_EXTRA: usize = 15;

/// Dials one more connection of an outgoing link (TCP, proxy, TLS handshake), as the link's
/// first connection was dialed.
pub(crate) type Dialer = Arc<
    dyn Fn() -> Pin<Box<dyn Future<Output = Result<Parts, Box<dyn std::error::Error + Send + Sync>>> + Send>>
        + Send
        + Sync,
>;

/// How a session gets its data connections.
pub(crate) enum Plan {
    /// It takes none.
    None,
    /// This side dialed: once the peer's key is known, open `extra` (at least 1) more
    /// connections.
    Dial { extra: usize, dial: Dialer },
    /// This side accepted: offer a key to the peer, which presented this certificate (DER).
    Accept { peer_cert: Vec<u8> },
}

/// A session's join key.
pub(crate) type Key = [u8; KEY_LEN];

/// A fresh random key; `None` when the system has no randomness to give (the session then
/// offers no data connections).
pub(crate) fn new_key() -> Option<Key> {
    let mut k = [0u8; KEY_LEN];
    getrandom::fill(&mut k).ok()?;
    Some(k)
}

/// The key as it travels in the hello.
pub(crate) fn key_text(key: &Key) -> String {
    key.iter().map(|b| format!("{b:02x}")).collect()
}

/// A key from its text; `None` unless it is [`KEY_LEN`] bytes of lowercase or uppercase hex.
pub(crate) fn parse_key(text: &str) -> Option<Key> {
    let t = text.as_bytes();
    if t.len() != 2 * KEY_LEN {
        return None;
    }
    let mut k = [0u8; KEY_LEN];
    for (i, pair) in t.chunks_exact(2).enumerate() {
        let s = std::str::from_utf8(pair).ok()?;
        k[i] = u8::from_str_radix(s, 16).ok()?;
    }
    Some(k)
}

/// The first bytes of a data connection with `key`: the join request, then the preface that
/// starts every connection's frames.
pub(crate) fn opening(key: &Key) -> Vec<u8> {
    let mut v = JOIN.to_vec();
    v.extend_from_slice(key);
    v.extend_from_slice(PREFACE);
    v
}

/// The data connections of a session beyond its first.
#[derive(Debug, Default)]
pub(crate) struct Lanes {
    extra: Mutex<Vec<Mux>>,
}

impl Lanes {
    fn extra(&self) -> MutexGuard<'_, Vec<Mux>> {
        self.extra.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn add(&self, mux: Mux) {
        self.extra().push(mux);
    }

    /// Connections of the session: the first one and the data connections.
    pub(crate) fn count(&self) -> usize {
        1 + self.extra().len()
    }

    /// The connection a new stream goes on: the open one with the fewest streams, `first` on a
    /// tie (and when there is no other).
    pub(crate) fn pick(&self, first: &Mux) -> Mux {
        let extra = self.extra();
        if extra.is_empty() {
            return first.clone();
        }
        let mut best = first;
        let mut least = first.live();
        for m in extra.iter() {
            if m.is_closed() {
                continue;
            }
            let n = m.live();
            if n < least {
                best = m;
                least = n;
            }
        }
        best.clone()
    }

    /// Every data connection (not the first).
    pub(crate) fn all(&self) -> Vec<Mux> {
        self.extra().clone()
    }
}

/// Why a data connection was not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum JoinRefused {
    #[error("it names no session of this site (the link it belongs to ended)")]
    UnknownSession,
    #[error("its certificate is not the one its link presented")]
    OtherPeer,
    #[error("its link already has {} connections", MAX_EXTRA + 1)]
    TooMany,
}

/// Sessions of the accepting side that take data connections, by key (`T`: a connection;
/// tests use something lighter).
pub(crate) struct Waiting<T = Parts> {
    map: Mutex<HashMap<Key, Waiter<T>>>,
}

impl<T> std::fmt::Debug for Waiting<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Waiting").field("sessions", &self.map().len()).finish()
    }
}

impl<T> Default for Waiting<T> {
    fn default() -> Self {
        Self { map: Mutex::default() }
    }
}

struct Waiter<T> {
    /// The peer's end-entity certificate (DER) on the first connection.
    peer: Vec<u8>,
    joined: usize,
    tx: mpsc::UnboundedSender<T>,
}

/// Removes a session's key when dropped.
pub(crate) struct Registration<T = Parts> {
    waiting: Arc<Waiting<T>>,
    key: Key,
}

impl<T> Drop for Registration<T> {
    fn drop(&mut self) {
        self.waiting.map().remove(&self.key);
    }
}

impl<T> Waiting<T> {
    fn map(&self) -> MutexGuard<'_, HashMap<Key, Waiter<T>>> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a session whose peer presented `peer`: its key, where its data connections
    /// arrive, and the guard that unregisters it. `None` without randomness.
    pub(crate) fn register(
        self: &Arc<Self>,
        peer: Vec<u8>,
    ) -> Option<(Key, mpsc::UnboundedReceiver<T>, Registration<T>)> {
        let key = new_key()?;
        let (tx, rx) = mpsc::unbounded_channel();
        self.map().insert(key, Waiter { peer, joined: 0, tx });
        Some((key, rx, Registration { waiting: self.clone(), key }))
    }

    /// Hands a data connection whose peer presented `peer` to the session of `key`.
    pub(crate) fn join(&self, key: &Key, peer: &[u8], parts: T) -> Result<(), JoinRefused> {
        let mut map = self.map();
        let w = map.get_mut(key).ok_or(JoinRefused::UnknownSession)?;
        if w.peer != peer {
            return Err(JoinRefused::OtherPeer);
        }
        if w.joined >= MAX_EXTRA {
            return Err(JoinRefused::TooMany);
        }
        w.tx.send(parts).map_err(|_| JoinRefused::UnknownSession)?;
        w.joined += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn keys_travel_as_text_and_back() {
        let k = new_key().unwrap();
        assert_ne!(k, new_key().unwrap(), "two keys are different");
        assert_eq!(parse_key(&key_text(&k)), Some(k));
        assert_eq!(parse_key(&key_text(&k).to_uppercase()), Some(k));
        assert_eq!(parse_key("00"), None);
        assert_eq!(parse_key(&"zz".repeat(KEY_LEN)), None);
        assert_eq!(parse_key(&"é".repeat(KEY_LEN)), None);
        assert_eq!(opening(&k).len(), JOIN.len() + KEY_LEN + PREFACE.len());
    }

    #[test]
    fn a_data_connection_joins_only_the_session_of_its_key_and_peer() {
        let waiting: Arc<Waiting<u32>> = Arc::default();
        let (key, mut rx, reg) = waiting.register(b"peer cert".to_vec()).unwrap();
        let (other, _rx2, _reg2) = waiting.register(b"other cert".to_vec()).unwrap();
        assert_eq!(waiting.join(&new_key().unwrap(), b"peer cert", 1), Err(JoinRefused::UnknownSession));
        assert_eq!(waiting.join(&other, b"peer cert", 2), Err(JoinRefused::OtherPeer));
        assert_eq!(waiting.join(&key, b"another cert", 3), Err(JoinRefused::OtherPeer));
        for n in 0..MAX_EXTRA {
            assert_eq!(waiting.join(&key, b"peer cert", 10 + n as u32), Ok(()));
        }
        assert_eq!(waiting.join(&key, b"peer cert", 99), Err(JoinRefused::TooMany));
        let got: Vec<u32> = std::iter::from_fn(|| rx.try_recv().ok()).collect();
        assert_eq!(got, (10..10 + MAX_EXTRA as u32).collect::<Vec<_>>());
        // A session that ended takes nothing more.
        drop(reg);
        assert_eq!(waiting.join(&key, b"peer cert", 4), Err(JoinRefused::UnknownSession));
        assert!(waiting.join(&other, b"other cert", 5).is_ok());
    }
}
