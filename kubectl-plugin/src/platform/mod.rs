//! Where a site lives. `local` keeps a site's resources and runtime state in files under the
//! user's data directory and runs it as a process on this host; `kubernetes` is not part of
//! this build yet.

pub mod local;

use std::fmt;

/// The platform a command works on (`--platform`, `SKUPPER_PLATFORM`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Platform {
    /// Sites as processes on this host, state under `$XDG_DATA_HOME/kubectl-skupper`.
    #[default]
    Local,
    /// Sites in Kubernetes namespaces (a later release).
    Kubernetes,
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Platform::Local => "local",
            Platform::Kubernetes => "kubernetes",
        })
    }
}

/// Sixteen random bytes from the operating system.
pub fn random_bytes<const N: usize>() -> anyhow::Result<[u8; N]> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).map_err(|e| anyhow::anyhow!("the operating system's random source failed: {e}"))?;
    Ok(b)
}

/// A random (version 4) UUID in its canonical text form.
pub fn uuid_v4() -> anyhow::Result<String> {
    let mut b = random_bytes::<16>()?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    Ok(format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32]))
}

/// Seconds since the Unix epoch, now.
pub fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Now as RFC 3339 (`2026-07-23T10:00:00Z`).
pub fn now_rfc3339() -> String {
    skupper_core::time::format_rfc3339(now_unix())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_shape() {
        let u = uuid_v4().expect("uuid");
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert!(matches!(&u[19..20], "8" | "9" | "a" | "b"));
        assert_ne!(u, uuid_v4().expect("uuid"));
    }
}
