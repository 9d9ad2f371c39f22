//! Skupper v2 site-linking rules with no I/O: the resource model, grants, Link generation and
//! validation, routing-cost math and token inspection.
//!
//! This crate is `no_std` + `alloc`. It never reads a clock, a file, a socket or a random
//! source: callers pass the current time (Unix seconds) and random bytes in. It does not parse
//! YAML either: callers decode text into [`serde_json::Value`] documents at their edge.
//!
//! # Layout
//! - [`resources`]: `skupper.io/v2alpha1` kinds and Secrets, status and Ready rules.
//! - [`duration`]: Go-style durations (`15m0s`), parsed and printed as upstream does.
//! - [`time`]: RFC 3339 timestamps from and to Unix seconds.
//! - [`grant`]: grant codes, expiry and redemption outcomes.
//! - [`link`]: Link generation from a site's endpoints and Link validation.
//! - [`routing`]: path cost over the link-state graph and the per-connection target choice.
//! - [`inspect`]: a report of what a token or Link file holds.
//! - [`names`]: Kubernetes name and host rules.
//! - [`admission`]: AdmissionReview types and the Link admission policy (webhook and Wasm guest).
//!
//! ```
//! use skupper_core::resources::{Link, LinkSpec};
//! let link = Link::new("link-west-skupper-router", LinkSpec { cost: 0, ..Default::default() });
//! assert_eq!(link.spec.effective_cost(), 1);
//! ```
#![no_std]
#![warn(clippy::std_instead_of_core, clippy::alloc_instead_of_core)]

extern crate alloc;

pub mod admission;
pub mod duration;
pub mod grant;
pub mod inspect;
pub mod link;
pub mod names;
pub mod resources;
pub mod routing;
pub mod time;

pub use serde_json;

/// This crate's version (`kubectl skupper version` reports it).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
