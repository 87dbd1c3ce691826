//! In-place pod resize (KEP-1287), the kubelet's half: a running pod's
//! containers take new cpu and memory without being recreated.
//!
//! A user changes a container's `resources` through the apiserver's
//! `pods/resize`; the pod's generation goes up and its worker syncs. Three
//! values of each container's resources then matter, as upstream's
//! allocation manager and `computePodResizeAction` keep them:
//!
//! - **desired**: what the spec says now;
//! - **allocated**: what the kubelet agreed the pod may use on this node,
//!   recorded in `<root-dir>/pods/<uid>/allocated_resources.json` so that a
//!   restarted kubelet keeps the same numbers. A pod is allocated its
//!   spec when it first runs here; a changed spec is allocated when it
//!   fits the node ([`Tracker::sync`]): the pod's requests must not exceed
//!   the node's allocatable (else `PodResizePending`, reason `Infeasible`),
//!   nor, with the other pods' allocated requests, what is left of it
//!   (reason `Deferred`, retried on every sync until other pods leave);
//! - **actual**: what the runtime applied to the container's cgroup (the
//!   runtime records it with the container). When it differs from the
//!   allocation the container is updated in place through the runtime's
//!   `update_container_resources`, or stopped, to be started again with
//!   the allocation, when its `resizePolicy` says `RestartContainer` for a
//!   resource that changed. A failed update leaves `PodResizeInProgress`
//!   with reason `Error`.
//!
//! Containers are always started with the allocation (not the spec), and
//! the status shows both: `allocatedResources` (the allocated requests) and
//! `resources` (the requests and limits in effect), next to the resize
//! conditions ([`Tracker::decorate`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use k8s_openapi::api::core::v1::{
    Container, Node, Pod, PodCondition, PodSpec, PodStatus, ResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::Api;
use serde::{Deserialize, Serialize};

use super::container_config::{self, LABEL_UID};
use super::{blocking, Context};
use apimachinery::quantity;
use container_runtime::cri::{self, ContainerFilter, ContainerInfo, Status};

/// The condition of a resize the kubelet has not allocated yet.
pub const PENDING: &str = "PodResizePending";
/// The condition of an allocated resize not yet applied to the containers.
pub const IN_PROGRESS: &str = "PodResizeInProgress";
/// The file of a pod's allocation below its directory.
const FILE: &str = "allocated_resources.json";

/// Failures of the allocation record.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading the record failed.
    #[error("{path}: {source}")]
    Io {
        /// The record.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Writing the record failed.
    #[error("recording the allocation: {0}")]
    Write(#[source] crate::network::Error),
    /// The record does not decode.
    #[error("{path}: {source}")]
    Decode {
        /// The record.
        path: PathBuf,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
}

/// The resources allocated to one pod's containers, by container name.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Allocation {
    /// Requests and limits per container.
    pub containers: BTreeMap<String, ResourceRequirements>,
}

/// Where a pod's allocation is recorded.
pub fn record_path(root: &Path, uid: &str) -> PathBuf {
    crate::volumes::pod_dir(root, uid).join(FILE)
}

/// Reads a pod's recorded allocation, if any.
pub fn load(root: &Path, uid: &str) -> Result<Option<Allocation>, Error> {
    let path = record_path(root, uid);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(Error::Io { path, source }),
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|source| Error::Decode { path, source })
}

/// Records a pod's allocation (written aside, then renamed over, so a crash
/// leaves the old record or the new one).
pub fn save(root: &Path, uid: &str, alloc: &Allocation) -> Result<(), Error> {
    let path = record_path(root, uid);
    let bytes = serde_json::to_vec_pretty(alloc).map_err(|source| Error::Decode {
        path: path.clone(),
        source,
    })?;
    crate::network::state::write_atomic(&path, &bytes).map_err(Error::Write)
}

/// Whether a container's resources may change in place: app containers
/// and sidecars (init containers with `restartPolicy: Always`).
fn resizable(spec: &PodSpec) -> impl Iterator<Item = &Container> {
    spec.containers.iter().chain(
        spec.init_containers
            .iter()
            .flatten()
            .filter(|c| super::worker::is_sidecar(c)),
    )
}

/// The desired allocation: the spec's resources of every container.
pub fn desired(spec: &PodSpec) -> Allocation {
    Allocation {
        containers: spec
            .containers
            .iter()
            .chain(spec.init_containers.iter().flatten())
            .map(|c| (c.name.clone(), c.resources.clone().unwrap_or_default()))
            .collect(),
    }
}

/// `spec` with the allocated resources of its resizable containers.
pub fn with_allocation(spec: &PodSpec, alloc: &Allocation) -> PodSpec {
    let mut spec = spec.clone();
    let names: Vec<String> = resizable(&spec).map(|c| c.name.clone()).collect();
    for c in spec
        .containers
        .iter_mut()
        .chain(spec.init_containers.iter_mut().flatten())
    {
        if let Some(r) = alloc
            .containers
            .get(&c.name)
            .filter(|_| names.contains(&c.name))
        {
            c.resources = Some(r.clone());
        }
    }
    spec
}

fn milli(list: Option<&BTreeMap<String, Quantity>>, name: &str) -> i64 {
    list.and_then(|l| l.get(name))
        .and_then(|q| quantity::milli_value(&q.0).ok())
        .unwrap_or(0)
}

fn bytes(list: Option<&BTreeMap<String, Quantity>>, name: &str) -> i64 {
    list.and_then(|l| l.get(name))
        .and_then(|q| quantity::value(&q.0).ok())
        .unwrap_or(0)
}

/// A pod's cpu (millicores) and memory (bytes) requests as the scheduler
/// counts them: the app containers and sidecars together, or the largest
/// init container when that is more.
pub fn pod_requests(spec: &PodSpec) -> (i64, i64) {
    let req = |c: &Container| {
        let r = c.resources.as_ref().and_then(|r| r.requests.as_ref());
        (milli(r, "cpu"), bytes(r, "memory"))
    };
    let (mut cpu, mut mem) = resizable(spec)
        .map(req)
        .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
    for c in spec.init_containers.iter().flatten() {
        if !super::worker::is_sidecar(c) {
            let (c_cpu, c_mem) = req(c);
            cpu = cpu.max(c_cpu);
            mem = mem.max(c_mem);
        }
    }
    (cpu, mem)
}

/// Why a resize does not fit the node: `(reason, message)` of the
/// `PodResizePending` condition, in upstream's words. `allocatable` and
/// `used` (the other pods' allocated requests) are (millicores, bytes).
pub fn fits(
    wanted: (i64, i64),
    allocatable: (i64, i64),
    used: (i64, i64),
) -> Option<(&'static str, String)> {
    let resources = [
        ("cpu", wanted.0, allocatable.0, used.0),
        ("memory", wanted.1, allocatable.1, used.1),
    ];
    for (name, want, cap, _) in resources {
        if want > cap {
            return Some((
                "Infeasible",
                format!(
                    "Node didn't have enough capacity: {name}, requested: {want}, capacity: {cap}"
                ),
            ));
        }
    }
    for (name, want, cap, used) in resources {
        if want + used > cap {
            return Some((
                "Deferred",
                format!(
                    "Node didn't have enough resource: {name}, requested: {want}, used: {used}, capacity: {cap}"
                ),
            ));
        }
    }
    None
}

/// The runtime's numbers for a container with the given resources.
fn runtime_resources(c: &Container, r: &ResourceRequirements) -> cri::ResourceRequirements {
    let mut c = c.clone();
    c.resources = Some(r.clone());
    container_config::resources(&c)
}

fn same_cpu(a: &cri::ResourceRequirements, b: &cri::ResourceRequirements) -> bool {
    a.cpu_request_milli == b.cpu_request_milli && a.cpu_limit_milli == b.cpu_limit_milli
}

fn same_memory(a: &cri::ResourceRequirements, b: &cri::ResourceRequirements) -> bool {
    a.memory_request_bytes == b.memory_request_bytes && a.memory_limit_bytes == b.memory_limit_bytes
}

/// Whether the container's `resizePolicy` restarts it for `resource`.
fn restarts_for(c: &Container, resource: &str) -> bool {
    c.resize_policy
        .iter()
        .flatten()
        .any(|p| p.resource_name == resource && p.restart_policy == "RestartContainer")
}

/// The current attempt of every container of the pod, by name.
fn current(all: &[ContainerInfo]) -> BTreeMap<&str, &ContainerInfo> {
    let mut out: BTreeMap<&str, &ContainerInfo> = BTreeMap::new();
    for c in all {
        let name = c.spec.config.name.as_str();
        if out
            .get(name)
            .is_none_or(|x| x.spec.config.attempt < c.spec.config.attempt)
        {
            out.insert(name, c);
        }
    }
    out
}

/// A worker's resize state between syncs.
#[derive(Debug, Default)]
pub struct Tracker {
    /// The allocation, once read or made.
    allocation: Option<Allocation>,
    /// `(reason, message)` of a resize that does not fit (yet).
    pending: Option<(String, String)>,
    /// `(reason, message)` of a resize being applied, or that failed.
    in_progress: Option<(String, String)>,
    /// The generation the conditions were set for.
    generation: Option<i64>,
}

impl Tracker {
    /// The allocated resources of container `name`.
    pub fn allocated(&self, name: &str) -> Option<&ResourceRequirements> {
        self.allocation.as_ref()?.containers.get(name)
    }

    /// One sync's resize step: allocates the desired resources when they
    /// fit, applies the allocation to the running containers (in place,
    /// or by stopping those whose policy restarts them), and returns the
    /// spec to run the containers with: the pod's, with the allocation.
    pub async fn sync(&mut self, ctx: &Context, pod: &Pod, uid: &str) -> PodSpec {
        let spec = pod.spec.clone().unwrap_or_default();
        let root = ctx.config.root_dir.clone();
        let want = desired(&spec);
        if self.allocation.is_none() {
            let (r, u) = (root.clone(), uid.to_string());
            let found = match blocking(move || load(&r, &u)).await {
                Ok(found) => found,
                Err(e) => {
                    tracing::warn!(error = %e, "reading the pod's allocation failed; allocating its spec");
                    None
                }
            };
            let alloc = match found {
                Some(a) => a,
                None => {
                    // Admitted with its spec: that is its first allocation.
                    self.record(&root, uid, want.clone()).await;
                    want.clone()
                }
            };
            self.allocation = Some(alloc);
        }
        let allocated = self.allocation.clone().unwrap_or_default();
        self.generation = pod.metadata.generation;
        if resize_requested(&spec, &want, &allocated) {
            match self.check_fit(ctx, uid, &spec).await {
                Some((reason, message)) => {
                    if self.pending.as_ref().map(|p| &p.0) != Some(&reason.to_string()) {
                        let event = if reason == "Infeasible" {
                            "ResizeInfeasible"
                        } else {
                            "ResizeDeferred"
                        };
                        ctx.event(
                            pod,
                            "Warning",
                            event,
                            format!("Pod resize {reason}: {message}"),
                        );
                    }
                    self.pending = Some((reason.to_string(), message));
                }
                None => {
                    self.pending = None;
                    let mut alloc = allocated.clone();
                    for c in resizable(&spec) {
                        alloc
                            .containers
                            .insert(c.name.clone(), c.resources.clone().unwrap_or_default());
                    }
                    ctx.event(pod, "Normal", "ResizeStarted", "Pod resize started".into());
                    self.record(&root, uid, alloc.clone()).await;
                    self.allocation = Some(alloc);
                }
            }
        } else {
            self.pending = None;
        }
        let allocated = self.allocation.clone().unwrap_or_default();
        let run_spec = with_allocation(&spec, &allocated);
        self.actuate(ctx, pod, uid, &run_spec).await;
        run_spec
    }

    async fn record(&self, root: &Path, uid: &str, alloc: Allocation) {
        let (r, u) = (root.to_path_buf(), uid.to_string());
        if let Err(e) = blocking(move || save(&r, &u, &alloc)).await {
            tracing::warn!(error = %e, "recording the pod's allocation failed");
        }
    }

    /// Whether the pod's desired requests fit the node beside the other
    /// pods' allocated ones; `Some((reason, message))` when not.
    async fn check_fit(
        &self,
        ctx: &Context,
        uid: &str,
        spec: &PodSpec,
    ) -> Option<(&'static str, String)> {
        let nodes: Api<Node> = Api::all(ctx.client.clone());
        let node = match nodes.get(&ctx.config.node_name).await {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, "reading the node for a resize failed; deferring");
                return Some(("Deferred", format!("reading the node failed: {e}")));
            }
        };
        let alloc = node.status.as_ref().and_then(|s| s.allocatable.as_ref());
        let allocatable = (milli(alloc, "cpu"), bytes(alloc, "memory"));
        let root = ctx.config.root_dir.clone();
        let mut used = (0, 0);
        for other in ctx.known_pods() {
            let other_uid = other.metadata.uid.clone().unwrap_or_default();
            let phase = other.status.as_ref().and_then(|s| s.phase.as_deref());
            if other_uid == uid || matches!(phase, Some("Succeeded" | "Failed")) {
                continue;
            }
            let other_spec = other.spec.clone().unwrap_or_default();
            let (r, u) = (root.clone(), other_uid.clone());
            let other_alloc = blocking(move || load(&r, &u)).await.ok().flatten();
            let counted = match other_alloc {
                Some(a) => with_allocation(&other_spec, &a),
                None => other_spec,
            };
            let (c, m) = pod_requests(&counted);
            used = (used.0 + c, used.1 + m);
        }
        fits(pod_requests(spec), allocatable, used)
    }

    /// Brings the running containers to the allocation.
    async fn actuate(&mut self, ctx: &Context, pod: &Pod, uid: &str, run_spec: &PodSpec) {
        let all = {
            let rt = ctx.runtime.clone();
            let uid = uid.to_string();
            blocking(move || {
                rt.list_containers_filtered(&ContainerFilter::label(LABEL_UID, &uid))
                    .unwrap_or_default()
            })
            .await
        };
        let cur = current(&all);
        let mut error = None;
        let mut restarted = false;
        for c in resizable(run_spec) {
            let Some(info) = cur
                .get(c.name.as_str())
                .filter(|i| i.state.status == Status::Running)
            else {
                continue;
            };
            let target = runtime_resources(c, &c.resources.clone().unwrap_or_default());
            let mut actual = info.spec.config.resources.clone();
            actual.pids_limit = target.pids_limit;
            if actual == target {
                continue;
            }
            let restart = (!same_cpu(&actual, &target) && restarts_for(c, "cpu"))
                || (!same_memory(&actual, &target) && restarts_for(c, "memory"));
            let rt = ctx.runtime.clone();
            let id = info.spec.id.clone();
            if restart {
                tracing::info!(container = %c.name, "restarting the container for its resize");
                ctx.event(
                    pod,
                    "Normal",
                    "Killing",
                    format!("Container {} resize requires restart", c.name),
                );
                if let Err(e) = blocking(move || rt.stop_container(&id, Duration::ZERO)).await {
                    error = Some(e.to_string());
                }
                restarted = true;
                continue;
            }
            let t = target.clone();
            match blocking(move || rt.update_container_resources(&id, &t)).await {
                Ok(()) => tracing::info!(container = %c.name, ?target, "resized in place"),
                Err(e) => {
                    tracing::warn!(container = %c.name, error = %e, "resize failed");
                    error = Some(format!("container {}: {e}", c.name));
                }
            }
        }
        self.in_progress = match error {
            Some(e) => {
                ctx.event(
                    pod,
                    "Warning",
                    "ResizeError",
                    format!("Pod resize error: {e}"),
                );
                Some(("Error".into(), e))
            }
            // A restarted container starts again later in this sync; the
            // next sync sees it with the allocation.
            None if restarted => Some((String::new(), String::new())),
            None => None,
        };
    }

    /// Adds what resize shows to a computed status: each container's
    /// `allocatedResources` and `resources`, and the resize conditions
    /// (replacing those of an earlier status).
    pub fn decorate(&self, status: &mut PodStatus, spec: &PodSpec, all: &[ContainerInfo]) {
        let cur = current(all);
        let specs: BTreeMap<&str, &Container> = spec
            .containers
            .iter()
            .chain(spec.init_containers.iter().flatten())
            .map(|c| (c.name.as_str(), c))
            .collect();
        for s in status
            .container_statuses
            .iter_mut()
            .flatten()
            .chain(status.init_container_statuses.iter_mut().flatten())
        {
            let Some(alloc) = self.allocated(&s.name) else {
                continue;
            };
            s.allocated_resources = alloc.requests.clone().filter(|r| !r.is_empty());
            if let (Some(info), Some(c)) = (cur.get(s.name.as_str()), specs.get(s.name.as_str())) {
                if matches!(info.state.status, Status::Running | Status::Created) {
                    s.resources = Some(in_effect(c, alloc, &info.spec.config.resources));
                }
            }
        }
        let mut conditions: Vec<PodCondition> = status
            .conditions
            .take()
            .unwrap_or_default()
            .into_iter()
            .filter(|c| c.type_ != PENDING && c.type_ != IN_PROGRESS)
            .collect();
        let now = Some(Time(k8s_openapi::jiff::Timestamp::now()));
        for (type_, value) in [(PENDING, &self.pending), (IN_PROGRESS, &self.in_progress)] {
            if let Some((reason, message)) = value {
                conditions.push(PodCondition {
                    type_: type_.into(),
                    status: "True".into(),
                    reason: (!reason.is_empty()).then(|| reason.clone()),
                    message: (!message.is_empty()).then(|| message.clone()),
                    last_probe_time: now.clone(),
                    last_transition_time: now.clone(),
                    observed_generation: self.generation,
                });
            }
        }
        status.conditions = Some(conditions);
    }
}

/// Whether the spec asks for other resources than allocated (of the
/// containers that may change in place).
fn resize_requested(spec: &PodSpec, want: &Allocation, allocated: &Allocation) -> bool {
    resizable(spec).any(|c| want.containers.get(&c.name) != allocated.containers.get(&c.name))
}

/// The requests and limits in effect for a container: the runtime's
/// numbers, written as the allocation writes them when they are the same
/// amount (so `1m` stays `1m`), else in canonical form. A request the
/// allocation leaves out shows only when its limit stands in for it (as
/// the apiserver defaults it).
pub fn in_effect(
    c: &Container,
    alloc: &ResourceRequirements,
    actual: &cri::ResourceRequirements,
) -> ResourceRequirements {
    let applied = runtime_resources(c, alloc);
    let (req, lim) = (alloc.requests.as_ref(), alloc.limits.as_ref());
    let get =
        |l: Option<&BTreeMap<String, Quantity>>, name: &str| l.and_then(|l| l.get(name)).cloned();
    let show =
        |written: Option<Quantity>, value: Option<i64>, allocated: Option<i64>, cpu: bool| {
            let written = written?;
            let value = value?;
            Some(if Some(value) == allocated {
                written
            } else if cpu {
                Quantity(format!("{value}m"))
            } else {
                Quantity(value.to_string())
            })
        };
    let as_i64 = |v: Option<u64>| v.and_then(|v| i64::try_from(v).ok());
    let entries = [
        (
            "cpu",
            show(
                get(req, "cpu").or_else(|| get(lim, "cpu")),
                as_i64(actual.cpu_request_milli),
                as_i64(applied.cpu_request_milli),
                true,
            ),
            show(
                get(lim, "cpu"),
                as_i64(actual.cpu_limit_milli),
                as_i64(applied.cpu_limit_milli),
                true,
            ),
        ),
        (
            "memory",
            show(
                get(req, "memory").or_else(|| get(lim, "memory")),
                actual.memory_request_bytes,
                applied.memory_request_bytes,
                false,
            ),
            show(
                get(lim, "memory"),
                actual.memory_limit_bytes,
                applied.memory_limit_bytes,
                false,
            ),
        ),
    ];
    let mut requests = BTreeMap::new();
    let mut limits = BTreeMap::new();
    for (name, r, l) in entries {
        if let Some(r) = r {
            requests.insert(name.to_string(), r);
        }
        if let Some(l) = l {
            limits.insert(name.to_string(), l);
        }
    }
    ResourceRequirements {
        requests: (!requests.is_empty()).then_some(requests),
        limits: (!limits.is_empty()).then_some(limits),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn container(resources: serde_json::Value) -> Container {
        serde_json::from_value(json!({"name": "c", "resources": resources})).expect("container")
    }

    #[test]
    fn fit_tells_infeasible_from_deferred() {
        assert_eq!(fits((500, 100), (2000, 1000), (1000, 500)), None);
        let (reason, message) = fits((3000, 100), (2000, 1000), (0, 0)).expect("too big");
        assert_eq!(reason, "Infeasible");
        assert_eq!(
            message,
            "Node didn't have enough capacity: cpu, requested: 3000, capacity: 2000"
        );
        let (reason, message) = fits((500, 600), (2000, 1000), (100, 500)).expect("no room");
        assert_eq!(reason, "Deferred");
        assert_eq!(
            message,
            "Node didn't have enough resource: memory, requested: 600, used: 500, capacity: 1000"
        );
    }

    #[test]
    fn requests_count_apps_and_sidecars_or_the_largest_init_container() {
        let spec: PodSpec = serde_json::from_value(json!({
            "initContainers": [
                {"name": "i", "resources": {"requests": {"cpu": "2", "memory": "1Mi"}}},
                {"name": "s", "restartPolicy": "Always", "resources": {"requests": {"cpu": "100m"}}}
            ],
            "containers": [{"name": "a", "resources": {"requests": {"cpu": "250m", "memory": "1Gi"}}}]
        }))
        .expect("spec");
        assert_eq!(pod_requests(&spec), (2000, 1 << 30));
        let mut alloc = desired(&spec);
        alloc.containers.insert(
            "a".into(),
            serde_json::from_value(json!({"requests": {"cpu": "3", "memory": "1Gi"}})).expect("r"),
        );
        assert_eq!(
            pod_requests(&with_allocation(&spec, &alloc)),
            (3100, 1 << 30)
        );
        assert!(resize_requested(&spec, &desired(&spec), &alloc));
        assert!(!resize_requested(&spec, &alloc, &alloc));
    }

    #[test]
    fn resources_in_effect_keep_the_allocations_spelling() {
        let c = container(json!({"requests": {"cpu": "1m"}, "limits": {"cpu": "5m"}}));
        let alloc = c.resources.clone().expect("resources");
        let actual = container_config::resources(&c);
        let shown = in_effect(&c, &alloc, &actual);
        assert_eq!(
            serde_json::to_value(&shown).expect("json"),
            json!({"requests": {"cpu": "1m"}, "limits": {"cpu": "5m"}})
        );
        // Not applied yet: the runtime's numbers.
        let old = container_config::resources(&container(
            json!({"requests": {"cpu": "2m"}, "limits": {"cpu": "10m"}}),
        ));
        assert_eq!(
            serde_json::to_value(in_effect(&c, &alloc, &old)).expect("json"),
            json!({"requests": {"cpu": "2m"}, "limits": {"cpu": "10m"}})
        );
        // Memory only: no cpu shows.
        let m = container(json!({"requests": {"memory": "100Mi"}}));
        let alloc = m.resources.clone().expect("resources");
        assert_eq!(
            serde_json::to_value(in_effect(&m, &alloc, &container_config::resources(&m)))
                .expect("json"),
            json!({"requests": {"memory": "100Mi"}})
        );
    }

    #[test]
    fn the_allocation_survives_on_disk() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(load(dir.path(), "u").expect("load"), None);
        let spec: PodSpec = serde_json::from_value(json!({
            "containers": [{"name": "a", "resources": {"requests": {"cpu": "250m"}}}]
        }))
        .expect("spec");
        save(dir.path(), "u", &desired(&spec)).expect("save");
        assert_eq!(load(dir.path(), "u").expect("load"), Some(desired(&spec)));
        assert!(record_path(dir.path(), "u").ends_with("pods/u/allocated_resources.json"));
    }

    #[test]
    fn restart_policy_per_resource() {
        let c: Container = serde_json::from_value(json!({"name": "c", "resizePolicy": [
            {"resourceName": "memory", "restartPolicy": "RestartContainer"},
            {"resourceName": "cpu", "restartPolicy": "NotRequired"}]}))
        .expect("c");
        assert!(restarts_for(&c, "memory"));
        assert!(!restarts_for(&c, "cpu"));
    }
}
