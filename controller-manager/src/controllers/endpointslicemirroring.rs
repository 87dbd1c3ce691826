//! The EndpointSlice mirroring controller: a Service without a selector
//! whose Endpoints someone writes by hand (an external database, a legacy
//! tool) gets the same addresses as EndpointSlices, because that is what
//! kube-proxy and DNS read today.
//!
//! Mirrored are the Endpoints of a selector-less Service that do not carry
//! `endpointslice.kubernetes.io/skip-mirror: "true"` (the apiserver's own
//! `kubernetes` Endpoints do). Each subset becomes slices of its ports,
//! one per address family, `addresses` ready and `notReadyAddresses` not,
//! at most [`MAX_ADDRESSES`] addresses per subset as upstream. The slices
//! are owned by the Endpoints, labelled with the Service's name and
//! `managed-by: endpointslicemirroring-controller.k8s.io`, and carry the
//! Endpoints' other labels and annotations.
//!
//! reconcile(ns/name): compute the desired slices from the Endpoints (none
//! when they should not be mirrored), pair them with the existing mirrored
//! slices (update in place), create what is missing and delete the rest:
//! the same shape as the EndpointSlice controller.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{EndpointAddress, Endpoints, Service};
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
    managed_slices, service_key_of_slice, MANAGED_BY, SERVICE_NAME,
};
use crate::machinery::{controller_ref, meta};

/// Our value of [`MANAGED_BY`].
pub const CONTROLLER_NAME: &str = "endpointslicemirroring-controller.k8s.io";
/// The label that keeps Endpoints from being mirrored.
pub const SKIP_MIRROR: &str = "endpointslice.kubernetes.io/skip-mirror";
/// Addresses mirrored per subset (upstream's `--mirroring-max-endpoints-per-subset`).
pub const MAX_ADDRESSES: usize = 1000;
/// Endpoints per slice (upstream's default for mirrored slices).
pub const MAX_ENDPOINTS: usize = 100;
/// Annotations of the Endpoints that are not copied.
const NOT_COPIED: &[&str] = &[
    "endpoints.kubernetes.io/last-change-trigger-time",
    "kubectl.kubernetes.io/last-applied-configuration",
];

/// Registers handlers and returns the workers.
pub fn start(ctx: &Context) -> Started {
    let services = ctx.factory.informer::<Service>();
    let endpoints = ctx.factory.informer::<Endpoints>();
    let slices = ctx.factory.informer::<EndpointSlice>();
    let queue = Queue::new("endpointslicemirroring");
    let q = Arc::clone(&queue);
    services.add_handler(move |old, new| {
        if let Some(s) = new.or(old) {
            q.add(key_of(&**s));
        }
    });
    let q = Arc::clone(&queue);
    endpoints.add_handler(move |old, new| {
        if let Some(e) = new.or(old) {
            q.add(key_of(&**e));
        }
    });
    // A mirrored slice changed or deleted by someone else is put back.
    let q = Arc::clone(&queue);
    slices.add_handler(move |old, new| {
        if let Some(key) = new
            .or(old)
            .and_then(|s| service_key_of_slice(s, CONTROLLER_NAME))
        {
            q.add(key);
        }
    });
    let c = Arc::new(MirroringController {
        client: ctx.client.clone(),
        services: services.store(),
        endpoints: endpoints.store(),
        slices: slices.store(),
    });
    ctx.workers(c, queue)
}

/// The controller's state.
pub struct MirroringController {
    client: kube::Client,
    services: Store<Service>,
    endpoints: Store<Endpoints>,
    slices: Store<EndpointSlice>,
}

/// One desired slice: address type, ports, endpoints.
type Slice = (String, Option<Vec<EndpointPort>>, Vec<Endpoint>);

impl Reconciler for MirroringController {
    fn name(&self) -> &'static str {
        "endpointslicemirroring"
    }

    async fn reconcile(&self, key: &str) -> Result<Action> {
        let (ns, name) = split_key(key);
        let ns = ns.unwrap_or_default();
        let api: Api<EndpointSlice> = Api::namespaced(self.client.clone(), ns);
        let existing = managed_slices(&self.slices, ns, name, CONTROLLER_NAME);
        let eps = self
            .endpoints
            .get(key)
            .filter(|eps| mirrored(eps, self.services.get(key).as_deref()));
        let desired = eps.as_deref().map(desired).unwrap_or_default();
        let mut existing = existing.into_iter();
        for (address_type, ports, endpoints) in desired {
            let Some(eps) = eps.as_ref() else { break };
            let (labels, annotations) = copied_meta(eps, name);
            match existing.next() {
                Some(cur)
                    if cur.address_type == address_type
                        && cur.ports == ports
                        && cur.endpoints.as_ref() == Some(&endpoints)
                        && cur.metadata.labels.as_ref() == Some(&labels)
                        && cur.metadata.annotations.clone().unwrap_or_default() == annotations => {}
                // The address type cannot change: a new slice instead.
                Some(cur) if cur.address_type != address_type => {
                    self.delete(&api, &cur).await?;
                    self.create(&api, eps, name, address_type, ports, endpoints)
                        .await?;
                }
                Some(cur) => {
                    let mut next = (*cur).clone();
                    next.ports = ports;
                    next.endpoints = Some(endpoints);
                    next.metadata.labels = Some(labels);
                    next.metadata.annotations = (!annotations.is_empty()).then_some(annotations);
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
                    self.create(&api, eps, name, address_type, ports, endpoints)
                        .await?
                }
            }
        }
        for extra in existing {
            self.delete(&api, &extra).await?;
        }
        Ok(Action::Done)
    }
}

impl MirroringController {
    async fn create(
        &self,
        api: &Api<EndpointSlice>,
        eps: &Endpoints,
        name: &str,
        address_type: String,
        ports: Option<Vec<EndpointPort>>,
        endpoints: Vec<Endpoint>,
    ) -> Result<()> {
        let (labels, annotations) = copied_meta(eps, name);
        let slice = EndpointSlice {
            metadata: ObjectMeta {
                generate_name: Some(format!("{name}-")),
                namespace: eps.metadata.namespace.clone(),
                labels: Some(labels),
                annotations: (!annotations.is_empty()).then_some(annotations),
                owner_references: Some(vec![controller_ref::controller_ref(eps)]),
                ..Default::default()
            },
            address_type,
            endpoints: Some(endpoints),
            ports,
        };
        api.create(&PostParams::default(), &slice)
            .await
            .context(|| format!("creating the mirrored endpointslice of {name}"))?;
        Ok(())
    }

    async fn delete(&self, api: &Api<EndpointSlice>, slice: &EndpointSlice) -> Result<()> {
        let n = slice.metadata.name.clone().unwrap_or_default();
        match api.delete(&n, &DeleteParams::default()).await {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(e).context(|| format!("deleting endpointslice {n}")),
        }
    }
}

/// Whether `eps` are mirrored: their Service exists and has no selector,
/// and they do not opt out.
fn mirrored(eps: &Endpoints, svc: Option<&Service>) -> bool {
    let Some(svc) = svc else { return false };
    let has_selector = svc
        .spec
        .as_ref()
        .and_then(|s| s.selector.as_ref())
        .is_some_and(|s| !s.is_empty());
    let skip = meta::labels(&eps.metadata)
        .get(SKIP_MIRROR)
        .map(String::as_str)
        == Some("true");
    !has_selector && !skip && eps.metadata.deletion_timestamp.is_none()
}

/// The slice's labels (the Endpoints' own, then the service name and the
/// manager) and annotations (the Endpoints' own but a few).
fn copied_meta(
    eps: &Endpoints,
    name: &str,
) -> (BTreeMap<String, String>, BTreeMap<String, String>) {
    let mut labels = meta::labels(&eps.metadata).clone();
    labels.remove(SKIP_MIRROR);
    labels.insert(SERVICE_NAME.into(), name.into());
    labels.insert(MANAGED_BY.into(), CONTROLLER_NAME.into());
    let annotations = eps
        .metadata
        .annotations
        .clone()
        .unwrap_or_default()
        .into_iter()
        .filter(|(k, _)| !NOT_COPIED.contains(&k.as_str()))
        .collect();
    (labels, annotations)
}

fn endpoint(a: &EndpointAddress, ready: bool) -> Endpoint {
    Endpoint {
        addresses: vec![a.ip.clone()],
        conditions: Some(EndpointConditions {
            ready: Some(ready),
            serving: Some(ready),
            terminating: Some(false),
        }),
        hostname: a.hostname.clone(),
        node_name: a.node_name.clone(),
        target_ref: a.target_ref.clone(),
        ..Default::default()
    }
}

/// The slices of `eps`: per subset and address family, chunks of
/// [`MAX_ENDPOINTS`].
fn desired(eps: &Endpoints) -> Vec<Slice> {
    let mut out = Vec::new();
    for subset in eps.subsets.iter().flatten() {
        let ports: Vec<EndpointPort> = subset
            .ports
            .iter()
            .flatten()
            .map(|p| EndpointPort {
                name: Some(p.name.clone().unwrap_or_default()),
                port: Some(p.port),
                protocol: Some(p.protocol.clone().unwrap_or_else(|| "TCP".into())),
                app_protocol: p.app_protocol.clone(),
            })
            .collect();
        let ports = (!ports.is_empty()).then_some(ports);
        let all = subset
            .addresses
            .iter()
            .flatten()
            .map(|a| (a, true))
            .chain(
                subset
                    .not_ready_addresses
                    .iter()
                    .flatten()
                    .map(|a| (a, false)),
            )
            .take(MAX_ADDRESSES);
        let mut families: BTreeMap<&str, Vec<Endpoint>> = BTreeMap::new();
        for (a, ready) in all {
            let family = match a.ip.parse::<IpAddr>() {
                Ok(IpAddr::V4(_)) => "IPv4",
                Ok(IpAddr::V6(_)) => "IPv6",
                // Not an IP address: upstream skips it.
                Err(_) => continue,
            };
            families.entry(family).or_default().push(endpoint(a, ready));
        }
        for (family, endpoints) in families {
            for chunk in endpoints.chunks(MAX_ENDPOINTS) {
                out.push((family.to_string(), ports.clone(), chunk.to_vec()));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn eps(v: serde_json::Value) -> Endpoints {
        serde_json::from_value(v).expect("endpoints")
    }

    #[test]
    fn subsets_become_slices_per_family_with_readiness() {
        let e = eps(json!({"metadata": {"name": "db", "namespace": "ns"},
            "subsets": [{"addresses": [{"ip": "10.1.0.1", "hostname": "a"}, {"ip": "fd00::1"}],
                         "notReadyAddresses": [{"ip": "10.1.0.2"}, {"ip": "not-an-ip"}],
                         "ports": [{"name": "sql", "port": 5432}]}]}));
        let got = desired(&e);
        assert_eq!(got.len(), 2);
        let (family, ports, v4) = &got[0];
        assert_eq!(family, "IPv4");
        let ports = ports.as_ref().expect("ports");
        assert_eq!(
            (ports[0].port, ports[0].protocol.as_deref()),
            (Some(5432), Some("TCP"))
        );
        let ready: Vec<(String, Option<bool>)> = v4
            .iter()
            .map(|e| {
                (
                    e.addresses[0].clone(),
                    e.conditions.as_ref().and_then(|c| c.ready),
                )
            })
            .collect();
        assert_eq!(
            ready,
            [
                ("10.1.0.1".into(), Some(true)),
                ("10.1.0.2".into(), Some(false))
            ]
        );
        assert_eq!(v4[0].hostname.as_deref(), Some("a"));
        assert_eq!(got[1].0, "IPv6");
    }

    #[test]
    fn only_endpoints_of_selectorless_services_are_mirrored() {
        let e = eps(json!({"metadata": {"name": "db"}}));
        let svc = |selector: serde_json::Value| -> Service {
            serde_json::from_value(
                json!({"metadata": {"name": "db"}, "spec": {"selector": selector}}),
            )
            .expect("svc")
        };
        assert!(mirrored(&e, Some(&svc(json!(null)))));
        assert!(!mirrored(&e, Some(&svc(json!({"app": "db"})))));
        assert!(!mirrored(&e, None));
        let skipped = eps(json!({"metadata": {"name": "db", "labels": {SKIP_MIRROR: "true"}}}));
        assert!(!mirrored(&skipped, Some(&svc(json!(null)))));
        let (labels, _) = copied_meta(&skipped, "db");
        assert_eq!(
            labels.get(MANAGED_BY).map(String::as_str),
            Some(CONTROLLER_NAME)
        );
        assert!(!labels.contains_key(SKIP_MIRROR));
    }
}
