//! Ages and intervals as upstream prints them (`duration.HumanDuration`:
//! `45s`, `5m`, `5m30s`, `3h12m`, `2d4h`, `1y30d`): the apiserver's table
//! cells and our kubectl's `describe` and `events`.

use chrono::{DateTime, Utc};

/// `secs` seconds as upstream's `HumanDuration` writes them: whole seconds
/// up to 2 minutes, then minutes (with seconds under 10 minutes), hours
/// (with minutes under 8 hours), days (with hours under 8 days) and years
/// (with days under 8 years). A little in the future (clock skew) is `0s`.
pub fn human(secs: i64) -> String {
    if secs < -1 {
        return "<invalid>".into();
    }
    if secs < 0 {
        return "0s".into();
    }
    if secs < 120 {
        return format!("{secs}s");
    }
    let minutes = secs / 60;
    if minutes < 10 {
        return match secs % 60 {
            0 => format!("{minutes}m"),
            s => format!("{minutes}m{s}s"),
        };
    }
    if minutes < 180 {
        return format!("{minutes}m");
    }
    let hours = secs / 3600;
    if hours < 8 {
        return match minutes % 60 {
            0 => format!("{hours}h"),
            m => format!("{hours}h{m}m"),
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        return match hours % 24 {
            0 => format!("{}d", hours / 24),
            h => format!("{}d{h}h", hours / 24),
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let years = hours / 24 / 365;
        return match (hours / 24) % 365 {
            0 => format!("{years}y"),
            d => format!("{years}y{d}d"),
        };
    }
    format!("{}y", hours / 24 / 365)
}

/// The time since an RFC 3339 timestamp, as [`human`]; `<unknown>` when
/// it is missing or does not parse (upstream's zero time).
pub fn since(ts: &str) -> String {
    match ts.parse::<DateTime<Utc>>() {
        Ok(t) => human((Utc::now() - t).num_seconds()),
        Err(_) => "<unknown>".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::human;

    #[test]
    fn reads_as_upstream() {
        for (secs, text) in [
            (-5, "<invalid>"),
            (-1, "0s"),
            (59, "59s"),
            (119, "119s"),
            (120, "2m"),
            (330, "5m30s"),
            (600, "10m"),
            (179 * 60, "179m"),
            (3 * 3600, "3h"),
            (3 * 3600 + 120, "3h2m"),
            (30 * 3600, "30h"),
            (50 * 3600, "2d2h"),
            (72 * 3600, "3d"),
            (10 * 86400, "10d"),
            (800 * 86400, "2y70d"),
            (9 * 365 * 86400, "9y"),
        ] {
            assert_eq!(human(secs), text, "{secs}");
        }
    }
}
