//! Reading a kubelet's `GET /stats/summary` (upstream's `stats/v1alpha1`
//! Summary) into samples, with metrics-server's rules: a node or container
//! without a CPU counter (`usageCoreNanoSeconds`) or a memory working set
//! (`workingSetBytes`) gives no sample, and a pod with such a container, or
//! with no container at all, is left out whole. The sample's time is the CPU
//! reading's.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{NodeScrape, PodSample, Sample};

/// Why a summary could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Not JSON.
    #[error("decoding the summary: {0}")]
    Json(#[from] serde_json::Error),
}

fn time(v: Option<&Value>) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(v?.as_str()?)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// A sample from a `{startTime?, cpu, memory}` object, when complete.
fn sample(stats: &Value, start_time: Option<DateTime<Utc>>) -> Option<Sample> {
    let cpu = stats.get("cpu")?;
    let memory = stats.get("memory")?;
    Some(Sample {
        start_time,
        timestamp: time(cpu.get("time"))?,
        cpu_ns: cpu.get("usageCoreNanoSeconds")?.as_u64()?,
        memory_bytes: memory.get("workingSetBytes")?.as_u64()?,
    })
}

/// The samples in a summary.
pub fn decode(body: &[u8]) -> Result<NodeScrape, Error> {
    let v: Value = serde_json::from_slice(body)?;
    let node = v
        .get("node")
        .and_then(|n| sample(n, time(n.get("startTime"))));
    let mut pods = Vec::new();
    for pod in v
        .get("pods")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let str_of = |p: &str| {
            pod.pointer(p)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let (namespace, name) = (str_of("/podRef/namespace"), str_of("/podRef/name"));
        if name.is_empty() {
            continue;
        }
        let mut containers = BTreeMap::new();
        let mut complete = true;
        for c in pod
            .get("containers")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let cname = c.get("name").and_then(Value::as_str).unwrap_or_default();
            match sample(c, time(c.get("startTime"))) {
                Some(s) if !cname.is_empty() => {
                    containers.insert(cname.to_string(), s);
                }
                _ => {
                    tracing::debug!(%namespace, pod = %name, container = cname, "container without cpu or memory figures; skipping the pod");
                    complete = false;
                }
            }
        }
        if complete && !containers.is_empty() {
            pods.push(PodSample {
                namespace,
                name,
                uid: str_of("/podRef/uid"),
                containers,
            });
        }
    }
    Ok(NodeScrape { node, pods })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_kubelet_summary() {
        let body = serde_json::json!({
            "node": {
                "nodeName": "n1",
                "cpu": {"time": "2026-01-01T00:00:10.5Z", "usageCoreNanoSeconds": 7},
                "memory": {"time": "2026-01-01T00:00:10.5Z", "workingSetBytes": 9},
            },
            "pods": [
                {
                    "podRef": {"name": "a", "namespace": "ns", "uid": "u"},
                    "containers": [{
                        "name": "c",
                        "startTime": "2026-01-01T00:00:00Z",
                        "cpu": {"time": "2026-01-01T00:00:10Z", "usageCoreNanoSeconds": 5},
                        "memory": {"time": "2026-01-01T00:00:10Z", "workingSetBytes": 6},
                    }],
                },
                // A container without a working set: the pod is left out.
                {
                    "podRef": {"name": "b", "namespace": "ns", "uid": "v"},
                    "containers": [{
                        "name": "c",
                        "cpu": {"time": "2026-01-01T00:00:10Z", "usageCoreNanoSeconds": 5},
                        "memory": {"time": "2026-01-01T00:00:10Z"},
                    }],
                },
                // No containers (all stopped): left out.
                {"podRef": {"name": "c", "namespace": "ns", "uid": "w"}, "containers": []},
            ],
        });
        let s = decode(&serde_json::to_vec(&body).unwrap()).unwrap();
        let node = s.node.unwrap();
        assert_eq!((node.cpu_ns, node.memory_bytes), (7, 9));
        assert_eq!(node.timestamp.timestamp_millis() % 1000, 500);
        assert_eq!(s.pods.len(), 1);
        let c = &s.pods[0].containers["c"];
        assert_eq!((c.cpu_ns, c.memory_bytes), (5, 6));
        assert!(c.start_time.is_some());
        assert!(decode(b"not json").is_err());
    }
}
