//! Which pods back a Service and how they are addressed: what the
//! Endpoints and EndpointSlice controllers both need (upstream
//! `pkg/controller/util/endpoint`): the Service's selector, its serving
//! pods, a pod's IP, the port a Service port reaches on a pod (named
//! `targetPort`s resolve per pod), the pod reference and DNS hostname an
//! endpoint carries; and the labels by which the EndpointSlice and
//! EndpointSlice mirroring controllers find the slices each manages.

use std::sync::Arc;

use apimachinery::labels::Selector;
use k8s_openapi::api::core::v1::{ObjectReference, Pod, Service, ServicePort};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::informer::{key_of, Store};
use super::queue::Queue;
use super::{meta, pods};

/// Label naming the Service of an EndpointSlice.
pub const SERVICE_NAME: &str = "kubernetes.io/service-name";
/// Label naming the controller that manages an EndpointSlice.
pub const MANAGED_BY: &str = "endpointslice.kubernetes.io/managed-by";

/// The `namespace/name` key of the Service a slice belongs to, when
/// `manager` manages the slice: a slice changed or deleted by someone else
/// sends its Service back to the queue of its manager.
pub fn service_key_of_slice(slice: &EndpointSlice, manager: &str) -> Option<String> {
    let labels = meta::labels(&slice.metadata);
    if labels.get(MANAGED_BY).map(String::as_str) != Some(manager) {
        return None;
    }
    let ns = slice.metadata.namespace.as_deref()?;
    labels.get(SERVICE_NAME).map(|svc| format!("{ns}/{svc}"))
}

/// The slices `manager` keeps for the Service `name` in `ns`, by name.
pub fn managed_slices(
    slices: &Store<EndpointSlice>,
    ns: &str,
    name: &str,
    manager: &str,
) -> Vec<Arc<EndpointSlice>> {
    let mut found = slices.filter(|s| {
        let l = meta::labels(&s.metadata);
        s.metadata.namespace.as_deref() == Some(ns)
            && l.get(SERVICE_NAME).map(String::as_str) == Some(name)
            && l.get(MANAGED_BY).map(String::as_str) == Some(manager)
    });
    found.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    found
}

/// Enqueues the Services of a pod's namespace that select it (before or
/// after the change).
pub fn enqueue_services_of(
    q: &Queue,
    services: &Store<Service>,
    old: Option<&Pod>,
    new: Option<&Pod>,
) {
    let Some(ns) = new.or(old).and_then(|p| p.metadata.namespace.clone()) else {
        return;
    };
    let labels: Vec<_> = [old, new]
        .into_iter()
        .flatten()
        .map(|p| meta::labels(&p.metadata))
        .collect();
    for svc in services.list_namespace(&ns) {
        let Some(sel) = selector_of(&svc) else {
            continue;
        };
        if labels.iter().any(|l| sel.matches(l)) {
            q.add(key_of(&*svc));
        }
    }
}

/// The Service's pod selector; `None` when it has none (manual endpoints).
pub fn selector_of(svc: &Service) -> Option<Selector> {
    let sel = svc.spec.as_ref()?.selector.as_ref()?;
    (!sel.is_empty()).then(|| Selector::from_set(sel))
}

/// The pods a Service selects that can serve: with an IP, not finished.
pub fn service_pods(pods: &Store<Pod>, svc: &Service, sel: &Selector) -> Vec<Arc<Pod>> {
    let ns = svc.metadata.namespace.as_deref().unwrap_or("");
    let mut v: Vec<Arc<Pod>> = pods
        .list_namespace(ns)
        .into_iter()
        .filter(|p| sel.matches(&meta::labels(&p.metadata)))
        .filter(|p| !pods::pod_terminal(p))
        .filter(|p| pod_ip(p).is_some())
        .collect();
    v.sort_by_key(|p| pod_ip(p));
    v
}

/// The pod's IP, if it has one.
pub fn pod_ip(p: &Pod) -> Option<String> {
    p.status
        .as_ref()?
        .pod_ip
        .clone()
        .filter(|ip| !ip.is_empty())
}

/// The port number a Service port reaches on `pod`: `targetPort` as a
/// number, or the named container port, or `port` when unset.
pub fn resolve_port(pod: &Pod, sp: &ServicePort) -> Option<i32> {
    match &sp.target_port {
        None => Some(sp.port),
        Some(IntOrString::Int(n)) => Some(*n),
        Some(IntOrString::String(name)) => {
            if let Ok(n) = name.parse::<i32>() {
                return Some(n);
            }
            let proto = sp.protocol.as_deref().unwrap_or("TCP");
            pod.spec
                .as_ref()?
                .containers
                .iter()
                .flat_map(|c| c.ports.iter().flatten())
                .find(|p| {
                    p.name.as_deref() == Some(name.as_str())
                        && p.protocol.as_deref().unwrap_or("TCP") == proto
                })
                .map(|p| p.container_port)
        }
    }
}

/// A reference to the pod, as endpoints carry it.
pub fn pod_ref(pod: &Pod) -> ObjectReference {
    ObjectReference {
        kind: Some("Pod".into()),
        namespace: pod.metadata.namespace.clone(),
        name: pod.metadata.name.clone(),
        uid: pod.metadata.uid.clone(),
        ..Default::default()
    }
}

/// The pod's DNS hostname in the Service when its subdomain is the
/// Service's name (StatefulSet pods behind a headless Service).
pub fn hostname_in(pod: &Pod, svc: &Service) -> Option<String> {
    let spec = pod.spec.as_ref()?;
    (spec.subdomain.is_some() && spec.subdomain == svc.metadata.name)
        .then(|| spec.hostname.clone())
        .flatten()
}
