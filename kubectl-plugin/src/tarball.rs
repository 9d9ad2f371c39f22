//! A gzip-compressed tar archive (POSIX ustar), written in memory: what `system generate-bundle`
//! and `debug dump` produce. Regular files only, owned by uid/gid 0, with the time given; `tar
//! xzf` unpacks it.

use std::io::Write as _;

use anyhow::{Context as _, bail};

/// A tar archive being built.
#[derive(Debug, Default)]
pub(crate) struct Tar {
    data: Vec<u8>,
    mtime: u64,
}

impl Tar {
    /// An empty archive whose files carry `mtime` (seconds since the epoch).
    pub(crate) fn new(mtime: i64) -> Self {
        Self { data: Vec::new(), mtime: u64::try_from(mtime).unwrap_or(0) }
    }

    /// Adds a regular file at `path` (relative, `/`-separated, at most 100 bytes of name after
    /// an optional 155-byte prefix) with permission bits `mode`.
    pub(crate) fn file(&mut self, path: &str, bytes: &[u8], mode: u32) -> anyhow::Result<()> {
        if path.is_empty() || path.starts_with('/') || path.split('/').any(|c| c == "..") {
            bail!("archive path {path:?} must be relative");
        }
        let (prefix, name) = split_path(path).with_context(|| format!("archive path {path:?} is too long"))?;
        let mut h = [0u8; 512];
        h[..name.len()].copy_from_slice(name.as_bytes());
        octal(&mut h[100..108], u64::from(mode & 0o7777));
        octal(&mut h[108..116], 0);
        octal(&mut h[116..124], 0);
        octal(&mut h[124..136], bytes.len() as u64);
        octal(&mut h[136..148], self.mtime);
        h[148..156].fill(b' ');
        h[156] = b'0';
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        h[345..345 + prefix.len()].copy_from_slice(prefix.as_bytes());
        let sum: u64 = h.iter().map(|b| u64::from(*b)).sum();
        // Six octal digits, NUL, space (the classic layout).
        let digits = format!("{sum:06o}");
        h[148..154].copy_from_slice(digits.as_bytes());
        h[154] = 0;
        h[155] = b' ';
        self.data.extend_from_slice(&h);
        self.data.extend_from_slice(bytes);
        let pad = (512 - bytes.len() % 512) % 512;
        self.data.extend(std::iter::repeat_n(0u8, pad));
        Ok(())
    }

    /// The archive, gzip-compressed.
    pub(crate) fn gzip(mut self) -> anyhow::Result<Vec<u8>> {
        // Two zero blocks end a tar archive.
        self.data.extend(std::iter::repeat_n(0u8, 1024));
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&self.data).context("compressing the archive")?;
        gz.finish().context("compressing the archive")
    }
}

/// `path` as ustar's (prefix, name): the name at most 100 bytes, the prefix at most 155.
fn split_path(path: &str) -> Option<(&str, &str)> {
    if path.len() <= 100 {
        return Some(("", path));
    }
    let bytes = path.as_bytes();
    (0..bytes.len()).rev().filter(|&i| bytes[i] == b'/').find_map(|i| {
        let (prefix, name) = (&path[..i], &path[i + 1..]);
        (prefix.len() <= 155 && name.len() <= 100 && !name.is_empty()).then_some((prefix, name))
    })
}

/// Writes `v` as zero-padded octal, NUL-terminated, filling `field`.
fn octal(field: &mut [u8], v: u64) {
    let width = field.len() - 1;
    let s = format!("{v:0width$o}");
    let s = &s.as_bytes()[s.len().saturating_sub(width)..];
    field[..width].copy_from_slice(s);
    field[width] = 0;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_have_valid_checksums_and_paths() {
        let mut t = Tar::new(1_700_000_000);
        t.file("a/b.txt", b"hello", 0o644).expect("file");
        let long = format!("{}/{}", "d".repeat(120), "f".repeat(90));
        t.file(&long, b"x", 0o600).expect("long file");
        assert!(t.file("../x", b"", 0o600).is_err());
        assert!(t.file(&"z".repeat(300), b"", 0o600).is_err());
        let data = t.data.clone();
        let h = &data[..512];
        assert_eq!(&h[..7], b"a/b.txt");
        let mut copy = h.to_vec();
        copy[148..156].fill(b' ');
        let sum: u64 = copy.iter().map(|b| u64::from(*b)).sum();
        let stored = std::str::from_utf8(&h[148..154]).expect("ascii");
        assert_eq!(u64::from_str_radix(stored, 8).expect("octal"), sum);
        assert_eq!(std::str::from_utf8(&h[124..135]).expect("size"), "00000000005");
        // The second header starts after one data block, with the long path split.
        let h2 = &data[1024..1536];
        assert_eq!(&h2[..90], "f".repeat(90).as_bytes());
        assert_eq!(&h2[345..465], "d".repeat(120).as_bytes());
        assert!(t.gzip().expect("gzip").starts_with(&[0x1f, 0x8b]));
    }
}
