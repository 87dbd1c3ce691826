//! `hostProbesAndHostLifecycle` (baseline, v1.34+): probes and lifecycle
//! handlers may not aim at another host.
//!
//! Restricted fields: `host` of each container's liveness, readiness and
//! startup probes' `httpGet`/`tcpSocket`, and of its `lifecycle.postStart`
//! and `lifecycle.preStop` handlers' `httpGet`/`tcpSocket`; allowed: `""`,
//! undefined.

use std::collections::BTreeSet;

use serde_json::Value;

use super::{containers, join_quote, name, pluralize, str_at, Check, Versioned, Violation};
use crate::admission::pod_security::Level;

/// The check.
pub const CHECK: Check = Check {
    id: "hostProbesAndHostLifecycle",
    level: Level::Baseline,
    versions: &[Versioned {
        since: 34,
        check: host_probes_1_34,
        overrides: &[],
    }],
};

const HANDLERS: &[&str] = &[
    "/livenessProbe",
    "/readinessProbe",
    "/startupProbe",
    "/lifecycle/postStart",
    "/lifecycle/preStop",
];

fn host_probes_1_34(_meta: &Value, spec: &Value) -> Option<Violation> {
    let mut bad = BTreeSet::new();
    let mut hosts = BTreeSet::new();
    for c in containers(spec) {
        for handler in HANDLERS.iter().filter_map(|h| c.pointer(h)) {
            for kind in ["/httpGet/host", "/tcpSocket/host"] {
                let host = str_at(handler, kind);
                if !host.is_empty() {
                    bad.insert(name(c));
                    hosts.insert(host.to_string());
                }
            }
        }
    }
    if bad.is_empty() {
        return None;
    }
    Violation::new(
        "probe or lifecycle host",
        format!(
            "{} {} {} {} {}",
            pluralize("container", "containers", bad.len()),
            join_quote(&bad),
            pluralize("uses", "use", bad.len()),
            pluralize(
                "probe or lifecycle host",
                "probe or lifecycle hosts",
                hosts.len()
            ),
            join_quote(&hosts)
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admission::pod_security::checks::test_pods::meta;
    use serde_json::json;

    #[test]
    fn probe_and_lifecycle_hosts_are_refused() {
        let spec = json!({"containers": [{"name": "c",
            "livenessProbe": {"httpGet": {"port": 80, "host": "10.0.0.1"}},
            "lifecycle": {"preStop": {"tcpSocket": {"port": 80, "host": "example.com"}}}},
            {"name": "d", "readinessProbe": {"httpGet": {"port": 80, "host": ""}}}]});
        let v = host_probes_1_34(&meta(), &spec).expect("violation");
        assert_eq!(
            v.detail,
            "container \"c\" uses probe or lifecycle hosts \"10.0.0.1\", \"example.com\""
        );
        let spec =
            json!({"containers": [{"name": "d", "readinessProbe": {"httpGet": {"port": 80}}}]});
        assert_eq!(host_probes_1_34(&meta(), &spec), None);
    }
}
