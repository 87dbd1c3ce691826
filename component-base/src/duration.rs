//! Durations as upstream flags and config files write them (Go's
//! `time.ParseDuration`: `40s`, `5m0s`, `1h30m`, `1.5h`, `500ms`), or plain
//! seconds as older flags took them (`15`, `0.5`). Parsed exactly in
//! nanoseconds with integers, and used by every component's duration flags
//! through clap (`value_parser = component_base::duration::parse`).

use std::time::Duration;

/// Why a text is not a duration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Not `<number><unit>...` or a plain number of seconds.
    #[error("invalid duration {0:?}")]
    Invalid(String),
    /// A unit other than `ns`, `us`/`µs`, `ms`, `s`, `m`, `h`.
    #[error("unknown unit {unit:?} in duration {text:?}")]
    Unit {
        /// The duration's text.
        text: String,
        /// The unit found.
        unit: String,
    },
    /// Negative durations mean nothing for a timeout or a period.
    #[error("negative duration {0:?}")]
    Negative(String),
    /// Longer than Go's durations can be (about 292 years).
    #[error("duration {0:?} out of range")]
    Range(String),
}

const NANOS_PER_SECOND: u128 = 1_000_000_000;

fn unit_nanos(unit: &str) -> Option<u128> {
    Some(match unit {
        "ns" => 1,
        "us" | "µs" | "μs" => 1_000,
        "ms" => 1_000_000,
        "s" => NANOS_PER_SECOND,
        "m" => 60 * NANOS_PER_SECOND,
        "h" => 3600 * NANOS_PER_SECOND,
        _ => return None,
    })
}

/// `<digits>[.<digits>]` times `unit` nanoseconds, exactly (fractions
/// finer than a nanosecond are dropped, as Go does).
fn amount(number: &str, unit: u128, text: &str) -> Result<u128, Error> {
    let invalid = || Error::Invalid(text.to_string());
    let (int, frac) = number.split_once('.').unwrap_or((number, ""));
    if (int.is_empty() && frac.is_empty())
        || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
    {
        return Err(invalid());
    }
    let range = || Error::Range(text.to_string());
    let whole: u128 = if int.is_empty() {
        0
    } else {
        int.parse().map_err(|_| range())?
    };
    let mut nanos = whole.checked_mul(unit).ok_or_else(range)?;
    let mut scale = unit;
    for d in frac.bytes() {
        scale /= 10;
        if scale == 0 {
            break;
        }
        nanos += u128::from(d - b'0') * scale;
    }
    Ok(nanos)
}

/// Parses a Go duration (`40s`, `5m0s`, `1.5h`, `500ms`) or plain seconds.
pub fn parse(s: &str) -> Result<Duration, Error> {
    let text = s.trim();
    if text.starts_with('-') {
        return Err(Error::Negative(text.to_string()));
    }
    let body = text.strip_prefix('+').unwrap_or(text);
    if body == "0" {
        return Ok(Duration::ZERO);
    }
    let nanos = if body.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        // Plain seconds, the older flags' form.
        amount(body, NANOS_PER_SECOND, text)?
    } else {
        let mut total: u128 = 0;
        let mut rest = body;
        if rest.is_empty() {
            return Err(Error::Invalid(text.to_string()));
        }
        while !rest.is_empty() {
            let num_end = rest
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .unwrap_or(rest.len());
            let unit_end = rest[num_end..]
                .find(|c: char| c.is_ascii_digit() || c == '.')
                .map_or(rest.len(), |i| num_end + i);
            let (number, unit) = (&rest[..num_end], &rest[num_end..unit_end]);
            let per = unit_nanos(unit).ok_or_else(|| {
                if unit.is_empty() {
                    Error::Invalid(text.to_string())
                } else {
                    Error::Unit {
                        text: text.to_string(),
                        unit: unit.to_string(),
                    }
                }
            })?;
            total = total
                .checked_add(amount(number, per, text)?)
                .ok_or_else(|| Error::Range(text.to_string()))?;
            rest = &rest[unit_end..];
        }
        total
    };
    // Go's Duration is an int64 of nanoseconds.
    if nanos > i64::MAX as u128 {
        return Err(Error::Range(text.to_string()));
    }
    let secs =
        u64::try_from(nanos / NANOS_PER_SECOND).map_err(|_| Error::Range(text.to_string()))?;
    Ok(Duration::new(secs, (nanos % NANOS_PER_SECOND) as u32))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations_parse() {
        assert_eq!(parse("40s").unwrap().as_secs(), 40);
        assert_eq!(parse("5m0s").unwrap().as_secs(), 300);
        assert_eq!(parse("1h").unwrap().as_secs(), 3600);
        assert_eq!(parse("500ms").unwrap().as_millis(), 500);
        assert_eq!(parse("3").unwrap().as_secs(), 3);
        assert!(parse("3x").is_err());
    }

    #[test]
    fn exact_fractions_units_and_errors() {
        assert_eq!(parse("1.5h"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse("2m0s"), Ok(Duration::from_secs(120)));
        assert_eq!(parse("1h2m3.5s"), Ok(Duration::from_millis(3_723_500)));
        assert_eq!(parse("0.1s"), Ok(Duration::from_millis(100)));
        assert_eq!(parse(".5s"), Ok(Duration::from_millis(500)));
        assert_eq!(parse("0.5"), Ok(Duration::from_millis(500)));
        assert_eq!(parse("1µs"), Ok(Duration::from_micros(1)));
        assert_eq!(parse("1.0000000001s"), Ok(Duration::from_secs(1)));
        assert_eq!(parse("0"), Ok(Duration::ZERO));
        assert_eq!(parse("+15s"), Ok(Duration::from_secs(15)));
        assert_eq!(parse(" 15s "), Ok(Duration::from_secs(15)));
        assert_eq!(parse("-1s"), Err(Error::Negative("-1s".into())));
        assert_eq!(
            parse("3x"),
            Err(Error::Unit {
                text: "3x".into(),
                unit: "x".into()
            })
        );
        for bad in ["", "s", "1s2", "1..5s", "."] {
            assert_eq!(parse(bad), Err(Error::Invalid(bad.into())), "{bad:?}");
        }
        assert_eq!(parse("3000000h"), Err(Error::Range("3000000h".into())));
    }
}
