//! `sysctls` (baseline): only the "safe" sysctls, namespaced in the pod and
//! isolated from other pods, may be set.
//!
//! Restricted field: `spec.securityContext.sysctls[*].name`; allowed:
//! v1.0+ `kernel.shm_rmid_forced`, `net.ipv4.ip_local_port_range`,
//! `net.ipv4.tcp_syncookies`, `net.ipv4.ping_group_range`,
//! `net.ipv4.ip_unprivileged_port_start`; v1.27+ also
//! `net.ipv4.ip_local_reserved_ports`; v1.29+ also
//! `net.ipv4.tcp_keepalive_time`, `net.ipv4.tcp_fin_timeout`,
//! `net.ipv4.tcp_keepalive_intvl`, `net.ipv4.tcp_keepalive_probes`; v1.32+
//! also `net.ipv4.tcp_rmem`, `net.ipv4.tcp_wmem`.

use serde_json::Value;

use super::{list, str_at, Check, Versioned, Violation};
use crate::admission::pod_security::Level;

/// The check.
pub const CHECK: Check = Check {
    id: "sysctls",
    level: Level::Baseline,
    versions: &[
        Versioned {
            since: 0,
            check: sysctls_1_0,
            overrides: &[],
        },
        Versioned {
            since: 27,
            check: sysctls_1_27,
            overrides: &[],
        },
        Versioned {
            since: 29,
            check: sysctls_1_29,
            overrides: &[],
        },
        Versioned {
            since: 32,
            check: sysctls_1_32,
            overrides: &[],
        },
    ],
};

/// The safe sysctls with the minor version that allowed each.
const SAFE: &[(&str, u32)] = &[
    ("kernel.shm_rmid_forced", 0),
    ("net.ipv4.ip_local_port_range", 0),
    ("net.ipv4.tcp_syncookies", 0),
    ("net.ipv4.ping_group_range", 0),
    ("net.ipv4.ip_unprivileged_port_start", 0),
    ("net.ipv4.ip_local_reserved_ports", 27),
    ("net.ipv4.tcp_keepalive_time", 29),
    ("net.ipv4.tcp_fin_timeout", 29),
    ("net.ipv4.tcp_keepalive_intvl", 29),
    ("net.ipv4.tcp_keepalive_probes", 29),
    ("net.ipv4.tcp_rmem", 32),
    ("net.ipv4.tcp_wmem", 32),
];

fn sysctls_1_0(meta: &Value, spec: &Value) -> Option<Violation> {
    sysctls(meta, spec, 0)
}

fn sysctls_1_27(meta: &Value, spec: &Value) -> Option<Violation> {
    sysctls(meta, spec, 27)
}

fn sysctls_1_29(meta: &Value, spec: &Value) -> Option<Violation> {
    sysctls(meta, spec, 29)
}

fn sysctls_1_32(meta: &Value, spec: &Value) -> Option<Violation> {
    sysctls(meta, spec, 32)
}

fn sysctls(_meta: &Value, spec: &Value, minor: u32) -> Option<Violation> {
    let safe = |name: &str| SAFE.iter().any(|(n, since)| *n == name && *since <= minor);
    let forbidden: Vec<&str> = list(spec.pointer("/securityContext/sysctls"))
        .map(|s| str_at(s, "/name"))
        .filter(|n| !safe(n))
        .collect();
    if forbidden.is_empty() {
        return None;
    }
    Violation::new("forbidden sysctls", forbidden.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admission::pod_security::checks::test_pods::meta;
    use serde_json::json;

    #[test]
    fn only_safe_sysctls_of_the_version() {
        let spec = json!({"securityContext": {"sysctls": [
            {"name": "net.ipv4.tcp_rmem", "value": "1"},
            {"name": "kernel.msgmax", "value": "1"},
            {"name": "net.ipv4.tcp_syncookies", "value": "1"}]}});
        let v = sysctls_1_32(&meta(), &spec).expect("violation");
        assert_eq!(
            (v.reason.as_str(), v.detail.as_str()),
            ("forbidden sysctls", "kernel.msgmax")
        );
        let v = sysctls_1_29(&meta(), &spec).expect("violation");
        assert_eq!(v.detail, "net.ipv4.tcp_rmem, kernel.msgmax");
        assert_eq!(sysctls_1_0(&meta(), &json!({})), None);
    }
}
