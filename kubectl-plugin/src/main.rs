//! `kubectl-skupper`: the binary. Parsing, dispatch and exit codes live here; the logic does not.
#![allow(missing_docs)]

mod certs;
mod router;

fn main() {
    let _ = router::Backoff::default();
}
