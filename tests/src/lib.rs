//! Helpers for the end-to-end tests: temporary site homes, the built binary, child-process guards.
