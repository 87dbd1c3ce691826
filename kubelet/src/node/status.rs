//! The Node's status as this kubelet reports it: capacity and allocatable,
//! conditions (Ready, MemoryPressure, DiskPressure, PIDPressure), addresses,
//! nodeInfo, the kubelet endpoint, and the images present.
//!
//! Pressure conditions are the eviction manager's ([`crate::eviction`]):
//! True while a threshold is met and for `evictionPressureTransitionPeriod`
//! after. Allocatable holds back the `evictionHard` thresholds. A condition
//! keeps its lastTransitionTime while its status does not change.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{
    ContainerImage, DaemonEndpoint, NodeAddress, NodeCondition, NodeDaemonEndpoints, NodeStatus,
    NodeSystemInfo,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::machine;
use crate::config::Config;
use crate::eviction::thresholds::{hard_reserve, Signal};
use container_runtime::Runtime;

/// The version reported as `kubeletVersion` (the API level we follow).
pub const KUBELET_VERSION: &str = "v1.33.0-minik8s";

fn condition(
    old: Option<&NodeStatus>,
    type_: &str,
    pressure: bool,
    reasons: (&str, &str),
    messages: (&str, &str),
    now: &Time,
) -> NodeCondition {
    let status = if pressure { "True" } else { "False" };
    let (reason, message) = if pressure {
        (reasons.1, messages.1)
    } else {
        (reasons.0, messages.0)
    };
    let prev = old
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == type_));
    NodeCondition {
        type_: type_.into(),
        status: status.into(),
        reason: Some(reason.into()),
        message: Some(message.into()),
        last_heartbeat_time: Some(now.clone()),
        last_transition_time: Some(match prev {
            Some(p) if p.status == status => p
                .last_transition_time
                .clone()
                .unwrap_or_else(|| now.clone()),
            _ => now.clone(),
        }),
    }
}

/// Computes the status to report; `pressure` holds the pressure
/// conditions that are True.
pub fn compute(
    cfg: &Config,
    runtime: &Runtime,
    old: Option<&NodeStatus>,
    apiserver_route: Option<std::net::IpAddr>,
    pressure: &BTreeSet<&'static str>,
) -> NodeStatus {
    let now = Time(k8s_openapi::jiff::Timestamp::now());
    let mem_total = machine::memory_total();
    let (disk_total, _) = machine::disk(&cfg.root_dir);
    let mut capacity = BTreeMap::new();
    capacity.insert("cpu".to_string(), Quantity(machine::cpus().to_string()));
    capacity.insert(
        "memory".to_string(),
        Quantity(format!("{}Ki", mem_total / 1024)),
    );
    capacity.insert(
        "ephemeral-storage".to_string(),
        Quantity(format!("{}Ki", disk_total / 1024)),
    );
    capacity.insert("pods".to_string(), Quantity(cfg.file.max_pods.to_string()));
    // Allocatable holds back the hard eviction thresholds, as upstream.
    let mem_reserved = hard_reserve(&cfg.file, Signal::MemoryAvailable, mem_total);
    let disk_reserved = hard_reserve(&cfg.file, Signal::NodeFsAvailable, disk_total);
    let mut allocatable = capacity.clone();
    allocatable.insert(
        "memory".to_string(),
        Quantity(format!(
            "{}Ki",
            mem_total.saturating_sub(mem_reserved) / 1024
        )),
    );
    allocatable.insert(
        "ephemeral-storage".to_string(),
        Quantity(format!(
            "{}Ki",
            disk_total.saturating_sub(disk_reserved) / 1024
        )),
    );
    let mem_pressure = pressure.contains("MemoryPressure");
    let disk_pressure = pressure.contains("DiskPressure");
    let pid_pressure = pressure.contains("PIDPressure");
    let conditions = vec![
        condition(
            old,
            "MemoryPressure",
            mem_pressure,
            ("KubeletHasSufficientMemory", "KubeletHasInsufficientMemory"),
            (
                "kubelet has sufficient memory available",
                "kubelet has insufficient memory available",
            ),
            &now,
        ),
        condition(
            old,
            "DiskPressure",
            disk_pressure,
            ("KubeletHasNoDiskPressure", "KubeletHasDiskPressure"),
            ("kubelet has no disk pressure", "kubelet has disk pressure"),
            &now,
        ),
        condition(
            old,
            "PIDPressure",
            pid_pressure,
            ("KubeletHasSufficientPID", "KubeletHasInsufficientPID"),
            (
                "kubelet has sufficient PID available",
                "kubelet has insufficient PID available",
            ),
            &now,
        ),
        // Ready while we can post at all (the runtime opened): a silent
        // kubelet is marked Unknown by the node lifecycle controller.
        condition(
            old,
            "Ready",
            true,
            ("KubeletNotReady", "KubeletReady"),
            (
                "container runtime is down",
                "kubelet is posting ready status",
            ),
            &now,
        ),
    ];
    let ip = cfg.node_ip.or(apiserver_route);
    let mut addresses = Vec::new();
    if let Some(ip) = ip {
        addresses.push(NodeAddress {
            type_: "InternalIP".into(),
            address: ip.to_string(),
        });
    }
    addresses.push(NodeAddress {
        type_: "Hostname".into(),
        address: cfg.node_name.clone(),
    });
    let images = runtime
        .images()
        .list()
        .unwrap_or_default()
        .into_iter()
        .map(|img| ContainerImage {
            names: Some(
                img.repo_tags
                    .iter()
                    .chain(img.repo_digests.iter())
                    .cloned()
                    .collect(),
            ),
            size_bytes: Some(img.size as i64),
        })
        .collect::<Vec<_>>();
    NodeStatus {
        capacity: Some(capacity),
        allocatable: Some(allocatable),
        conditions: Some(conditions),
        addresses: Some(addresses),
        daemon_endpoints: Some(NodeDaemonEndpoints {
            kubelet_endpoint: Some(DaemonEndpoint {
                port: i32::from(cfg.port),
            }),
        }),
        node_info: Some(NodeSystemInfo {
            architecture: machine::arch().into(),
            boot_id: machine::boot_id(),
            container_runtime_version: format!("minik8s://{}", env!("CARGO_PKG_VERSION")),
            kernel_version: machine::kernel_version(),
            kube_proxy_version: String::new(),
            kubelet_version: KUBELET_VERSION.into(),
            machine_id: machine::machine_id(),
            operating_system: "linux".into(),
            os_image: machine::os_image(),
            system_uuid: machine::machine_id(),
            ..Default::default()
        }),
        images: (!images.is_empty()).then_some(images),
        ..Default::default()
    }
}

/// Whether two statuses differ only in heartbeat times.
pub fn same_ignoring_heartbeats(a: &NodeStatus, b: &NodeStatus) -> bool {
    let strip = |s: &NodeStatus| {
        let mut s = s.clone();
        for c in s.conditions.iter_mut().flatten() {
            c.last_heartbeat_time = None;
        }
        s
    };
    strip(a) == strip(b)
}
