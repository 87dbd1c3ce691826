//! `GET /stats/summary`: CPU and memory of the node, its pods and their
//! containers, in the shape of upstream's `stats/v1alpha1` Summary (what
//! metrics-server scrapes).
//!
//! Container and pod figures come from their cgroups (the runtime's
//! `container_stats` and the pod cgroup of the sandbox); node figures from
//! `/proc/stat` and `/proc/meminfo`. Only cumulative counters are reported
//! (`usageCoreNanoSeconds`); a rate needs two samples, which is the
//! scraper's job (the apiserver's `resource_metrics`, for `kubectl top`).

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use container_runtime::cgroups::Stats;
use container_runtime::sandbox::PodSandboxState;
use container_runtime::state::Status;

fn cpu(time: &str, s: &Stats) -> Value {
    json!({"time": time, "usageCoreNanoSeconds": s.cpu_usage_ns})
}

fn memory(time: &str, s: &Stats) -> Value {
    json!({
        "time": time,
        "usageBytes": s.memory_usage_bytes,
        "workingSetBytes": s.memory_working_set_bytes,
    })
}

/// Node CPU time (all CPUs, nanoseconds) from `/proc/stat`.
fn node_cpu_ns(stat: &str) -> Option<u64> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let f: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal: busy = all but idle/iowait.
    let busy: u64 = f
        .iter()
        .take(8)
        .enumerate()
        .filter(|(i, _)| *i != 3 && *i != 4)
        .map(|(_, v)| *v)
        .sum();
    // USER_HZ is 100 on every Linux we run on.
    Some(busy * 10_000_000)
}

/// (total, free, available) bytes from `/proc/meminfo`.
fn node_memory(meminfo: &str) -> (u64, u64, u64) {
    let get = |key: &str| {
        meminfo
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
            * 1024
    };
    (get("MemTotal:"), get("MemFree:"), get("MemAvailable:"))
}

/// The handler.
pub async fn summary(State(st): State<super::State>) -> Json<Value> {
    let runtime = st.runtime.clone();
    let pods = st.pods.pods();
    let v = tokio::task::spawn_blocking(move || build(&runtime, &pods))
        .await
        .unwrap_or_else(|_| json!({}));
    Json(v)
}

fn build(runtime: &container_runtime::Runtime, pods: &[k8s_openapi::api::core::v1::Pod]) -> Value {
    // Milliseconds, where upstream's kubelet writes whole seconds: the
    // scraper divides by the time between two samples, and a window known
    // only to the second is off by up to 1 s in 15 (upstream's
    // `/metrics/resource`, which metrics-server reads today, has
    // milliseconds too).
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let node_name = pods
        .iter()
        .find_map(|p| p.spec.as_ref().and_then(|s| s.node_name.clone()))
        .or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .ok()
                .map(|h| h.trim().to_string())
        })
        .unwrap_or_default();
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let (total, free, available) = node_memory(&meminfo);
    let node = json!({
        "nodeName": node_name,
        "cpu": {"time": now, "usageCoreNanoSeconds": node_cpu_ns(&stat).unwrap_or(0)},
        "memory": {
            "time": now,
            "availableBytes": available,
            "usageBytes": total.saturating_sub(free),
            "workingSetBytes": total.saturating_sub(available),
        },
    });
    let containers = runtime.list_containers().unwrap_or_default();
    let mut out = Vec::new();
    for sb in runtime.list_sandboxes().unwrap_or_default() {
        if sb.state != PodSandboxState::Ready {
            continue;
        }
        let mut cs = Vec::new();
        for c in containers
            .iter()
            .filter(|c| c.spec.sandbox_id == sb.id && c.state.status == Status::Running)
        {
            let Ok(s) = runtime.container_stats(&c.spec.id) else {
                continue;
            };
            cs.push(json!({
                "name": c.spec.config.name,
                "startTime": c.state.started_at,
                "cpu": cpu(&now, &s),
                "memory": memory(&now, &s),
            }));
        }
        let mut pod = json!({
            "podRef": {"name": sb.config.name, "namespace": sb.config.namespace, "uid": sb.config.uid},
            "startTime": sb.created_at,
            "containers": cs,
        });
        if let Ok(s) = runtime.cgroups().stats(&sb.cgroup_path) {
            pod["cpu"] = cpu(&now, &s);
            pod["memory"] = memory(&now, &s);
        }
        out.push(pod);
    }
    json!({"node": node, "pods": out})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_parsing() {
        let stat = "cpu  100 0 50 1000 20 0 10 0 0 0\ncpu0 1 2 3\n";
        assert_eq!(node_cpu_ns(stat), Some(160 * 10_000_000));
        let mem = "MemTotal:       1000 kB\nMemFree:         200 kB\nMemAvailable:    600 kB\n";
        assert_eq!(node_memory(mem), (1_024_000, 204_800, 614_400));
    }
}
