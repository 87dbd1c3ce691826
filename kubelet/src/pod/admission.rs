//! Admission on the node: before anything of a new pod runs, the kubelet
//! checks what only the node can know. A pod that wants a host port another
//! pod here already holds is rejected for good, as upstream's kubelet does
//! (its `NodePorts` predicate): it ends `Failed` with reason `NodePorts`,
//! and its controller (a StatefulSet, a ReplicaSet) makes a new one, which
//! the scheduler can place elsewhere or here once the port is free.

use k8s_openapi::api::core::v1::Pod;

/// The reason of a pod rejected for its host ports.
pub const REASON: &str = "NodePorts";
/// Its message, as upstream words it.
pub const MESSAGE: &str =
    "Pod was rejected: Predicate NodePorts failed: node(s) didn't have free ports for the requested pod ports";

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
pub fn host_port_conflict(pod: &Pod, others: &[Pod]) -> bool {
    let wanted = host_ports(pod);
    if wanted.is_empty() {
        return false;
    }
    others
        .iter()
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
