//! Runs a site's router for a process that reconciles it again and again (the local site process,
//! a controller): starts it, retries a start that failed every few seconds, and applies a changed
//! configuration to the running router.

use std::time::{Duration, Instant};

use skupper_router::{Router, RouterConfig, RouterStatus, StartOptions};

/// How often a router that failed to start is retried.
pub(crate) const ROUTER_RETRY: Duration = Duration::from_secs(5);

/// TLS connections each outgoing link opens: `SKUPPER_LINK_CONNECTIONS` if set (the router
/// takes 1 to 16), else one per worker thread of the current runtime, so that a busy link can
/// encrypt on every core the router uses. Call it on the runtime that runs the router.
pub(crate) fn link_connections() -> usize {
    if let Some(n) = std::env::var("SKUPPER_LINK_CONNECTIONS").ok().and_then(|v| v.trim().parse::<usize>().ok())
        && n > 0
    {
        return n;
    }
    tokio::runtime::Handle::try_current().map(|h| h.metrics().num_workers()).unwrap_or(1).max(1)
}

/// A site's router and what it was last given.
pub(crate) struct RouterHost {
    options: StartOptions,
    router: Option<Router>,
    error: Option<String>,
    applied: Option<RouterConfig>,
    last_start: Option<Instant>,
}

impl RouterHost {
    /// No router yet; `options` apply to every start.
    pub(crate) fn new(options: StartOptions) -> Self {
        Self { options, router: None, error: None, applied: None, last_start: None }
    }

    /// Makes the router run `config`: starts it (again, when it failed less than
    /// [`ROUTER_RETRY`] ago only if the configuration changed), or applies a changed
    /// configuration. `log` gets one line per event.
    pub(crate) async fn reconcile(&mut self, config: RouterConfig, log: &dyn Fn(&str)) {
        match &self.router {
            None => {
                let due = self.last_start.is_none_or(|t| t.elapsed() >= ROUTER_RETRY);
                if due || self.applied.as_ref() != Some(&config) {
                    self.start(config, log).await;
                }
            }
            Some(r) if self.applied.as_ref() != Some(&config) => {
                match r.apply(config.clone()).await {
                    Ok(()) => log("configuration applied"),
                    Err(e) => log(&format!("applying the configuration failed: {e:#}")),
                }
                self.applied = Some(config);
            }
            Some(_) => {}
        }
    }

    async fn start(&mut self, config: RouterConfig, log: &dyn Fn(&str)) {
        self.last_start = Some(Instant::now());
        match Router::start_with(config.clone(), self.options).await {
            Ok(r) => {
                if self.error.take().is_some() {
                    log("router started after earlier failures");
                } else {
                    log("router started");
                }
                self.router = Some(r);
            }
            Err(e) => {
                let msg = format!("{e:#}");
                if self.error.as_deref() != Some(msg.as_str()) {
                    log(&format!("router failed to start: {msg} (retrying every {}s)", ROUTER_RETRY.as_secs()));
                }
                self.error = Some(msg);
            }
        }
        self.applied = Some(config);
    }

    /// Why the router is not running, if it is not.
    pub(crate) fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }

    /// The configuration last given to the router.
    pub(crate) fn applied(&self) -> Option<&RouterConfig> {
        self.applied.as_ref()
    }

    /// The router's live state (empty while it does not run).
    pub(crate) fn status(&self) -> RouterStatus {
        self.router.as_ref().map(Router::status).unwrap_or_default()
    }

    /// Stops the router, if it runs.
    pub(crate) async fn shutdown(&mut self) {
        if let Some(r) = self.router.take() {
            r.shutdown().await;
        }
        self.applied = None;
    }
}
