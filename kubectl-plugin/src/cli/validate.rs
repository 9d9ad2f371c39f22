//! Input checks with upstream's texts (`internal/utils/validator/simple_validator.go`): every
//! failure is collected, and all are printed together with exit code 2.

use skupper_core::duration::GoDuration;
use skupper_core::names;

/// Regular expression text of namespaces (`NamespaceStringValidator`).
pub(crate) const NAMESPACE_RE: &str = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";

/// Validation problems, printed one per line.
#[derive(Debug, Default)]
pub(crate) struct Problems(pub Vec<String>);

impl Problems {
    /// Records a problem.
    pub(crate) fn push(&mut self, p: impl Into<String>) {
        self.0.push(p.into());
    }
    /// Whether any was found.
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// Ok when empty, else the usage error (exit 2).
    pub(crate) fn finish(self) -> Result<(), super::CliError> {
        if self.0.is_empty() { Ok(()) } else { Err(super::CliError::Usage(self.0.join("\n"))) }
    }
}

fn label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// `Ok` or `value does not match this regular expression: <re>` for a resource name; longer
/// than a DNS subdomain (253): Kubernetes' `must be no more than 253 characters`.
pub(crate) fn resource_name(s: &str) -> Result<(), String> {
    if s.len() > names::SUBDOMAIN_MAX_LEN {
        return Err(too_long(names::SUBDOMAIN_MAX_LEN, s.len()));
    }
    names::validate_resource_name(s).map_err(|e| e.to_string())
}

/// Same for a namespace (one RFC 1123 label, at most 63 characters).
pub(crate) fn namespace(s: &str) -> Result<(), String> {
    if s.len() > names::LABEL_MAX_LEN {
        return Err(too_long(names::LABEL_MAX_LEN, s.len()));
    }
    if label(s) { Ok(()) } else { Err(format!("value does not match this regular expression: {NAMESPACE_RE}")) }
}

/// Kubernetes' `MaxLenError` text.
fn too_long(max: usize, len: usize) -> String {
    names::NameError::TooLong { max, len }.to_string()
}

/// Same for a token file name.
pub(crate) fn file_path(s: &str) -> Result<(), String> {
    names::validate_file_name(s).map_err(|e| e.to_string())
}

/// A host name or IP address (upstream `NewHostStringValidator`, widened to any valid DNS name).
pub(crate) fn host(s: &str) -> bool {
    names::validate_host(s).is_ok()
}

/// Go's `strconv.Atoi` error text for a non-number.
pub(crate) fn atoi(s: &str) -> Result<i64, String> {
    let t = s.strip_prefix(['+', '-']).unwrap_or(s);
    if t.is_empty() || !t.bytes().all(|c| c.is_ascii_digit()) {
        return Err(format!("strconv.Atoi: parsing {s:?}: invalid syntax"));
    }
    s.parse::<i64>().map_err(|_| format!("strconv.Atoi: parsing {s:?}: value out of range"))
}

/// A cost flag (`link cost is not valid: ...` on failure; at most 2147483647, the router's limit).
pub(crate) fn cost(s: &str, problems: &mut Problems) -> Option<i64> {
    match skupper_core::grant::parse_cost(s) {
        Ok(n) if n <= skupper_core::link::MAX_COST => Some(n),
        Ok(_) => {
            problems
                .push(format!("link cost is not valid: value is too large (at most {})", skupper_core::link::MAX_COST));
            None
        }
        Err(e) => {
            problems.push(e.to_string());
            None
        }
    }
}

/// A duration flag as cobra parses it: `invalid argument "<v>" for "--<flag>" flag: time: invalid duration "<v>"`.
pub(crate) fn duration(flag: &str, value: &str, problems: &mut Problems) -> Option<GoDuration> {
    match GoDuration::parse(value) {
        Ok(d) => Some(d),
        Err(_) => {
            problems
                .push(format!("invalid argument {value:?} for \"--{flag}\" flag: time: invalid duration {value:?}"));
            None
        }
    }
}

/// `OptionValidator` over the output types.
pub(crate) fn output(value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err("value must not be empty".into());
    }
    if crate::output::OUTPUT_TYPES.contains(&value) {
        Ok(())
    } else {
        Err(format!("value {value} not allowed. It should be one of this options: [json yaml]"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(resource_name("west").is_ok());
        assert!(resource_name("a.b-c").is_ok());
        assert!(resource_name("West").is_err());
        assert!(resource_name("-a").is_err());
        assert!(resource_name("a..b").is_err());
        assert!(namespace("a.b").is_err());
        assert!(resource_name(&"a".repeat(253)).is_ok());
        assert_eq!(resource_name(&"a".repeat(254)).expect_err("254"), "must be no more than 253 characters");
        assert!(namespace(&"a".repeat(63)).is_ok());
        assert_eq!(namespace(&"a".repeat(64)).expect_err("64"), "must be no more than 63 characters");
        assert!(file_path("~/tok-1.yaml").is_ok());
        assert!(file_path("a b").is_err());
        assert!(host("127.0.0.1") && host("west.example") && host("::1"));
        assert!(!host("bad host") && !host("a..b"));
    }

    #[test]
    fn go_texts() {
        assert_eq!(atoi("x").expect_err("x"), "strconv.Atoi: parsing \"x\": invalid syntax");
        assert_eq!(atoi("-3"), Ok(-3));
        let mut p = Problems::default();
        assert_eq!(cost("-1", &mut p), None);
        assert_eq!(p.0, ["link cost is not valid: value is not positive"]);
        assert_eq!(cost("2147483648", &mut p), None);
        assert!(p.0[1].contains("too large"), "{:?}", p.0);
        assert_eq!(
            output("xml").expect_err("xml"),
            "value xml not allowed. It should be one of this options: [json yaml]"
        );
    }
}
