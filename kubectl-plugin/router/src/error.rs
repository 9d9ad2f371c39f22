//! Errors in words: an error of this crate says what went wrong at its level and keeps its
//! cause as its [`source`](std::error::Error::source); [`describe`] renders the whole chain the
//! way status messages and log lines show it.

use std::error::Error;
use std::fmt::Write as _;

/// `error: cause: cause of the cause`, as `anyhow` prints `{:#}`.
pub fn describe(error: &(dyn Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut next = error.source();
    while let Some(cause) = next {
        let _ = write!(text, ": {cause}");
        next = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn the_chain_is_joined_with_colons() {
        let e = Outer(std::io::Error::other("inner"));
        assert_eq!(describe(&e), "outer: inner");
        assert_eq!(describe(&std::io::Error::other("alone")), "alone");
    }
}
