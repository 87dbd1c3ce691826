//! The built-in service load balancer (in the spirit of k3s's servicelb):
//! a Service of type `LoadBalancer` is answered by every node, so its
//! `status.loadBalancer.ingress` lists the nodes' addresses and each
//! node's service proxy accepts the Service's ports on them (the kubelet's
//! `proxy`, next to the node ports). Without it a LoadBalancer Service
//! would stay `<pending>` forever on a cluster with no cloud.
//!
//! reconcile(service): a LoadBalancer Service without a
//! `loadBalancerClass` (another class belongs to another implementation,
//! as upstream) gets the `InternalIP` of every Ready node, sorted, as its
//! ingress; any other Service that still carries an ingress this
//! controller wrote loses it. Node changes requeue every LoadBalancer
//! Service. An Event `EnsuredLoadBalancer` says when the addresses change.

use std::sync::Arc;

use k8s_openapi::api::core::v1::{LoadBalancerIngress, LoadBalancerStatus, Node, Service};

use super::{Context, Started};
use crate::events::{Recorder, NORMAL};
use crate::machinery::controller::{Action, Reconciler, Result};
use crate::machinery::informer::{key_of, Store};
use crate::machinery::node_addresses::{addresses, ready_node_ips};
use crate::machinery::owner_client::{update_status, ApiOwnerClient, OwnerClient};
use crate::machinery::queue::Queue;

/// Registers handlers and returns the workers.
pub fn start(ctx: &Context) -> Started {
    let services = ctx.factory.informer::<Service>();
    let nodes = ctx.factory.informer::<Node>();
    let queue = Queue::new("service-lb");
    let q = Arc::clone(&queue);
    services.add_handler(move |_, new| {
        if let Some(s) = new {
            q.add(key_of(&**s));
        }
    });
    let q = Arc::clone(&queue);
    let service_store = services.store();
    nodes.add_handler(move |old, new| {
        let changed = match (old, new) {
            (Some(o), Some(n)) => addresses(o) != addresses(n),
            _ => true,
        };
        if changed {
            for s in service_store.list() {
                if is_load_balancer(&s) {
                    q.add(key_of(&*s));
                }
            }
        }
    });
    let c = Arc::new(ServiceLb {
        services: services.store(),
        nodes: nodes.store(),
        status: Arc::new(ApiOwnerClient::new(ctx.client.clone())),
        recorder: ctx.recorder("service-lb-controller"),
    });
    ctx.workers(c, queue)
}

/// The controller's state.
pub struct ServiceLb {
    services: Store<Service>,
    nodes: Store<Node>,
    status: Arc<dyn OwnerClient<Service>>,
    recorder: Recorder,
}

/// Whether the Service is ours to balance: type LoadBalancer, no class.
fn is_load_balancer(s: &Service) -> bool {
    s.spec.as_ref().is_some_and(|spec| {
        spec.type_.as_deref() == Some("LoadBalancer") && spec.load_balancer_class.is_none()
    })
}

impl ServiceLb {
    /// The ingress every LoadBalancer Service gets: each Ready node's
    /// InternalIP, sorted.
    fn ingress(&self) -> Vec<LoadBalancerIngress> {
        ready_node_ips(&self.nodes)
            .into_iter()
            .map(|ip| LoadBalancerIngress {
                ip: Some(ip),
                ip_mode: Some("VIP".into()),
                ..Default::default()
            })
            .collect()
    }
}

impl Reconciler for ServiceLb {
    fn name(&self) -> &'static str {
        "service-lb"
    }

    async fn reconcile(&self, key: &str) -> Result<Action> {
        let Some(svc) = self.services.get(key) else {
            return Ok(Action::Done);
        };
        let old = svc
            .status
            .as_ref()
            .and_then(|s| s.load_balancer.clone())
            .unwrap_or_default();
        let class_elsewhere = svc
            .spec
            .as_ref()
            .is_some_and(|s| s.load_balancer_class.is_some());
        if class_elsewhere {
            return Ok(Action::Done);
        }
        let want = if is_load_balancer(&svc) {
            let ingress = self.ingress();
            LoadBalancerStatus {
                ingress: (!ingress.is_empty()).then_some(ingress),
            }
        } else {
            LoadBalancerStatus::default()
        };
        if want == old {
            return Ok(Action::Done);
        }
        let mut status = svc.status.clone().unwrap_or_default();
        let old_status = status.clone();
        status.load_balancer = Some(want.clone());
        if update_status(&*self.status, &*svc, &old_status, &status).await?
            && is_load_balancer(&svc)
        {
            let ips: Vec<String> = want
                .ingress
                .iter()
                .flatten()
                .filter_map(|i| i.ip.clone())
                .collect();
            tracing::info!(service = key, ips = ?ips, "load balancer ensured");
            self.recorder.event(
                &*svc,
                NORMAL,
                "EnsuredLoadBalancer",
                format!("Ensured load balancer on {}", ips.join(", ")),
            );
        }
        Ok(Action::Done)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::machinery::owner_client::FakeOwnerClient;

    fn lb(
        nodes: &[serde_json::Value],
        service: serde_json::Value,
    ) -> (ServiceLb, Arc<FakeOwnerClient<Service>>) {
        let node_store = Store::default();
        for n in nodes {
            node_store.insert(serde_json::from_value(n.clone()).expect("node"));
        }
        let services = Store::default();
        services.insert(serde_json::from_value(service).expect("service"));
        let status = Arc::new(FakeOwnerClient::default());
        let c = ServiceLb {
            services,
            nodes: node_store,
            status: status.clone(),
            recorder: Recorder::disabled(),
        };
        (c, status)
    }

    fn node(name: &str, ip: &str, ready: &str) -> serde_json::Value {
        json!({"metadata": {"name": name}, "status": {
            "addresses": [{"type": "Hostname", "address": name}, {"type": "InternalIP", "address": ip}],
            "conditions": [{"type": "Ready", "status": ready}]}})
    }

    fn service(spec: serde_json::Value, status: serde_json::Value) -> serde_json::Value {
        json!({"metadata": {"name": "web", "namespace": "ns"}, "spec": spec, "status": status})
    }

    #[tokio::test]
    async fn a_load_balancer_gets_every_ready_nodes_address() {
        let nodes = [
            node("b", "10.0.0.12", "True"),
            node("a", "10.0.0.11", "True"),
            node("c", "10.0.0.13", "False"),
        ];
        let (c, status) = lb(&nodes, service(json!({"type": "LoadBalancer"}), json!({})));
        c.reconcile("ns/web").await.expect("reconcile");
        let written = status.statuses();
        assert_eq!(written.len(), 1, "{written:?}");
        assert_eq!(
            written[0]["loadBalancer"]["ingress"],
            json!([{"ip": "10.0.0.11", "ipMode": "VIP"}, {"ip": "10.0.0.12", "ipMode": "VIP"}])
        );
    }

    #[tokio::test]
    async fn another_class_is_left_alone_and_a_former_balancer_is_cleared() {
        let nodes = [node("a", "10.0.0.11", "True")];
        let (c, status) = lb(
            &nodes,
            service(
                json!({"type": "LoadBalancer", "loadBalancerClass": "example.com/lb"}),
                json!({}),
            ),
        );
        c.reconcile("ns/web").await.expect("reconcile");
        assert!(status.statuses().is_empty());
        let (c, status) = lb(
            &nodes,
            service(
                json!({"type": "ClusterIP"}),
                json!({"loadBalancer": {"ingress": [{"ip": "10.0.0.11"}]}}),
            ),
        );
        c.reconcile("ns/web").await.expect("reconcile");
        assert_eq!(status.statuses().len(), 1);
        // Up to date: nothing written.
        let (c, status) = lb(
            &nodes,
            service(
                json!({"type": "LoadBalancer"}),
                json!({"loadBalancer": {"ingress": [{"ip": "10.0.0.11", "ipMode": "VIP"}]}}),
            ),
        );
        c.reconcile("ns/web").await.expect("reconcile");
        assert!(status.statuses().is_empty());
    }
}
