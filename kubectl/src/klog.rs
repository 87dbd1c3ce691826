//! The few lines upstream's kubectl writes through klog rather than as a
//! `Warning:`: klog's header (`W1204 15:19:31.853632   14104 prune.go:71] `:
//! severity, month and day, local time to the microsecond, the process id
//! right-aligned in seven columns, and upstream's source file and line), so
//! scripts and eyes that know the real kubectl's stderr see the same shape.

/// Writes a klog warning as upstream's `site` (`file.go:line`) does.
pub fn warning(site: &str, message: &str) {
    eprintln!(
        "{}",
        line('W', chrono::Local::now(), std::process::id(), site, message)
    );
}

fn line<Tz: chrono::TimeZone>(
    severity: char,
    at: chrono::DateTime<Tz>,
    pid: u32,
    site: &str,
    message: &str,
) -> String
where
    Tz::Offset: std::fmt::Display,
{
    format!(
        "{severity}{} {pid:>7} {site}] {message}",
        at.format("%m%d %H:%M:%S%.6f")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn header_is_klogs() {
        let at = chrono::Utc
            .with_ymd_and_hms(2026, 12, 4, 15, 19, 31)
            .unwrap()
            .checked_add_signed(chrono::Duration::microseconds(853_632))
            .unwrap();
        assert_eq!(
            line('W', at, 14104, "prune.go:71", "Deprecated: x"),
            "W1204 15:19:31.853632   14104 prune.go:71] Deprecated: x"
        );
    }
}
