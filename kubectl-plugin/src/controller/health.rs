//! Liveness and readiness of a controller, for the kubelet's probes (plain HTTP):
//! `/livez` answers 200 while the reconcile loop turns (a round in the last 15 s), `/readyz`
//! answers 200 when the namespace has no Site yet (the controller is ready for one) or its Site
//! runs: its router running and, with link access, its grant server; 503 with the reason
//! otherwise (a Site whose router cannot run keeps the pod out of its Services).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// How long without a reconcile round the controller counts as stuck.
const STUCK: Duration = Duration::from_secs(15);

/// What the probes report.
#[derive(Debug)]
pub(crate) struct State {
    /// When the last reconcile round ended.
    pub last_round: Option<Instant>,
    /// Ready, or why not.
    pub ready: Result<(), String>,
}

/// The shared state of the probes.
#[derive(Clone)]
pub(crate) struct Health(Arc<Mutex<State>>);

impl Health {
    /// Not ready yet.
    pub(crate) fn new() -> Self {
        Self(Arc::new(Mutex::new(State { last_round: None, ready: Err("starting".into()) })))
    }

    /// Changes the state.
    pub(crate) fn update(&self, f: impl FnOnce(&mut State)) {
        if let Ok(mut s) = self.0.lock() {
            f(&mut s);
        }
    }

    fn answer(&self, path: &str) -> (StatusCode, String) {
        let Ok(s) = self.0.lock() else { return (StatusCode::INTERNAL_SERVER_ERROR, "poisoned".into()) };
        let live = s.last_round.is_some_and(|t| t.elapsed() < STUCK);
        match path {
            "/livez" if live => (StatusCode::OK, "ok".into()),
            "/livez" => (StatusCode::SERVICE_UNAVAILABLE, "the reconcile loop is stuck".into()),
            "/readyz" => match (&s.ready, live) {
                (Ok(()), true) => (StatusCode::OK, "ready".into()),
                (_, false) => (StatusCode::SERVICE_UNAVAILABLE, "the reconcile loop is stuck".into()),
                (Err(why), true) => (StatusCode::SERVICE_UNAVAILABLE, why.clone()),
            },
            _ => (StatusCode::NOT_FOUND, "use /livez or /readyz".into()),
        }
    }
}

/// Serves the probes on `host:port` until the process ends; returns the bound address.
pub(crate) async fn serve(health: Health, host: &str, port: u16) -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind((host, port))
        .await
        .map_err(|e| anyhow::anyhow!("the health endpoints cannot listen on {host}:{port}: {e}"))?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else { continue };
            let health = health.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let (status, text) = health.answer(req.uri().path());
                    let mut r = Response::new(Full::new(Bytes::from(format!("{text}\n"))));
                    *r.status_mut() = status;
                    async move { Ok::<_, Infallible>(r) }
                });
                let conn = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(tcp), service);
                let _ = tokio::time::timeout(Duration::from_secs(10), conn).await;
            });
        }
    });
    Ok(addr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_follow_the_loop_and_the_site() {
        let h = Health::new();
        assert_eq!(h.answer("/livez").0, StatusCode::SERVICE_UNAVAILABLE);
        h.update(|s| s.last_round = Some(Instant::now()));
        assert_eq!(h.answer("/livez").0, StatusCode::OK);
        assert_eq!(h.answer("/readyz"), (StatusCode::SERVICE_UNAVAILABLE, "starting".into()));
        h.update(|s| s.ready = Ok(()));
        assert_eq!(h.answer("/readyz").0, StatusCode::OK);
        assert_eq!(h.answer("/nope").0, StatusCode::NOT_FOUND);
    }
}
