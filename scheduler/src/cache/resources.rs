//! Resource arithmetic: what a pod asks for and what a node offers.
//!
//! Kubernetes writes amounts as `Quantity` strings (`250m`, `1.5`, `512Mi`,
//! `1G`, `1e3`). The scheduler turns them into integers once, when a pod or
//! node enters the cache: CPU in millicores, everything else in base units
//! (bytes, pods), exactly and rounded up by [`apimachinery::quantity`]. A
//! pod's request is computed as upstream does
//! (`resource.PodRequests`): the sum of its containers (plus restartable
//! "sidecar" init containers), or the largest single init container if that
//! is bigger, plus the RuntimeClass `overhead`.

use std::collections::BTreeMap;

use apimachinery::quantity;
use k8s_openapi::api::core::v1::{Container, Pod, PodSpec};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

/// CPU assumed for a container without a CPU request when spreading pods by
/// score (upstream `DefaultMilliCPURequest`): 0.1 core.
pub const DEFAULT_MILLI_CPU_REQUEST: i64 = 100;
/// Memory assumed for a container without a memory request when scoring
/// (upstream `DefaultMemoryRequest`): 200 MiB.
pub const DEFAULT_MEMORY_REQUEST: i64 = 200 * 1024 * 1024;

/// An amount of each resource the scheduler accounts for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resource {
    /// CPU in millicores.
    pub milli_cpu: i64,
    /// Memory in bytes.
    pub memory: i64,
    /// Local ephemeral storage in bytes.
    pub ephemeral_storage: i64,
    /// Number of pods (a node's `pods` capacity; 1 per pod).
    pub pods: i64,
    /// Extended resources (`nvidia.com/gpu`, `hugepages-2Mi`, ...), in base units.
    pub scalar: BTreeMap<String, i64>,
}

impl Resource {
    /// Reads a `ResourceList` (`requests`, `limits`, `allocatable`).
    pub fn from_list(list: Option<&BTreeMap<String, Quantity>>) -> Resource {
        let mut r = Resource::default();
        if let Some(list) = list {
            for (name, q) in list {
                r.set(name, q);
            }
        }
        r
    }

    fn set(&mut self, name: &str, q: &Quantity) {
        match name {
            "cpu" => self.milli_cpu = parse_milli(&q.0).unwrap_or(0),
            "memory" => self.memory = parse_value(&q.0).unwrap_or(0),
            "ephemeral-storage" => self.ephemeral_storage = parse_value(&q.0).unwrap_or(0),
            "pods" => self.pods = parse_value(&q.0).unwrap_or(0),
            other => {
                self.scalar
                    .insert(other.to_string(), parse_value(&q.0).unwrap_or(0));
            }
        }
    }

    /// `self += other`.
    pub fn add(&mut self, other: &Resource) {
        self.milli_cpu += other.milli_cpu;
        self.memory += other.memory;
        self.ephemeral_storage += other.ephemeral_storage;
        self.pods += other.pods;
        for (k, v) in &other.scalar {
            *self.scalar.entry(k.clone()).or_insert(0) += v;
        }
    }

    /// `self -= other`.
    pub fn sub(&mut self, other: &Resource) {
        self.milli_cpu -= other.milli_cpu;
        self.memory -= other.memory;
        self.ephemeral_storage -= other.ephemeral_storage;
        self.pods -= other.pods;
        for (k, v) in &other.scalar {
            *self.scalar.entry(k.clone()).or_insert(0) -= v;
        }
    }

    /// `self = max(self, other)`, resource by resource.
    pub fn set_max(&mut self, other: &Resource) {
        self.milli_cpu = self.milli_cpu.max(other.milli_cpu);
        self.memory = self.memory.max(other.memory);
        self.ephemeral_storage = self.ephemeral_storage.max(other.ephemeral_storage);
        self.pods = self.pods.max(other.pods);
        for (k, v) in &other.scalar {
            let e = self.scalar.entry(k.clone()).or_insert(0);
            *e = (*e).max(*v);
        }
    }
}

/// A container's requests; a resource with only a limit is requested at the
/// limit (the apiserver's defaulting does the same).
fn container_requests(c: &Container) -> Resource {
    let res = c.resources.as_ref();
    let mut r = Resource::from_list(res.and_then(|r| r.requests.as_ref()));
    if let Some(limits) = res.and_then(|r| r.limits.as_ref()) {
        let requests = res.and_then(|r| r.requests.as_ref());
        for (name, q) in limits {
            if requests.is_none_or(|req| !req.contains_key(name)) {
                r.set(name, q);
            }
        }
    }
    r
}

/// The same, with upstream's scoring defaults for missing CPU and memory.
fn container_non_zero(c: &Container) -> Resource {
    let mut r = container_requests(c);
    let has = |name: &str| {
        let res = c.resources.as_ref();
        res.and_then(|r| r.requests.as_ref())
            .is_some_and(|l| l.contains_key(name))
            || res
                .and_then(|r| r.limits.as_ref())
                .is_some_and(|l| l.contains_key(name))
    };
    if !has("cpu") {
        r.milli_cpu = DEFAULT_MILLI_CPU_REQUEST;
    }
    if !has("memory") {
        r.memory = DEFAULT_MEMORY_REQUEST;
    }
    r
}

fn is_sidecar(c: &Container) -> bool {
    c.restart_policy.as_deref() == Some("Always")
}

fn pod_requests_with(spec: &PodSpec, per_container: fn(&Container) -> Resource) -> Resource {
    let mut sum = Resource::default();
    for c in &spec.containers {
        sum.add(&per_container(c));
    }
    // Init containers run one at a time before the app containers; a
    // restartable init container (sidecar) keeps running, so it adds to
    // everything started after it.
    let mut sidecars = Resource::default();
    let mut init_max = Resource::default();
    for c in spec.init_containers.iter().flatten() {
        let r = per_container(c);
        if is_sidecar(c) {
            sidecars.add(&r);
            init_max.set_max(&sidecars);
        } else {
            let mut during = sidecars.clone();
            during.add(&r);
            init_max.set_max(&during);
        }
    }
    sum.add(&sidecars);
    sum.set_max(&init_max);
    if let Some(overhead) = spec.overhead.as_ref() {
        sum.add(&Resource::from_list(Some(overhead)));
    }
    sum
}

/// What a pod requests: containers, init containers, overhead, and 1 pod.
pub fn pod_requests(pod: &Pod) -> Resource {
    let mut r = pod
        .spec
        .as_ref()
        .map(|s| pod_requests_with(s, container_requests))
        .unwrap_or_default();
    r.pods = 1;
    r
}

/// The CPU and memory a pod counts for when scoring (missing requests count
/// as 100m CPU / 200Mi memory so that "best effort" pods still spread).
pub fn pod_non_zero_requests(pod: &Pod) -> (i64, i64) {
    let r = pod
        .spec
        .as_ref()
        .map(|s| pod_requests_with(s, container_non_zero))
        .unwrap_or_default();
    (r.milli_cpu, r.memory)
}

/// A quantity in thousandths (`250m` -> 250, `2` -> 2000), rounded up.
fn parse_milli(s: &str) -> Option<i64> {
    quantity::milli_value(s).ok()
}

/// A quantity in base units, rounded up (`1Ki` -> 1024, `1.5` -> 2).
fn parse_value(s: &str) -> Option<i64> {
    quantity::value(s).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn quantities() {
        assert_eq!(parse_milli("250m"), Some(250));
        assert_eq!(parse_milli("1"), Some(1000));
        assert_eq!(parse_milli("0.1"), Some(100));
        assert_eq!(parse_milli("1.5"), Some(1500));
        assert_eq!(parse_milli("4.03"), Some(4030));
        assert_eq!(parse_value("1Ki"), Some(1024));
        assert_eq!(parse_value("512Mi"), Some(512 * 1024 * 1024));
        assert_eq!(parse_value("1G"), Some(1_000_000_000));
        assert_eq!(parse_value("1e3"), Some(1000));
        assert_eq!(parse_value("110"), Some(110));
        assert_eq!(parse_value("bogus"), None);
        // CPU is kept in millicores, everything else in base units.
        let list: BTreeMap<String, Quantity> = [
            ("cpu", "4.03"),
            ("memory", "1.5Gi"),
            ("ephemeral-storage", "1E"),
            ("pods", "110"),
            ("nvidia.com/gpu", "2"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), Quantity(v.to_string())))
        .collect();
        let r = Resource::from_list(Some(&list));
        assert_eq!(r.milli_cpu, 4030);
        assert_eq!(r.memory, 1536 * 1024 * 1024);
        assert_eq!(r.ephemeral_storage, 1_000_000_000_000_000_000);
        assert_eq!(r.pods, 110);
        assert_eq!(r.scalar["nvidia.com/gpu"], 2);
    }

    fn pod(spec: serde_json::Value) -> Pod {
        serde_json::from_value(json!({"metadata": {"name": "p"}, "spec": spec})).unwrap()
    }

    #[test]
    fn pod_requests_take_init_containers_and_overhead() {
        let p = pod(json!({
            "containers": [
                {"name": "a", "resources": {"requests": {"cpu": "100m", "memory": "100Mi"}}},
                {"name": "b", "resources": {"limits": {"cpu": "200m"}}}
            ],
            "initContainers": [
                {"name": "i", "resources": {"requests": {"cpu": "1", "memory": "10Mi"}}}
            ],
            "overhead": {"cpu": "10m"}
        }));
        let r = pod_requests(&p);
        assert_eq!(r.milli_cpu, 1010);
        assert_eq!(r.memory, 100 * 1024 * 1024);
        assert_eq!(r.pods, 1);
    }

    #[test]
    fn sidecars_add_to_the_sum() {
        let p = pod(json!({
            "containers": [{"name": "a", "resources": {"requests": {"cpu": "100m"}}}],
            "initContainers": [
                {"name": "s", "restartPolicy": "Always", "resources": {"requests": {"cpu": "50m"}}},
                {"name": "i", "resources": {"requests": {"cpu": "120m"}}}
            ]
        }));
        assert_eq!(pod_requests(&p).milli_cpu, 170);
    }

    #[test]
    fn non_zero_defaults() {
        let p = pod(json!({"containers": [{"name": "a"}]}));
        assert_eq!(
            pod_non_zero_requests(&p),
            (DEFAULT_MILLI_CPU_REQUEST, DEFAULT_MEMORY_REQUEST)
        );
        assert_eq!(pod_requests(&p).milli_cpu, 0);
    }
}
