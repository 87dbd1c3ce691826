//! The Endpoints controller: for each Service with a selector, the
//! `Endpoints` object of the same name lists the IPs and ports of the pods
//! behind it, ready ones in `addresses`, others in `notReadyAddresses`.
//!
//! reconcile(ns/name): select the Service's pods, resolve each Service port's
//! `targetPort` against the pod's containers (a named port may be a
//! different number in each pod), group addresses with equal port sets into
//! subsets, and write the object if it differs. A Service without a
//! selector is left alone: its Endpoints are the user's. The helpers here
//! ([`service_pods`], [`resolve_port`]) are shared with the EndpointSlice
//! controller.

use std::collections::BTreeMap;
use std::sync::Arc;

use apimachinery::labels::Selector;
use k8s_openapi::api::core::v1::{
    EndpointAddress, EndpointPort, EndpointSubset, Endpoints, ObjectReference, Pod, Service,
    ServicePort,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::api::{Api, DeleteParams, PostParams};

use super::{Context, Started};
use crate::runtime::controller::{
    is_conflict, is_not_found, Action, Context as _, Reconciler, Result,
};
use crate::runtime::informer::{key_of, Store};
use crate::runtime::queue::Queue;
use crate::util;

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
        .map(|p| util::labels(&p.metadata))
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
        .filter(|p| sel.matches(&util::labels(&p.metadata)))
        .filter(|p| !util::pod_terminal(p))
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

/// Registers handlers and returns the workers.
pub fn start(ctx: &Context) -> Started {
    let services = ctx.factory.informer::<Service>();
    let pods = ctx.factory.informer::<Pod>();
    let endpoints = ctx.factory.informer::<Endpoints>();
    let queue = Queue::new("endpoint");
    let q = Arc::clone(&queue);
    services.add_handler(move |old, new| {
        if let Some(s) = new.or(old) {
            q.add(key_of(&**s));
        }
    });
    let (q, sstore) = (Arc::clone(&queue), services.store());
    pods.add_handler(move |old, new| {
        enqueue_services_of(&q, &sstore, old.map(|p| &**p), new.map(|p| &**p))
    });
    let ec = Arc::new(EndpointsController {
        client: ctx.client.clone(),
        services: services.store(),
        pods: pods.store(),
        endpoints: endpoints.store(),
    });
    ctx.workers(ec, queue)
}

/// The controller's state.
pub struct EndpointsController {
    client: kube::Client,
    services: Store<Service>,
    pods: Store<Pod>,
    endpoints: Store<Endpoints>,
}

impl Reconciler for EndpointsController {
    fn name(&self) -> &'static str {
        "endpoint"
    }

    async fn reconcile(&self, key: &str) -> Result<Action> {
        let (ns, name) = crate::runtime::informer::split_key(key);
        let ns = ns.unwrap_or_default();
        let api: Api<Endpoints> = Api::namespaced(self.client.clone(), ns);
        let Some(svc) = self.services.get(key) else {
            // The Service is gone: so are its endpoints.
            if self.endpoints.get(key).is_some() {
                match api.delete(name, &DeleteParams::default()).await {
                    Ok(_) => {}
                    Err(e) if is_not_found(&e) => {}
                    Err(e) => return Err(e).context(|| format!("deleting endpoints {key}")),
                }
            }
            return Ok(Action::Done);
        };
        let Some(sel) = selector_of(&svc) else {
            return Ok(Action::Done);
        };
        let spec = svc.spec.clone().unwrap_or_default();
        let publish_not_ready = spec.publish_not_ready_addresses == Some(true);
        // port set -> (ports, ready addresses, not-ready addresses)
        type Subset = (
            Vec<EndpointPort>,
            Vec<EndpointAddress>,
            Vec<EndpointAddress>,
        );
        let mut subsets: BTreeMap<String, Subset> = BTreeMap::new();
        for pod in service_pods(&self.pods, &svc, &sel) {
            if pod.metadata.deletion_timestamp.is_some() && !publish_not_ready {
                continue;
            }
            let Some(ip) = pod_ip(&pod) else { continue };
            let ports: Vec<EndpointPort> = spec
                .ports
                .iter()
                .flatten()
                .filter_map(|sp| {
                    resolve_port(&pod, sp).map(|port| EndpointPort {
                        name: sp.name.clone(),
                        port,
                        protocol: Some(sp.protocol.clone().unwrap_or_else(|| "TCP".into())),
                        app_protocol: sp.app_protocol.clone(),
                    })
                })
                .collect();
            let addr = EndpointAddress {
                ip,
                hostname: hostname_in(&pod, &svc),
                node_name: pod.spec.as_ref().and_then(|s| s.node_name.clone()),
                target_ref: Some(pod_ref(&pod)),
            };
            let key = serde_json::to_string(&ports).unwrap_or_default();
            let entry = subsets
                .entry(key)
                .or_insert_with(|| (ports, Vec::new(), Vec::new()));
            if publish_not_ready || util::pod_ready(&pod) {
                entry.1.push(addr);
            } else {
                entry.2.push(addr);
            }
        }
        let subsets: Vec<EndpointSubset> = subsets
            .into_values()
            .map(|(ports, ready, not_ready)| EndpointSubset {
                addresses: (!ready.is_empty()).then_some(ready),
                not_ready_addresses: (!not_ready.is_empty()).then_some(not_ready),
                ports: (!ports.is_empty()).then_some(ports),
            })
            .collect();
        let mut labels = svc.metadata.labels.clone().unwrap_or_default();
        if spec.cluster_ip.as_deref() == Some("None") {
            labels.insert("service.kubernetes.io/headless".into(), String::new());
        }
        let desired = Endpoints {
            metadata: ObjectMeta {
                name: Some(name.to_string()),
                namespace: Some(ns.to_string()),
                labels: (!labels.is_empty()).then_some(labels),
                ..Default::default()
            },
            subsets: (!subsets.is_empty()).then_some(subsets),
        };
        let current = self.endpoints.get(key);
        if let Some(cur) = &current {
            if cur.subsets == desired.subsets && cur.metadata.labels == desired.metadata.labels {
                return Ok(Action::Done);
            }
        }
        let result = match current {
            None => api.create(&PostParams::default(), &desired).await,
            Some(cur) => {
                let mut next = desired.clone();
                next.metadata.resource_version = cur.metadata.resource_version.clone();
                next.metadata.annotations = cur.metadata.annotations.clone();
                api.replace(name, &PostParams::default(), &next).await
            }
        };
        match result {
            Ok(_) => Ok(Action::Done),
            // Our cache is behind: the next event brings us back.
            Err(e) if is_conflict(&e) => {
                Ok(Action::RequeueAfter(std::time::Duration::from_millis(100)))
            }
            Err(e) => Err(e).context(|| format!("writing endpoints {key}")),
        }
    }
}
