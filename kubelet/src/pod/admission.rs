//! Admission on the node: before anything of a new pod runs, the kubelet
//! checks what only the node can know. A pod that wants a host port another
//! pod here already holds is rejected for good, as upstream's kubelet does
//! (its `NodePorts` predicate): it ends `Failed` with reason `NodePorts`,
//! and its controller (a StatefulSet, a ReplicaSet) makes a new one, which
//! the scheduler can place elsewhere or here once the port is free.
//!
//! Likewise a pod asking for a sysctl that is neither one of upstream's
//! safe ones nor allowed by the node's `allowedUnsafeSysctls` (names, or
//! prefixes ending in `*`) is rejected with reason `SysctlForbidden`.
//!
//! Under node pressure ([`crate::eviction`]) new pods would only be evicted
//! again, so, as upstream's eviction admit handler: under MemoryPressure
//! alone BestEffort pods are refused (unless they tolerate the
//! `node.kubernetes.io/memory-pressure` taint), under DiskPressure or
//! PIDPressure every pod; critical pods always get in. The reason is
//! `Evicted`.

use k8s_openapi::api::core::v1::Pod;

/// The reason of a pod rejected for its host ports.
pub const REASON: &str = "NodePorts";
/// Its message, as upstream words it.
pub const MESSAGE: &str =
    "Pod was rejected: Predicate NodePorts failed: node(s) didn't have free ports for the requested pod ports";

/// The reason of a pod rejected for its sysctls.
pub const SYSCTL_REASON: &str = "SysctlForbidden";

/// Sysctls namespaced per pod and isolated from other pods: always allowed
/// (upstream's list).
const SAFE_SYSCTLS: &[&str] = &[
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
    "net.ipv4.tcp_rmem",
    "net.ipv4.tcp_wmem",
];

/// A slash-separated sysctl in the dotted form allowlists use (the dots
/// inside a segment become slashes).
fn dotted(name: &str) -> String {
    if !name.contains('/') {
        return name.to_string();
    }
    name.chars()
        .map(|c| match c {
            '/' => '.',
            '.' => '/',
            c => c,
        })
        .collect()
}

/// Why `pod`'s sysctls are refused on this node (the pod status message),
/// if they are.
pub fn forbidden_sysctl(pod: &Pod, allowed_unsafe: &[String]) -> Option<String> {
    let spec = pod.spec.as_ref()?;
    let sysctls = spec.security_context.as_ref()?.sysctls.as_ref()?;
    let allowed = |name: &str| {
        SAFE_SYSCTLS.contains(&name)
            || allowed_unsafe.iter().any(|p| match p.strip_suffix('*') {
                Some(prefix) => name.starts_with(prefix),
                None => p == name,
            })
    };
    let ipc = ["kernel.shm", "kernel.msg", "kernel.sem", "fs.mqueue."];
    for s in sysctls {
        let name = dotted(&s.name);
        let host_ns = if name.starts_with("net.") && spec.host_network == Some(true) {
            Some("net")
        } else if ipc.iter().any(|p| name.starts_with(p)) && spec.host_ipc == Some(true) {
            Some("ipc")
        } else {
            None
        };
        if let Some(ns) = host_ns {
            return Some(format!(
                "Pod was rejected: forbidden sysctl: {name:?} not allowed with host {ns} enabled"
            ));
        }
        if !allowed(&name) {
            return Some(format!(
                "Pod was rejected: forbidden sysctl: {name:?} not allowlisted"
            ));
        }
    }
    None
}

/// The taint the node lifecycle controller puts on a node under
/// MemoryPressure.
const MEMORY_PRESSURE_TAINT: &str = "node.kubernetes.io/memory-pressure";

/// Whether `pod` tolerates the memory-pressure taint (NoSchedule).
fn tolerates_memory_pressure(pod: &Pod) -> bool {
    pod.spec
        .iter()
        .flat_map(|s| s.tolerations.iter().flatten())
        .any(|t| {
            let key_ok = match t.key.as_deref() {
                None | Some("") => t.operator.as_deref() == Some("Exists"),
                Some(k) => k == MEMORY_PRESSURE_TAINT,
            };
            let value_ok = t.operator.as_deref() == Some("Exists")
                || t.value.as_deref().unwrap_or("").is_empty();
            let effect_ok = matches!(t.effect.as_deref(), None | Some("") | Some("NoSchedule"));
            key_ok && value_ok && effect_ok
        })
}

/// Why `pod` may not start on a node with these pressure `conditions`
/// (the pod status message, reason [`crate::eviction::REASON`]), if so.
pub fn node_pressure(
    pod: &Pod,
    conditions: &std::collections::BTreeSet<&'static str>,
) -> Option<String> {
    if conditions.is_empty() || crate::eviction::ranking::is_critical(pod) {
        return None;
    }
    let only_memory = conditions.len() == 1 && conditions.contains("MemoryPressure");
    if only_memory {
        let best_effort =
            super::container_config::qos(pod) == container_runtime::cgroups::Qos::BestEffort;
        if !best_effort || tolerates_memory_pressure(pod) {
            return None;
        }
    }
    let listed: Vec<&str> = crate::eviction::CONDITIONS
        .into_iter()
        .filter(|c| conditions.contains(c))
        .collect();
    Some(format!("The node had condition: [{}]. ", listed.join(" ")))
}

/// `(protocol, host IP, host port)` of every container port with a host port.
fn host_ports(pod: &Pod) -> Vec<(String, String, i32)> {
    pod.spec
        .iter()
        .flat_map(|s| {
            s.containers
                .iter()
                .chain(s.init_containers.iter().flatten())
        })
        .flat_map(|c| c.ports.iter().flatten())
        .filter_map(|p| {
            let port = p.host_port.filter(|h| *h > 0)?;
            Some((
                p.protocol.clone().unwrap_or_else(|| "TCP".into()),
                p.host_ip
                    .clone()
                    .filter(|ip| !ip.is_empty())
                    .unwrap_or_else(|| "0.0.0.0".into()),
                port,
            ))
        })
        .collect()
}

fn finished(pod: &Pod) -> bool {
    matches!(
        pod.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded" | "Failed")
    )
}

/// Whether `other` was here first: already started, or created earlier.
fn admitted_before(other: &Pod, pod: &Pod) -> bool {
    if other
        .status
        .as_ref()
        .and_then(|s| s.start_time.as_ref())
        .is_some()
    {
        return true;
    }
    let created = |p: &Pod| {
        (
            p.metadata.creation_timestamp.as_ref().map(|t| t.0),
            p.metadata.name.clone(),
        )
    };
    created(other) < created(pod)
}

/// Whether a host port of `pod` is held by one of `others` (the node's other
/// pods that have not finished and were admitted before it).
pub fn host_port_conflict<'a>(pod: &Pod, others: impl IntoIterator<Item = &'a Pod>) -> bool {
    let wanted = host_ports(pod);
    if wanted.is_empty() {
        return false;
    }
    others
        .into_iter()
        .filter(|o| o.metadata.uid != pod.metadata.uid && !finished(o) && admitted_before(o, pod))
        .flat_map(host_ports)
        .any(|(proto, ip, port)| {
            wanted.iter().any(|(wp, wip, wport)| {
                *wp == proto
                    && *wport == port
                    && (*wip == ip || wip == "0.0.0.0" || ip == "0.0.0.0")
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(name: &str, created: &str, host_port: i32, started: bool) -> Pod {
        let mut status = json!({"phase": "Pending"});
        if started {
            status = json!({"phase": "Running", "startTime": created});
        }
        serde_json::from_value(json!({
            "metadata": {"name": name, "uid": name, "creationTimestamp": created},
            "spec": {"containers": [{"name": "c", "image": "i",
                "ports": [{"containerPort": 80, "hostPort": host_port}]}]},
            "status": status
        }))
        .expect("pod")
    }

    #[test]
    fn only_safe_or_allowed_sysctls_are_admitted() {
        let with = |sysctls: serde_json::Value| -> Pod {
            serde_json::from_value(json!({"metadata": {"name": "p"},
                "spec": {"containers": [], "securityContext": {"sysctls": sysctls}}}))
            .expect("pod")
        };
        let safe = with(json!([{"name": "kernel.shm_rmid_forced", "value": "1"},
            {"name": "net/ipv4/ip_local_port_range", "value": "1024 65535"}]));
        assert_eq!(forbidden_sysctl(&safe, &[]), None);
        let unsafe_ = with(json!([{"name": "kernel.msgmax", "value": "1"}]));
        assert_eq!(
            forbidden_sysctl(&unsafe_, &[]).as_deref(),
            Some("Pod was rejected: forbidden sysctl: \"kernel.msgmax\" not allowlisted")
        );
        assert_eq!(forbidden_sysctl(&unsafe_, &["kernel.msg*".into()]), None);
        assert_eq!(forbidden_sysctl(&unsafe_, &["kernel.msgmax".into()]), None);
        let slashed = with(json!([{"name": "net/ipv4/conf/eth0.100/rp_filter", "value": "1"}]));
        assert!(forbidden_sysctl(&slashed, &[])
            .is_some_and(|m| m.contains("\"net.ipv4.conf.eth0/100.rp_filter\"")));
    }

    #[test]
    fn pressure_turns_away_best_effort_pods_or_all_pods() {
        let with = |resources: serde_json::Value, tolerations: serde_json::Value| -> Pod {
            serde_json::from_value(json!({"metadata": {"name": "p"},
                "spec": {"tolerations": tolerations,
                    "containers": [{"name": "c", "image": "i", "resources": resources}]}}))
            .expect("pod")
        };
        let be = with(json!({}), json!([]));
        let burstable = with(json!({"requests": {"memory": "10Mi"}}), json!([]));
        let memory = std::collections::BTreeSet::from(["MemoryPressure"]);
        let disk = std::collections::BTreeSet::from(["DiskPressure", "MemoryPressure"]);
        assert_eq!(node_pressure(&be, &Default::default()), None);
        assert_eq!(
            node_pressure(&be, &memory).as_deref(),
            Some("The node had condition: [MemoryPressure]. ")
        );
        assert_eq!(node_pressure(&burstable, &memory), None);
        assert_eq!(
            node_pressure(&burstable, &disk).as_deref(),
            Some("The node had condition: [MemoryPressure DiskPressure]. ")
        );
        let tolerant = with(
            json!({}),
            json!([{"key": "node.kubernetes.io/memory-pressure", "operator": "Exists", "effect": "NoSchedule"}]),
        );
        assert_eq!(node_pressure(&tolerant, &memory), None);
        let mut critical = be.clone();
        if let Some(s) = critical.spec.as_mut() {
            s.priority = Some(crate::eviction::ranking::SYSTEM_CRITICAL_PRIORITY);
        }
        assert_eq!(node_pressure(&critical, &disk), None);
    }

    #[test]
    fn the_later_pod_on_a_taken_port_is_rejected() {
        let first = pod("a", "2026-01-01T00:00:00Z", 21017, true);
        let second = pod("b", "2026-01-01T00:00:05Z", 21017, false);
        assert!(host_port_conflict(
            &second,
            &[first.clone(), second.clone()]
        ));
        assert!(!host_port_conflict(
            &first,
            &[first.clone(), second.clone()]
        ));
        let elsewhere = pod("c", "2026-01-01T00:00:05Z", 21018, false);
        assert!(!host_port_conflict(&elsewhere, &[first, elsewhere.clone()]));
    }
}
