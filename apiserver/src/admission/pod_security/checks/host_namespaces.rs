//! `hostNamespaces` (baseline, v1.0+): sharing the host's network, PID or
//! IPC namespace is disallowed.
//!
//! Restricted fields: `spec.hostNetwork`, `spec.hostPID`, `spec.hostIPC`;
//! allowed: undefined, `false`.

use serde_json::Value;

use super::{bool_at, Check, Versioned, Violation};
use crate::admission::pod_security::Level;

/// The check.
pub const CHECK: Check = Check {
    id: "hostNamespaces",
    level: Level::Baseline,
    versions: &[Versioned {
        since: 0,
        check: host_namespaces_1_0,
        overrides: &[],
    }],
};

fn host_namespaces_1_0(_meta: &Value, spec: &Value) -> Option<Violation> {
    let shared: Vec<String> = ["hostNetwork", "hostPID", "hostIPC"]
        .into_iter()
        .filter(|f| bool_at(spec, &format!("/{f}")) == Some(true))
        .map(|f| format!("{f}=true"))
        .collect();
    if shared.is_empty() {
        return None;
    }
    Violation::new("host namespaces", shared.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn host_namespaces_are_refused() {
        let meta = json!({});
        assert_eq!(
            host_namespaces_1_0(&meta, &json!({"hostNetwork": false})),
            None
        );
        let v = host_namespaces_1_0(&meta, &json!({"hostNetwork": true, "hostIPC": true}))
            .expect("violation");
        assert_eq!(v.reason, "host namespaces");
        assert_eq!(v.detail, "hostNetwork=true, hostIPC=true");
    }
}
