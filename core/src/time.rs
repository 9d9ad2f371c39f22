//! RFC 3339 timestamps to and from Unix seconds (UTC), with proleptic Gregorian civil-date
//! math and no clock: `AccessGrant.status.expirationTime` and our advisory token annotations
//! are written as `2026-07-23T10:00:00Z`, like Go's `time.RFC3339`.

use alloc::format;
use alloc::string::{String, ToString};

/// Seconds in a day.
const DAY: i64 = 86_400;

/// Why a timestamp was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("timestamp {input:?} is not RFC 3339 ({problem}); expected e.g. 2026-07-23T10:00:00Z")]
pub struct TimeError {
    /// The text as given.
    pub input: String,
    /// What is wrong with it.
    pub problem: &'static str,
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400); // [0, 399]
    let m = i64::from(month);
    let mp = if m > 2 { m - 3 } else { m + 9 }; // March = 0
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1; // [0, 365]
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; // [0, 146096]
    era * 146_097 + doe - 719_468
}

/// The civil date `(year, month, day)` of a day count since 1970-01-01 (`civil_from_days`).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11]
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32; // [1, 31]
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32; // [1, 12]
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Whether `year` is a Gregorian leap year.
pub fn is_leap_year(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

/// Days in `month` (1-12) of `year`.
pub fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap_year(year) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Formats Unix seconds as `YYYY-MM-DDTHH:MM:SSZ`. Any `i64` is accepted; years outside
/// 0000-9999 are printed with more digits or a sign (RFC 3339 cannot express them).
pub fn format_rfc3339(unix_secs: i64) -> String {
    let days = unix_secs.div_euclid(DAY);
    let secs = unix_secs.rem_euclid(DAY);
    let (y, mo, d) = civil_from_days(days);
    let (h, mi, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.fraction](Z|+hh:mm|-hh:mm)` to Unix seconds (the fraction is
/// dropped, i.e. rounded down). `t`/`z` in lower case and a space instead of `T` are accepted
/// (RFC 3339 §5.6 note); leap seconds (`:60`) are refused, as Go does.
pub fn parse_rfc3339(s: &str) -> Result<i64, TimeError> {
    let err = |problem: &'static str| TimeError { input: s.to_string(), problem };
    let b = s.as_bytes();
    if b.len() < 20 {
        return Err(err("too short"));
    }
    let num = |range: core::ops::Range<usize>, what: &'static str| -> Result<u32, TimeError> {
        let part = b.get(range).ok_or_else(|| err(what))?;
        if part.is_empty() || !part.iter().all(u8::is_ascii_digit) {
            return Err(err(what));
        }
        Ok(part.iter().fold(0u32, |acc, c| acc * 10 + u32::from(c - b'0')))
    };
    let sep = |i: usize, allowed: &[u8], what: &'static str| -> Result<(), TimeError> {
        if b.get(i).is_some_and(|c| allowed.contains(c)) { Ok(()) } else { Err(err(what)) }
    };
    let year = num(0..4, "year must be 4 digits")?;
    sep(4, b"-", "expected '-' after the year")?;
    let month = num(5..7, "month must be 2 digits")?;
    sep(7, b"-", "expected '-' after the month")?;
    let day = num(8..10, "day must be 2 digits")?;
    sep(10, b"Tt ", "expected 'T' between date and time")?;
    let hour = num(11..13, "hour must be 2 digits")?;
    sep(13, b":", "expected ':' after the hour")?;
    let minute = num(14..16, "minute must be 2 digits")?;
    sep(16, b":", "expected ':' after the minute")?;
    let second = num(17..19, "second must be 2 digits")?;
    let mut i = 19;
    if b.get(i) == Some(&b'.') {
        let start = i + 1;
        i = start;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return Err(err("expected digits after '.'"));
        }
    }
    let offset: i64 = match b.get(i) {
        Some(b'Z' | b'z') if i + 1 == b.len() => 0,
        Some(c @ (b'+' | b'-')) if i + 6 == b.len() => {
            let oh = num(i + 1..i + 3, "offset hours must be 2 digits")?;
            sep(i + 3, b":", "expected ':' in the offset")?;
            let om = num(i + 4..i + 6, "offset minutes must be 2 digits")?;
            if oh > 23 || om > 59 {
                return Err(err("offset out of range"));
            }
            let o = i64::from(oh * 3600 + om * 60);
            if *c == b'-' { -o } else { o }
        }
        _ => return Err(err("expected 'Z' or an offset like +02:00 at the end")),
    };
    if !(1..=12).contains(&month) {
        return Err(err("month out of range"));
    }
    if day == 0 || day > days_in_month(i64::from(year), month) {
        return Err(err("day out of range"));
    }
    if hour > 23 || minute > 59 || second > 59 {
        return Err(err("time of day out of range"));
    }
    let days = days_from_civil(i64::from(year), month, day);
    Ok(days * DAY + i64::from(hour * 3600 + minute * 60 + second) - offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(format_rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_rfc3339(1_784_800_800), "2026-07-23T10:00:00Z");
        assert_eq!(format_rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(format_rfc3339(-1), "1969-12-31T23:59:59Z");
        assert_eq!(format_rfc3339(253_402_300_799), "9999-12-31T23:59:59Z");
        assert_eq!(format_rfc3339(-62_167_219_200), "0000-01-01T00:00:00Z");
        // Extremes do not panic.
        assert!(!format_rfc3339(i64::MAX).is_empty());
        assert!(!format_rfc3339(i64::MIN).is_empty());
    }

    #[test]
    fn parses_offsets_and_fractions() {
        let p = |s: &str| parse_rfc3339(s).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p("2026-07-23T10:00:00Z"), 1_784_800_800);
        assert_eq!(p("2026-07-23T12:00:00+02:00"), 1_784_800_800);
        assert_eq!(p("2026-07-23T05:30:00-04:30"), 1_784_800_800);
        assert_eq!(p("2026-07-23T10:00:00.999999999Z"), 1_784_800_800);
        assert_eq!(p("2026-07-23t10:00:00z"), 1_784_800_800);
        assert_eq!(p("2026-07-23 10:00:00Z"), 1_784_800_800);
        assert_eq!(p("1969-12-31T23:59:59Z"), -1);
        assert_eq!(p("2000-02-29T00:00:00Z"), 951_782_400);
    }

    #[test]
    fn refuses_malformed_and_out_of_range() {
        for bad in [
            "",
            "2026-07-23",
            "2026-07-23T10:00:00",
            "2026-07-23T10:00:00+0200",
            "2026-07-23T10:00:00.Z",
            "2026-13-01T00:00:00Z",
            "2026-02-29T00:00:00Z",
            "1900-02-29T00:00:00Z",
            "2026-07-23T24:00:00Z",
            "2026-07-23T10:60:00Z",
            "2026-07-23T10:00:60Z",
            "2026-07-23T10:00:00+24:00",
            "2026-07-23T10:00:00Zjunk",
            "２026-07-23T10:00:00Z",
            "+026-07-23T10:00:00Z",
        ] {
            let e = parse_rfc3339(bad).expect_err(bad);
            assert!(e.to_string().contains("expected e.g."), "{e}");
        }
    }

    #[test]
    fn civil_round_trip_over_centuries() {
        for days in (-800_000..800_000).step_by(97) {
            let (y, m, d) = civil_from_days(days);
            assert!((1..=12).contains(&m) && d >= 1 && d <= days_in_month(y, m));
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }
}
