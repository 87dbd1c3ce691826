//! Tests that need something from the machine: root (namespaces, cgroups,
//! mounts, `mknod`), tools (`ip`, `iptables`, the CNI plugins), built
//! binaries.
//!
//! On a developer's machine such a test says why it cannot run and passes,
//! so `cargo nextest run` stays usable without root. `hack/test.sh` sets
//! [`REQUIRE_ALL`]: there a missing prerequisite fails the test with the same
//! reason, so a green run means every test ran (CI runs as root with every
//! package installed).
//!
//! ```no_run
//! # fn test() {
//! if !prerequisites::is_root() {
//!     prerequisites::missing("my_test", "needs root for mounts");
//!     return;
//! }
//! # }
//! ```

/// The environment variable that turns a missing prerequisite into a
/// failure (set by `hack/test.sh`).
pub const REQUIRE_ALL: &str = "MINIK8S_REQUIRE_ALL";

/// True when [`REQUIRE_ALL`] is set to anything but empty or `0`.
pub fn all_required() -> bool {
    std::env::var(REQUIRE_ALL).is_ok_and(|v| !v.is_empty() && v != "0")
}

/// Reports that `test` cannot run because of `why`: panics under
/// [`REQUIRE_ALL`]; otherwise prints that it is skipped, and the caller
/// returns.
#[track_caller]
pub fn missing(test: &str, why: &str) {
    if all_required() {
        panic!("{test} cannot run: {why} ({REQUIRE_ALL} is set, so every test must run)");
    }
    eprintln!("SKIPPED {test}: {why} (set {REQUIRE_ALL}=1 to make this a failure)");
}

/// True when the process runs as root (effective uid 0).
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One test, so the variable is not changed under a concurrent one.
    #[test]
    fn fails_only_when_everything_is_required() {
        std::env::remove_var(REQUIRE_ALL);
        assert!(!all_required());
        missing("t", "nothing");
        std::env::set_var(REQUIRE_ALL, "0");
        assert!(!all_required());
        std::env::set_var(REQUIRE_ALL, "1");
        assert!(all_required());
        let err = std::panic::catch_unwind(|| missing("t", "needs root")).unwrap_err();
        let msg = err.downcast_ref::<String>().expect("a formatted panic");
        assert!(msg.contains("t cannot run: needs root"), "{msg}");
        std::env::remove_var(REQUIRE_ALL);
    }
}
