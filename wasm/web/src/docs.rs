//! Text to documents, the same as everywhere in kubectl-skupper: the `skupper-yaml` codec (a YAML
//! stream, JSON values, a top-level list or `kind: List` as one document per item), so the page
//! and `kubectl skupper token inspect` read every file alike. Parse failures carry a position.

pub use skupper_yaml::{Problem, object_name, parse};
