//! Durations as upstream flags and config files write them (Go's
//! `time.ParseDuration`: `40s`, `5m0s`, `1h`, `500ms`), or plain seconds.

/// Parses durations as Go writes them (`40s`, `5m0s`, `1h`, `500ms`) or
/// plain seconds.
pub fn parse(s: &str) -> Result<std::time::Duration, String> {
    let s = s.trim();
    if let Ok(secs) = s.parse::<f64>() {
        return Ok(std::time::Duration::from_secs_f64(secs.max(0.0)));
    }
    let mut total = 0f64;
    let mut num = String::new();
    let mut chars = s.chars().peekable();
    let mut any = false;
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            num.push(c);
            continue;
        }
        let mut unit = c.to_string();
        while let Some(&n) = chars.peek() {
            if n.is_ascii_alphabetic() {
                unit.push(n);
                chars.next();
            } else {
                break;
            }
        }
        let v: f64 = num.parse().map_err(|_| format!("invalid duration {s:?}"))?;
        num.clear();
        total += v * match unit.as_str() {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 0.001,
            "us" | "µs" => 0.000_001,
            "ns" => 0.000_000_001,
            _ => return Err(format!("invalid duration unit in {s:?}")),
        };
        any = true;
    }
    if !num.is_empty() || !any {
        return Err(format!("invalid duration {s:?}"));
    }
    Ok(std::time::Duration::from_secs_f64(total))
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
}
