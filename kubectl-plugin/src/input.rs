//! Reading what users hand the CLI (token and Link files, `system apply` input, the files of
//! `input/resources`) with a size bound: at most the limit plus one byte is read, so `/dev/zero`
//! or a 100 MB file costs an error, not the memory and minutes it took to parse. Nothing here
//! knows what the text means; callers parse it with `skupper-yaml`.

use std::fmt;
use std::io::{self, Read};
use std::path::Path;

/// Largest token or Link file (`token redeem`, `token inspect`): tokens are about 2 KiB, a Link
/// file with its Secret about 6 KiB.
pub(crate) const TOKEN_FILE_LIMIT: u64 = 64 * 1024;
/// Largest input of `system apply` / `system delete`, and largest resource file of a site.
pub(crate) const APPLY_LIMIT: u64 = 8 * 1024 * 1024;

/// Why input could not be read.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// More than `limit` bytes.
    TooLarge {
        /// The limit, in bytes.
        limit: u64,
    },
    /// Reading failed (also: not UTF-8 text).
    Io(io::Error),
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLarge { limit } => write!(f, "it is larger than {}", size(*limit)),
            Self::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for ReadError {}

/// `64 KiB`, `8 MiB`, `100 bytes`.
pub(crate) fn size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{} MiB", b >> 20),
        b if b >= 1 << 10 && b % (1 << 10) == 0 => format!("{} KiB", b >> 10),
        b => format!("{b} bytes"),
    }
}

/// Reads `reader` to its end as UTF-8 text, refusing more than `limit` bytes.
pub(crate) fn read_text(reader: impl Read, limit: u64) -> Result<String, ReadError> {
    let mut bytes = Vec::new();
    reader.take(limit.saturating_add(1)).read_to_end(&mut bytes).map_err(ReadError::Io)?;
    if bytes.len() as u64 > limit {
        return Err(ReadError::TooLarge { limit });
    }
    String::from_utf8(bytes).map_err(|e| ReadError::Io(io::Error::new(io::ErrorKind::InvalidData, e)))
}

/// Reads the file at `path` (any kind of file: a pipe or `/dev/stdin` work too) as UTF-8 text,
/// refusing more than `limit` bytes.
pub(crate) fn read_file(path: &Path, limit: u64) -> Result<String, ReadError> {
    let file = std::fs::File::open(path).map_err(ReadError::Io)?;
    read_text(file, limit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_up_to_the_limit_and_refuses_more() {
        assert_eq!(read_text(&b"abc"[..], 3).expect("fits"), "abc");
        assert!(matches!(read_text(&b"abcd"[..], 3), Err(ReadError::TooLarge { limit: 3 })));
        assert!(matches!(read_text(&[0xff_u8][..], 3), Err(ReadError::Io(_))));
        // An endless source costs the limit, not forever.
        let err = read_text(io::repeat(b'x'), TOKEN_FILE_LIMIT).expect_err("endless");
        assert_eq!(err.to_string(), "it is larger than 64 KiB");
        if Path::new("/dev/zero").exists() {
            assert!(matches!(read_file(Path::new("/dev/zero"), APPLY_LIMIT), Err(ReadError::TooLarge { .. })));
        }
        assert_eq!(size(APPLY_LIMIT), "8 MiB");
        assert_eq!(size(100), "100 bytes");
    }
}
