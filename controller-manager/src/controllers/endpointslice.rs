//! The EndpointSlice controller: the same facts as Endpoints, in the shape
//! kube-proxy and DNS read today: `discovery.k8s.io/v1` EndpointSlices owned
//! by the Service, labelled `kubernetes.io/service-name`, at most
//! [`MAX_ENDPOINTS`] endpoints each, one slice per distinct port set.
//!
//! Unlike Endpoints, terminating pods stay listed with `terminating: true`
//! (and `ready: false`), so proxies can drain connections.
//!
//! reconcile(ns/name): compute the desired slices, pair them with the
//! existing managed slices (update in place), create what is missing and
//! delete what is left over.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions, EndpointPort, EndpointSlice};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, DeleteParams, PostParams};

use super::{Context, Started};
use crate::machinery::controller::{
    is_conflict, is_not_found, Action, Context as _, Reconciler, Result,
};
use crate::machinery::informer::{key_of, split_key, Store};
use crate::machinery::queue::Queue;
use crate::machinery::service_endpoints::{
    enqueue_services_of, hostname_in, managed_slices, pod_ip, pod_ref, resolve_port, selector_of,
    service_key_of_slice, service_pods, MANAGED_BY, SERVICE_NAME,
};
use crate::machinery::{controller_ref, pods};

/// Our value of the slices' [`MANAGED_BY`] label.
pub const CONTROLLER_NAME: &str = "endpointslice-controller.k8s.io";
/// Endpoints per slice (upstream `--max-endpoints-per-slice` default).
pub const MAX_ENDPOINTS: usize = 100;

/// Registers handlers and returns the workers.
pub fn start(ctx: &Context) -> Started {
    let services = ctx.factory.informer::<Service>();
    let pods = ctx.factory.informer::<Pod>();
    let slices = ctx.factory.informer::<EndpointSlice>();
    let queue = Queue::new("endpointslice");
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
    // A slice changed or deleted by someone else is put back.
    let q = Arc::clone(&queue);
    slices.add_handler(move |old, new| {
        if let Some(key) = new
            .or(old)
            .and_then(|s| service_key_of_slice(s, CONTROLLER_NAME))
        {
            q.add(key);
        }
    });
    let c = Arc::new(EndpointSliceController {
        client: ctx.client.clone(),
        services: services.store(),
        pods: pods.store(),
        slices: slices.store(),
    });
    ctx.workers(c, queue)
}

/// The controller's state.
pub struct EndpointSliceController {
    client: kube::Client,
    services: Store<Service>,
    pods: Store<Pod>,
    slices: Store<EndpointSlice>,
}

impl Reconciler for EndpointSliceController {
    fn name(&self) -> &'static str {
        "endpointslice"
    }

    async fn reconcile(&self, key: &str) -> Result<Action> {
        let (ns, name) = split_key(key);
        let ns = ns.unwrap_or_default();
        let api: Api<EndpointSlice> = Api::namespaced(self.client.clone(), ns);
        let existing = managed_slices(&self.slices, ns, name, CONTROLLER_NAME);
        let desired = match self.services.get(key) {
            // Deleted Services' slices go with the garbage collector too;
            // deleting here makes it immediate.
            None => Vec::new(),
            Some(svc) => match selector_of(&svc) {
                None => return Ok(Action::Done),
                Some(sel) => self.desired(&svc, &sel),
            },
        };
        let svc = self.services.get(key);
        let mut existing = existing.into_iter();
        for (ports, endpoints) in desired {
            let Some(svc) = svc.as_ref() else { break };
            match existing.next() {
                Some(cur) if cur.ports == ports && cur.endpoints.as_ref() == Some(&endpoints) => {}
                Some(cur) => {
                    let mut next = (*cur).clone();
                    next.ports = ports;
                    next.endpoints = Some(endpoints);
                    let n = next.metadata.name.clone().unwrap_or_default();
                    match api.replace(&n, &PostParams::default(), &next).await {
                        Ok(_) => {}
                        Err(e) if is_conflict(&e) || is_not_found(&e) => {
                            return Ok(Action::RequeueAfter(std::time::Duration::from_millis(100)))
                        }
                        Err(e) => return Err(e).context(|| format!("updating endpointslice {n}")),
                    }
                }
                None => {
                    let slice = EndpointSlice {
                        metadata: ObjectMeta {
                            generate_name: Some(format!("{name}-")),
                            namespace: Some(ns.to_string()),
                            labels: Some(
                                [
                                    (SERVICE_NAME.to_string(), name.to_string()),
                                    (MANAGED_BY.to_string(), CONTROLLER_NAME.to_string()),
                                ]
                                .into(),
                            ),
                            owner_references: Some(vec![controller_ref::controller_ref(&**svc)]),
                            ..Default::default()
                        },
                        address_type: "IPv4".into(),
                        endpoints: Some(endpoints),
                        ports,
                    };
                    api.create(&PostParams::default(), &slice)
                        .await
                        .context(|| format!("creating endpointslice for {key}"))?;
                }
            }
        }
        for extra in existing {
            let n = extra.metadata.name.clone().unwrap_or_default();
            match api.delete(&n, &DeleteParams::default()).await {
                Ok(_) => {}
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(e).context(|| format!("deleting endpointslice {n}")),
            }
        }
        Ok(Action::Done)
    }
}

type Slice = (Option<Vec<EndpointPort>>, Vec<Endpoint>);

impl EndpointSliceController {
    /// The slices the Service should have: per port set, chunks of
    /// [`MAX_ENDPOINTS`]. A Service without pods gets one empty slice.
    fn desired(&self, svc: &Service, sel: &apimachinery::labels::Selector) -> Vec<Slice> {
        let spec = svc.spec.clone().unwrap_or_default();
        let publish_not_ready = spec.publish_not_ready_addresses == Some(true);
        let mut groups: BTreeMap<String, Slice> = BTreeMap::new();
        for pod in service_pods(&self.pods, svc, sel) {
            let Some(ip) = pod_ip(&pod) else { continue };
            let ports: Vec<EndpointPort> = spec
                .ports
                .iter()
                .flatten()
                .filter_map(|sp| {
                    resolve_port(&pod, sp).map(|port| EndpointPort {
                        name: Some(sp.name.clone().unwrap_or_default()),
                        port: Some(port),
                        protocol: Some(sp.protocol.clone().unwrap_or_else(|| "TCP".into())),
                        app_protocol: sp.app_protocol.clone(),
                    })
                })
                .collect();
            let terminating = pod.metadata.deletion_timestamp.is_some();
            let serving = pods::pod_ready(&pod);
            let ep = Endpoint {
                addresses: vec![ip],
                conditions: Some(EndpointConditions {
                    ready: Some(publish_not_ready || (serving && !terminating)),
                    serving: Some(publish_not_ready || serving),
                    terminating: Some(terminating),
                }),
                hostname: hostname_in(&pod, svc),
                node_name: pod.spec.as_ref().and_then(|s| s.node_name.clone()),
                target_ref: Some(pod_ref(&pod)),
                ..Default::default()
            };
            let key = serde_json::to_string(&ports).unwrap_or_default();
            groups
                .entry(key)
                .or_insert_with(|| ((!ports.is_empty()).then_some(ports), Vec::new()))
                .1
                .push(ep);
        }
        let mut out = Vec::new();
        for (ports, eps) in groups.into_values() {
            for chunk in eps.chunks(MAX_ENDPOINTS) {
                out.push((ports.clone(), chunk.to_vec()));
            }
        }
        if out.is_empty() {
            // A placeholder, as upstream: consumers see the Service exists
            // and has no endpoints.
            out.push((None, Vec::new()));
        }
        out
    }
}
