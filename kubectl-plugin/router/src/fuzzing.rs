//! Test-only fuzzing support (cargo-fuzz needs a nightly toolchain this project does not use):
//! proptest strategies that feed a decoder arbitrary bytes and structured mutations of valid
//! inputs from the seed corpus in `tests/fuzz-corpus/<target>/`, for a bounded number of cases
//! (`FUZZ_CASES`, default 256, so each target runs for a few seconds in CI). A failing case is
//! shrunk by proptest and goes into a named regression test next to the target.

use std::path::PathBuf;

use proptest::prelude::*;
use proptest::test_runner::Config;

/// The directory of one target's seed corpus.
pub fn corpus_dir(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests").join("fuzz-corpus").join(target)
}

/// The seeds of `target`, sorted by file name; at least one (the corpus is in the repository).
pub fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = corpus_dir(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("fuzz corpus {}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    let seeds: Vec<Vec<u8>> = files.iter().map(|p| std::fs::read(p).expect("read a seed")).collect();
    assert!(!seeds.is_empty(), "fuzz corpus {} is empty", dir.display());
    seeds
}

/// Cases per target: `FUZZ_CASES` or 256.
pub fn config() -> Config {
    let cases = std::env::var("FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256);
    Config { cases, failure_persistence: None, ..Config::default() }
}

/// One structural change to an input; positions wrap around its length.
#[derive(Debug, Clone)]
pub enum Edit {
    /// XOR a byte.
    Flip(usize, u8),
    /// Insert bytes.
    Insert(usize, Vec<u8>),
    /// Insert a token that parsers care about.
    Token(usize, usize),
    /// Remove a range.
    Delete(usize, usize),
    /// Copy a range to another place.
    Duplicate(usize, usize, usize),
    /// Cut the input short.
    Truncate(usize),
}

/// Tokens that tend to reach edge cases of text and binary decoders.
const TOKENS: &[&[u8]] = &[
    b"\0",
    b"\xff\xff\xff\xff",
    b"\x00\x00\x00\x00",
    b"\r\n",
    b"\r\n\r\n",
    b"\n",
    b"\"",
    b"{",
    b"}",
    b"[]",
    b":",
    b"- ",
    b"---\n",
    b"-1",
    b"4294967296",
    b"18446744073709551616",
    b"1e999",
    b"null",
    b"\xc3\xa9",
    b"\xef\xbb\xbf",
    b"\xed\xa0\x80",
    b"&a *a",
    b"!!binary",
    b"HTTP/1.1 ",
    b"Content-Length: ",
    b"Transfer-Encoding: chunked",
];

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), 1..=255u8).prop_map(|(i, b)| Edit::Flip(i, b)),
        (any::<usize>(), proptest::collection::vec(any::<u8>(), 1..16)).prop_map(|(i, b)| Edit::Insert(i, b)),
        (any::<usize>(), any::<usize>()).prop_map(|(i, t)| Edit::Token(i, t)),
        (any::<usize>(), 1..64usize).prop_map(|(i, n)| Edit::Delete(i, n)),
        (any::<usize>(), 1..64usize, any::<usize>()).prop_map(|(i, n, at)| Edit::Duplicate(i, n, at)),
        any::<usize>().prop_map(Edit::Truncate),
    ]
}

/// `seed` with `edits` applied in order.
pub fn apply(seed: &[u8], edits: &[Edit]) -> Vec<u8> {
    let mut v = seed.to_vec();
    for e in edits {
        let at = |i: usize, len: usize| if len == 0 { 0 } else { i % (len + 1) };
        match e {
            Edit::Flip(i, b) if !v.is_empty() => {
                let i = i % v.len();
                v[i] ^= b;
            }
            Edit::Flip(..) => {}
            Edit::Insert(i, bytes) => {
                let i = at(*i, v.len());
                v.splice(i..i, bytes.iter().copied());
            }
            Edit::Token(i, t) => {
                let i = at(*i, v.len());
                v.splice(i..i, TOKENS[t % TOKENS.len()].iter().copied());
            }
            Edit::Delete(i, n) => {
                let i = at(*i, v.len()).min(v.len());
                let end = (i + n).min(v.len());
                v.drain(i..end);
            }
            Edit::Duplicate(i, n, to) => {
                let i = at(*i, v.len()).min(v.len());
                let part: Vec<u8> = v[i..(i + n).min(v.len())].to_vec();
                let to = at(*to, v.len());
                v.splice(to..to, part);
            }
            Edit::Truncate(n) => {
                let n = at(*n, v.len());
                v.truncate(n);
            }
        }
    }
    v
}

/// Arbitrary bytes (up to `max` long), or a seed of `target` with a few edits.
pub fn inputs(target: &str, max: usize) -> impl Strategy<Value = Vec<u8>> + use<> {
    let seeds = corpus(target);
    let n = seeds.len();
    prop_oneof![
        1 => proptest::collection::vec(any::<u8>(), 0..max),
        3 => (0..n, proptest::collection::vec(edit(), 0..8))
            .prop_map(move |(i, edits)| apply(&seeds[i], &edits)),
    ]
}

/// Splits `data` at the given points (for decoders fed in chunks, as sockets deliver them).
pub fn chunks(data: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let mut points: Vec<usize> = cuts.iter().map(|c| if data.is_empty() { 0 } else { c % data.len() }).collect();
    points.sort_unstable();
    points.dedup();
    let mut out = Vec::new();
    let mut start = 0;
    for p in points {
        if p > start {
            out.push(data[start..p].to_vec());
            start = p;
        }
    }
    out.push(data[start..].to_vec());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_stay_in_bounds() {
        let seed = b"hello world";
        let edits = [
            Edit::Flip(99, 1),
            Edit::Insert(1_000, b"x".to_vec()),
            Edit::Token(usize::MAX, usize::MAX),
            Edit::Delete(usize::MAX, 63),
            Edit::Duplicate(5, 63, usize::MAX),
            Edit::Truncate(usize::MAX),
        ];
        let _ = apply(seed, &edits);
        assert_eq!(apply(b"", &edits[..1]), b"");
        assert_eq!(chunks(b"abcdef", &[2, 4, 4, 0]), [b"ab".to_vec(), b"cd".to_vec(), b"ef".to_vec()]);
    }
}
