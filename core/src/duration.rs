//! Go durations (`15m0s`, `1h30m`, `500ms`) parsed and printed exactly as Go's `time` package
//! does, because upstream Skupper stores them as text (`AccessGrant.spec.expirationWindow`) and
//! prints them in CLI messages ("The token expires after 1 use(s) or after 15m0s.").
//!
//! Parsing follows `time.ParseDuration` and printing `Duration.String()` (Go `src/time/format.go`),
//! including Go's float arithmetic for fractions so results match to the nanosecond.

use alloc::string::{String, ToString};
use core::fmt;

use serde::{Deserialize, Serialize};

/// Nanoseconds in a microsecond.
const MICROSECOND: u64 = 1_000;
/// Nanoseconds in a millisecond.
const MILLISECOND: u64 = 1_000_000;
/// Nanoseconds in a second.
const SECOND: u64 = 1_000_000_000;
/// Nanoseconds in a minute.
const MINUTE: u64 = 60 * SECOND;
/// Nanoseconds in an hour.
const HOUR: u64 = 60 * MINUTE;

/// A Go `time.Duration`: signed nanoseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GoDuration(pub i64 /* nanoseconds */);

/// Why a duration text was refused. Texts are Go's own (`time: invalid duration "x"`), so they
/// read the same as upstream messages such as `Invalid duration "x": time: invalid duration "x"`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DurationError {
    /// Empty text, no digits, a character that is not part of a number, or a value that does not
    /// fit in 64-bit nanoseconds (about 292 years).
    #[error("time: invalid duration {input:?}")]
    Invalid {
        /// The whole text as given.
        input: String,
    },
    /// A number without a unit, e.g. `15`.
    #[error("time: missing unit in duration {input:?}")]
    MissingUnit {
        /// The whole text as given.
        input: String,
    },
    /// A unit other than `ns`, `us`, `µs`, `ms`, `s`, `m`, `h`, e.g. `1d`.
    #[error("time: unknown unit {unit:?} in duration {input:?}")]
    UnknownUnit {
        /// The unit found.
        unit: String,
        /// The whole text as given.
        input: String,
    },
}

impl DurationError {
    /// What to do about it, for messages shown to people.
    pub fn help(&self) -> &'static str {
        "write a number followed by a unit (ns, us, ms, s, m, h), e.g. 90s, 15m or 1h30m"
    }
}

impl GoDuration {
    /// Zero.
    pub const ZERO: Self = Self(0);
    /// One second.
    pub const SECOND: Self = Self(SECOND as i64);
    /// One minute.
    pub const MINUTE: Self = Self(MINUTE as i64);
    /// One hour.
    pub const HOUR: Self = Self(HOUR as i64);

    /// Parses Go's duration grammar `[-+]?([0-9]*(\.[0-9]*)?[a-z]+)+`, e.g. `15m`, `1h30m`,
    /// `1.5s`, `-2h`, `0`. Spaces are not allowed (as in Go).
    pub fn parse(s: &str) -> Result<Self, DurationError> {
        let invalid = || DurationError::Invalid { input: s.to_string() };
        let mut rest = s;
        let mut neg = false;
        if let Some(c) = rest.as_bytes().first()
            && (*c == b'-' || *c == b'+')
        {
            neg = *c == b'-';
            rest = &rest[1..];
        }
        if rest == "0" {
            return Ok(Self(0));
        }
        if rest.is_empty() {
            return Err(invalid());
        }
        let mut total: u64 = 0;
        while !rest.is_empty() {
            let first = rest.as_bytes()[0];
            if !(first == b'.' || first.is_ascii_digit()) {
                return Err(invalid());
            }
            // [0-9]*
            let before = rest.len();
            let (mut v, r) = leading_int(rest).ok_or_else(invalid)?;
            rest = r;
            let pre = before != rest.len();
            // (\.[0-9]*)?
            let mut post = false;
            let (mut f, mut scale) = (0u64, 1f64);
            if let Some(r) = rest.strip_prefix('.') {
                let before = r.len();
                let (ff, sc, r) = leading_fraction(r);
                (f, scale, rest) = (ff, sc, r);
                post = before != rest.len();
            }
            if !pre && !post {
                return Err(invalid());
            }
            // The unit runs to the next '.' or digit; both are ASCII, so the cut is a char boundary.
            let end = rest.bytes().position(|c| c == b'.' || c.is_ascii_digit()).unwrap_or(rest.len());
            if end == 0 {
                return Err(DurationError::MissingUnit { input: s.to_string() });
            }
            let (u, r) = rest.split_at(end);
            rest = r;
            let unit = match u {
                "ns" => 1,
                "us" | "µs" | "μs" => MICROSECOND,
                "ms" => MILLISECOND,
                "s" => SECOND,
                "m" => MINUTE,
                "h" => HOUR,
                _ => return Err(DurationError::UnknownUnit { unit: u.to_string(), input: s.to_string() }),
            };
            if v > (1u64 << 63) / unit {
                return Err(invalid());
            }
            v *= unit;
            if f > 0 {
                // Go uses float64 here to stay nanosecond-accurate for fractions of hours.
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]
                let frac = (f as f64 * (unit as f64 / scale)) as u64;
                v = v.checked_add(frac).ok_or_else(invalid)?;
                if v > 1u64 << 63 {
                    return Err(invalid());
                }
            }
            total = total.checked_add(v).ok_or_else(invalid)?;
            if total > 1u64 << 63 {
                return Err(invalid());
            }
        }
        if neg {
            // total <= 2^63, so the negation fits (i64::MIN for exactly 2^63).
            return Ok(Self(0i64.wrapping_sub_unsigned(total)));
        }
        i64::try_from(total).map(GoDuration).map_err(|_| invalid())
    }

    /// Whole seconds, truncated toward zero (Go `int64(d.Seconds())` for integral results).
    pub fn as_secs(self) -> i64 {
        self.0 / SECOND as i64
    }

    /// A duration of `secs` seconds, saturating at the limits of 64-bit nanoseconds.
    pub fn from_secs(secs: i64) -> Self {
        Self(secs.saturating_mul(SECOND as i64))
    }

    /// Nanoseconds.
    pub fn as_nanos(self) -> i64 {
        self.0
    }
}

/// `[0-9]*` as an integer; `None` on overflow past 2^63 (Go's `errLeadingInt`).
fn leading_int(s: &str) -> Option<(u64, &str)> {
    let mut x: u64 = 0;
    let mut i = 0;
    for c in s.bytes() {
        if !c.is_ascii_digit() {
            break;
        }
        if x > (1u64 << 63) / 10 {
            return None;
        }
        x = x * 10 + u64::from(c - b'0');
        if x > 1u64 << 63 {
            return None;
        }
        i += 1;
    }
    Some((x, &s[i..]))
}

/// `[0-9]*` after a decimal point: the digits as an integer and 10^digits; stops accumulating
/// precision (without failing) when the value would overflow, as Go does.
fn leading_fraction(s: &str) -> (u64, f64, &str) {
    let mut x: u64 = 0;
    let mut scale = 1f64;
    let mut overflow = false;
    let mut i = 0;
    for c in s.bytes() {
        if !c.is_ascii_digit() {
            break;
        }
        i += 1;
        if overflow {
            continue;
        }
        if x > ((1u64 << 63) - 1) / 10 {
            overflow = true;
            continue;
        }
        let y = x * 10 + u64::from(c - b'0');
        if y > 1u64 << 63 {
            overflow = true;
            continue;
        }
        x = y;
        scale *= 10.0;
    }
    (x, scale, &s[i..])
}

impl fmt::Display for GoDuration {
    /// Go's `Duration.String()`: `1h30m0s`, `15m0s`, `1.5s`, `500ms`, `1µs`, `0s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Largest is "-2562047h47m16.854775808s": 25 bytes; build right to left.
        let mut buf = [0u8; 32];
        let mut w = buf.len();
        let neg = self.0 < 0;
        let mut u = self.0.unsigned_abs();
        let mut put = |w: &mut usize, b: u8| {
            *w -= 1;
            buf[*w] = b;
        };
        if u < SECOND {
            let prec;
            put(&mut w, b's');
            if u == 0 {
                return f.write_str("0s");
            } else if u < MICROSECOND {
                prec = 0;
                put(&mut w, b'n');
            } else if u < MILLISECOND {
                prec = 3;
                // U+00B5 MICRO SIGN, UTF-8 0xC2 0xB5 (written backwards).
                put(&mut w, 0xB5);
                put(&mut w, 0xC2);
            } else {
                prec = 6;
                put(&mut w, b'm');
            }
            u = fmt_frac(&mut put, &mut w, u, prec);
            fmt_int(&mut put, &mut w, u);
        } else {
            put(&mut w, b's');
            u = fmt_frac(&mut put, &mut w, u, 9);
            fmt_int(&mut put, &mut w, u % 60);
            u /= 60;
            if u > 0 {
                put(&mut w, b'm');
                fmt_int(&mut put, &mut w, u % 60);
                u /= 60;
                // Stop at hours: days differ in length.
                if u > 0 {
                    put(&mut w, b'h');
                    fmt_int(&mut put, &mut w, u);
                }
            }
        }
        if neg {
            put(&mut w, b'-');
        }
        // Only ASCII and the complete two-byte 'µ' were written.
        f.write_str(core::str::from_utf8(&buf[w..]).map_err(|_| fmt::Error)?)
    }
}

/// Writes the fraction of `v / 10^prec` without trailing zeros (and without the point when the
/// fraction is zero); returns `v / 10^prec`.
fn fmt_frac(put: &mut impl FnMut(&mut usize, u8), w: &mut usize, mut v: u64, prec: u32) -> u64 {
    let mut print = false;
    for _ in 0..prec {
        let digit = (v % 10) as u8;
        print = print || digit != 0;
        if print {
            put(w, b'0' + digit);
        }
        v /= 10;
    }
    if print {
        put(w, b'.');
    }
    v
}

fn fmt_int(put: &mut impl FnMut(&mut usize, u8), w: &mut usize, mut v: u64) {
    if v == 0 {
        put(w, b'0');
        return;
    }
    while v > 0 {
        put(w, b'0' + (v % 10) as u8);
        v /= 10;
    }
}

impl core::str::FromStr for GoDuration {
    type Err = DurationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for GoDuration {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for GoDuration {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;

    fn p(s: &str) -> i64 {
        GoDuration::parse(s).unwrap_or_else(|e| panic!("{s}: {e}")).0
    }

    #[test]
    fn parses_go_examples() {
        assert_eq!(p("15m"), 15 * MINUTE as i64);
        assert_eq!(p("1h30m"), 90 * MINUTE as i64);
        assert_eq!(p("1.5h"), 90 * MINUTE as i64);
        assert_eq!(p("300ms"), 300 * MILLISECOND as i64);
        assert_eq!(p("-1.5h"), -90 * MINUTE as i64);
        assert_eq!(p("2h45m"), 165 * MINUTE as i64);
        assert_eq!(p("1µs"), 1000);
        assert_eq!(p("1μs"), 1000);
        assert_eq!(p("1us"), 1000);
        assert_eq!(p("0"), 0);
        assert_eq!(p("+0"), 0);
        assert_eq!(p("-0"), 0);
        assert_eq!(p("0s"), 0);
        assert_eq!(p(".5s"), 500 * MILLISECOND as i64);
        assert_eq!(p("5.s"), 5 * SECOND as i64);
        assert_eq!(p("1h1m1s1ms1us1ns"), (HOUR + MINUTE + SECOND + MILLISECOND + MICROSECOND + 1) as i64);
        // Go's own table: "0.3333333333333333333h" is 20m0s exactly.
        assert_eq!(p("0.3333333333333333333h"), 20 * MINUTE as i64);
        assert_eq!(p("9223372036854775807ns"), i64::MAX);
        assert_eq!(p("-9223372036854775808ns"), i64::MIN);
        assert_eq!(p("9223372036s854ms775us807ns"), i64::MAX);
        // Fractions longer than the precision are cut, not refused.
        assert_eq!(p("0.100000000000000000000h"), 6 * MINUTE as i64);
    }

    #[test]
    fn refuses_what_go_refuses_with_go_texts() {
        let e = |s: &str| GoDuration::parse(s).expect_err(s).to_string();
        assert_eq!(e(""), r#"time: invalid duration """#);
        assert_eq!(e("3"), r#"time: missing unit in duration "3""#);
        assert_eq!(e("-"), r#"time: invalid duration "-""#);
        assert_eq!(e("s"), r#"time: invalid duration "s""#);
        assert_eq!(e("."), r#"time: invalid duration ".""#);
        assert_eq!(e("-.s"), r#"time: invalid duration "-.s""#);
        assert_eq!(e("1d"), r#"time: unknown unit "d" in duration "1d""#);
        assert_eq!(e("1 m"), r#"time: unknown unit " m" in duration "1 m""#);
        assert_eq!(e("9223372036854775808ns"), r#"time: invalid duration "9223372036854775808ns""#);
        assert_eq!(e("3000000h"), r#"time: invalid duration "3000000h""#);
        assert_eq!(e("9223372036854775807ns1ns"), r#"time: invalid duration "9223372036854775807ns1ns""#);
        assert!(matches!(GoDuration::parse("x"), Err(DurationError::Invalid { .. })));
        assert!(!GoDuration::parse("x").expect_err("x").help().is_empty());
    }

    #[test]
    fn prints_like_go() {
        let s = |n: i64| format!("{}", GoDuration(n));
        assert_eq!(s(0), "0s");
        assert_eq!(s(1), "1ns");
        assert_eq!(s(1100), "1.1µs");
        assert_eq!(s(1000), "1µs");
        assert_eq!(s(2_200_000), "2.2ms");
        assert_eq!(s(500 * MILLISECOND as i64), "500ms");
        assert_eq!(s(1_500_000_000), "1.5s");
        assert_eq!(s(SECOND as i64), "1s");
        assert_eq!(s(MINUTE as i64), "1m0s");
        assert_eq!(s(15 * MINUTE as i64), "15m0s");
        assert_eq!(s(90 * MINUTE as i64), "1h30m0s");
        assert_eq!(s(2 * HOUR as i64), "2h0m0s");
        assert_eq!(s(-90 * MINUTE as i64), "-1h30m0s");
        assert_eq!(s(-1), "-1ns");
        assert_eq!(s(i64::MAX), "2562047h47m16.854775807s");
        assert_eq!(s(i64::MIN), "-2562047h47m16.854775808s");
    }

    #[test]
    fn seconds_and_serde() {
        assert_eq!(GoDuration::from_secs(900).to_string(), "15m0s");
        assert_eq!(GoDuration(1_999_999_999).as_secs(), 1);
        assert_eq!(GoDuration(-1_999_999_999).as_secs(), -1);
        assert_eq!(GoDuration::from_secs(i64::MAX), GoDuration(i64::MAX));
        let v = serde_json::to_value(GoDuration::from_secs(60)).expect("serialize");
        assert_eq!(v, serde_json::Value::String("1m0s".into()));
        let d: GoDuration = serde_json::from_value(serde_json::json!("1h")).expect("deserialize");
        assert_eq!(d, GoDuration::HOUR);
        let e = serde_json::from_value::<GoDuration>(serde_json::json!("forever")).expect_err("refused");
        assert!(e.to_string().contains("forever"), "{e}");
    }
}
