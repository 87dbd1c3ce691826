//! The ingress status controller: the one writer of
//! `status.loadBalancer.ingress` for the Ingresses of the built-in ingress
//! class (`spec.controller: minik8s.io/ingress`). Every node's kubelet runs
//! the ingress proxy that answers them (the kubelet's `ingress` module) on
//! its own address, so the Ingress's addresses are the nodes'. The kubelets
//! could each write their own address, but N writers of one list race and
//! flap; the controller-manager already has a leader, so the list is
//! written here, once, as the service load balancer's is
//! ([`super::servicelb`]).
//!
//! reconcile(ingress): an Ingress of our class
//! ([`apimachinery::ingress_class::handled_by`], so an Ingress without a
//! class is ours when our class is the default) gets the `InternalIP` of
//! every Ready node, sorted. Ingresses of other classes are left alone.
//! Changes of IngressClasses and of nodes' readiness or addresses requeue
//! every Ingress.

use std::sync::Arc;

use apimachinery::ingress_class::{handled_by, CONTROLLER};
use k8s_openapi::api::core::v1::Node;
use k8s_openapi::api::networking::v1::{
    Ingress, IngressClass, IngressLoadBalancerIngress, IngressLoadBalancerStatus,
};

use super::{Context, Started};
use crate::machinery::controller::{Action, Reconciler, Result};
use crate::machinery::informer::{key_of, Store};
use crate::machinery::node_addresses::{addresses, ready_node_ips};
use crate::machinery::owner_client::{update_status, ApiOwnerClient, OwnerClient};
use crate::machinery::queue::Queue;

/// Registers handlers and returns the workers.
pub fn start(ctx: &Context) -> Started {
    let ingresses = ctx.factory.informer::<Ingress>();
    let classes = ctx.factory.informer::<IngressClass>();
    let nodes = ctx.factory.informer::<Node>();
    let queue = Queue::new("ingress-status");
    let q = Arc::clone(&queue);
    ingresses.add_handler(move |_, new| {
        if let Some(i) = new {
            q.add(key_of(&**i));
        }
    });
    let requeue_all = {
        let q = Arc::clone(&queue);
        let store = ingresses.store();
        move || {
            for i in store.list() {
                q.add(key_of(&*i));
            }
        }
    };
    let all = requeue_all.clone();
    classes.add_handler(move |_, _| all());
    nodes.add_handler(move |old, new| {
        let changed = match (old, new) {
            (Some(o), Some(n)) => addresses(o) != addresses(n),
            _ => true,
        };
        if changed {
            requeue_all();
        }
    });
    let c = Arc::new(IngressStatus {
        ingresses: ingresses.store(),
        classes: classes.store(),
        nodes: nodes.store(),
        status: Arc::new(ApiOwnerClient::new(ctx.client.clone())),
    });
    ctx.workers(c, queue)
}

/// The controller's state.
pub struct IngressStatus {
    ingresses: Store<Ingress>,
    classes: Store<IngressClass>,
    nodes: Store<Node>,
    status: Arc<dyn OwnerClient<Ingress>>,
}

impl IngressStatus {
    /// Whether the Ingress is served by the built-in ingress proxy.
    fn ours(&self, ingress: &Ingress) -> bool {
        let classes: Vec<serde_json::Value> = self
            .classes
            .list()
            .iter()
            .filter_map(|c| serde_json::to_value(&**c).ok())
            .collect();
        let refs: Vec<&serde_json::Value> = classes.iter().collect();
        serde_json::to_value(ingress).is_ok_and(|v| handled_by(&v, &refs, CONTROLLER))
    }
}

impl Reconciler for IngressStatus {
    fn name(&self) -> &'static str {
        "ingress-status"
    }

    async fn reconcile(&self, key: &str) -> Result<Action> {
        let Some(ing) = self.ingresses.get(key) else {
            return Ok(Action::Done);
        };
        if !self.ours(&ing) {
            return Ok(Action::Done);
        }
        let ingress: Vec<IngressLoadBalancerIngress> = ready_node_ips(&self.nodes)
            .into_iter()
            .map(|ip| IngressLoadBalancerIngress {
                ip: Some(ip),
                ..Default::default()
            })
            .collect();
        let want = IngressLoadBalancerStatus {
            ingress: (!ingress.is_empty()).then_some(ingress),
        };
        let old_status = ing.status.clone().unwrap_or_default();
        if old_status.load_balancer.clone().unwrap_or_default() == want {
            return Ok(Action::Done);
        }
        let mut status = old_status.clone();
        status.load_balancer = Some(want);
        if update_status(&*self.status, &*ing, &old_status, &status).await? {
            tracing::info!(ingress = key, "ingress addresses updated");
        }
        Ok(Action::Done)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::machinery::owner_client::FakeOwnerClient;

    fn controller(
        classes: &[serde_json::Value],
        ingress: serde_json::Value,
    ) -> (IngressStatus, Arc<FakeOwnerClient<Ingress>>) {
        let nodes = Store::default();
        for (name, ip, ready) in [
            ("b", "10.0.0.12", "True"),
            ("a", "10.0.0.11", "True"),
            ("c", "10.0.0.13", "False"),
        ] {
            nodes.insert(
                serde_json::from_value(json!({"metadata": {"name": name}, "status": {
                    "addresses": [{"type": "InternalIP", "address": ip}],
                    "conditions": [{"type": "Ready", "status": ready}]}}))
                .expect("node"),
            );
        }
        let class_store = Store::default();
        for c in classes {
            class_store.insert(serde_json::from_value(c.clone()).expect("class"));
        }
        let ingresses = Store::default();
        ingresses.insert(serde_json::from_value(ingress).expect("ingress"));
        let status = Arc::new(FakeOwnerClient::default());
        let c = IngressStatus {
            ingresses,
            classes: class_store,
            nodes,
            status: status.clone(),
        };
        (c, status)
    }

    fn ingress(spec: serde_json::Value) -> serde_json::Value {
        json!({"metadata": {"name": "web", "namespace": "ns"}, "spec": spec})
    }

    #[tokio::test]
    async fn ours_get_the_ready_nodes_and_others_are_left_alone() {
        let ours = json!({"metadata": {"name": "minik8s", "annotations": {
            "ingressclass.kubernetes.io/is-default-class": "true"}},
            "spec": {"controller": CONTROLLER}});
        let nginx =
            json!({"metadata": {"name": "nginx"}, "spec": {"controller": "k8s.io/ingress-nginx"}});
        let classes = [ours, nginx];
        // No class named: the default class, ours.
        let (c, status) = controller(&classes, ingress(json!({})));
        c.reconcile("ns/web").await.expect("reconcile");
        let written = status.statuses();
        assert_eq!(written.len(), 1, "{written:?}");
        assert_eq!(
            written[0]["loadBalancer"]["ingress"],
            json!([{"ip": "10.0.0.11"}, {"ip": "10.0.0.12"}])
        );
        let (c, status) = controller(&classes, ingress(json!({"ingressClassName": "nginx"})));
        c.reconcile("ns/web").await.expect("reconcile");
        assert!(status.statuses().is_empty());
        // Up to date: nothing written.
        let mut done = ingress(json!({"ingressClassName": "minik8s"}));
        done["status"] =
            json!({"loadBalancer": {"ingress": [{"ip": "10.0.0.11"}, {"ip": "10.0.0.12"}]}});
        let (c, status) = controller(&classes, done);
        c.reconcile("ns/web").await.expect("reconcile");
        assert!(status.statuses().is_empty());
    }
}
