//! The Endpoints controller: for each Service with a selector, the
//! `Endpoints` object of the same name lists the IPs and ports of the pods
//! behind it, ready ones in `addresses`, others in `notReadyAddresses`.
//!
//! reconcile(ns/name): select the Service's pods, resolve each Service port's
//! `targetPort` against the pod's containers (a named port may be a
//! different number in each pod), group addresses with equal port sets into
//! subsets, and write the object if it differs. A Service without a
//! selector is left alone: its Endpoints are the user's. Selecting the
//! pods and resolving their ports is shared with the EndpointSlice
//! controller in [`crate::machinery::service_endpoints`].

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{
    EndpointAddress, EndpointPort, EndpointSubset, Endpoints, Pod, Service,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, DeleteParams, PostParams};

use super::{Context, Started};
use crate::machinery::controller::{
    is_conflict, is_not_found, Action, Context as _, Reconciler, Result,
};
use crate::machinery::informer::{key_of, Store};
use crate::machinery::pods;
use crate::machinery::queue::Queue;
use crate::machinery::service_endpoints::{
    enqueue_services_of, hostname_in, pod_ip, pod_ref, resolve_port, selector_of, service_pods,
};

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
        let (ns, name) = crate::machinery::informer::split_key(key);
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
            if publish_not_ready || pods::pod_ready(&pod) {
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
