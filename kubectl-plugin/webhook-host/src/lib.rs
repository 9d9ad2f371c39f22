//! The host of the Link admission webhook: the Link rules run inside a Wasm policy module (built
//! from `skupper_core::admission`, replaceable by the user), under wasmtime with per-request
//! isolation, behind an HTTPS server that only speaks AdmissionReview. It knows nothing of the
//! CLI or of a platform: the plugin's `kubectl skupper webhook` commands start it, and on
//! Kubernetes hand it the cluster's Links through [`known_links::LinkCatalog`].
//!
//! # Layout
//! - [`runtime`]: compile once, instantiate per review, limits, traps and timeouts to denies.
//! - [`review`]: the host's checks on the module's AdmissionReview answer.
//! - [`server`]: TLS + HTTP/1.1, `POST /validate`, body limit, `GET /healthz`.
//! - [`known_links`]: the Links the duplicate-peer rule compares with.

pub mod known_links;
pub mod review;
pub mod runtime;
pub mod server;

/// The policy module built from `wasm/policy` by `scripts/build-policy.sh` (committed, so a
/// plain `cargo build` needs no wasm toolchain).
pub const BUILT_IN_POLICY: &[u8] = include_bytes!("../../assets/skupper-policy.wasm");
