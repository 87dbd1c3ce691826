//! Node IPAM: gives every Node a `spec.podCIDR`, a slice of
//! `--cluster-cidr` of size `--node-cidr-mask-size`, from which its kubelet
//! (through the CNI host-local plugin) hands out pod IPs.
//!
//! reconcile(node): if the node has no podCIDR, take the lowest free
//! subnet and write it. The set of taken subnets is rebuilt from the Node
//! cache and kept in memory with our own recent allocations, so two nodes
//! never get the same subnet while the cache lags behind our writes.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};

use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, Patch, PatchParams};

use super::{Context, Started};
use crate::events::{Recorder, WARNING};
use crate::machinery::controller::{is_not_found, Action, Context as _, Error, Reconciler, Result};
use crate::machinery::informer::Store;
use crate::machinery::queue::Queue;

/// An IPv4 network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    /// The network address.
    pub addr: u32,
    /// The prefix length.
    pub prefix: u8,
}

impl Cidr {
    /// Parses `10.244.0.0/16`.
    pub fn parse(s: &str) -> Option<Cidr> {
        let (a, p) = s.trim().split_once('/')?;
        let addr: Ipv4Addr = a.parse().ok()?;
        let prefix: u8 = p.parse().ok().filter(|p| *p <= 32)?;
        let mask = if prefix == 0 {
            0
        } else {
            u32::MAX << (32 - prefix)
        };
        Some(Cidr {
            addr: u32::from(addr) & mask,
            prefix,
        })
    }

    /// The `index`-th subnet of length `prefix` inside this network.
    pub fn subnet(&self, prefix: u8, index: u32) -> Option<Cidr> {
        if prefix < self.prefix || prefix > 32 || u64::from(index) >= self.subnet_count(prefix) {
            return None;
        }
        Some(Cidr {
            addr: self.addr + (index << (32 - prefix)),
            prefix,
        })
    }

    /// How many subnets of length `prefix` fit.
    pub fn subnet_count(&self, prefix: u8) -> u64 {
        if prefix < self.prefix || prefix > 32 {
            return 0;
        }
        1u64 << (prefix - self.prefix)
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", Ipv4Addr::from(self.addr), self.prefix)
    }
}

/// Registers handlers and returns the workers.
pub fn start(ctx: &Context) -> Started {
    let nodes = ctx.factory.informer::<Node>();
    let queue = Queue::new("nodeipam");
    let q = Arc::clone(&queue);
    nodes.add_handler(move |_, new| {
        if let Some(n) = new {
            if n.spec.as_ref().and_then(|s| s.pod_cidr.as_ref()).is_none() {
                q.add(n.metadata.name.clone().unwrap_or_default());
            }
        }
    });
    let c = Arc::new(NodeIpamController {
        client: ctx.client.clone(),
        nodes: nodes.store(),
        cluster: Cidr::parse(&ctx.config.cluster_cidr),
        mask: ctx.config.node_cidr_mask_size,
        enabled: ctx.config.allocate_node_cidrs,
        allocated: Mutex::new(BTreeSet::new()),
        recorder: ctx.recorder("node-controller"),
    });
    if c.cluster.is_none() && c.enabled {
        tracing::error!(cidr = %ctx.config.cluster_cidr, "invalid --cluster-cidr: no podCIDRs will be allocated");
    }
    ctx.workers(c, queue)
}

/// The controller's state.
pub struct NodeIpamController {
    client: kube::Client,
    nodes: Store<Node>,
    cluster: Option<Cidr>,
    mask: u8,
    enabled: bool,
    /// Subnets we handed out (their nodes may not be in the cache yet).
    allocated: Mutex<BTreeSet<u32>>,
    recorder: Recorder,
}

impl Reconciler for NodeIpamController {
    fn name(&self) -> &'static str {
        "nodeipam"
    }

    async fn reconcile(&self, name: &str) -> Result<Action> {
        let Some(node) = self.nodes.get(name) else {
            return Ok(Action::Done);
        };
        if !self.enabled
            || node
                .spec
                .as_ref()
                .and_then(|s| s.pod_cidr.as_ref())
                .is_some()
        {
            return Ok(Action::Done);
        }
        let Some(cluster) = self.cluster else {
            return Err(Error::Invalid(
                "--cluster-cidr is not a valid IPv4 CIDR".into(),
            ));
        };
        let cidr = {
            let mut taken = self.allocated.lock().unwrap_or_else(|p| p.into_inner());
            for n in self.nodes.list() {
                if let Some(c) = n
                    .spec
                    .as_ref()
                    .and_then(|s| s.pod_cidr.as_deref())
                    .and_then(Cidr::parse)
                {
                    taken.insert(c.addr);
                }
            }
            let free = (0..cluster.subnet_count(self.mask).min(u64::from(u32::MAX)) as u32)
                .filter_map(|i| cluster.subnet(self.mask, i))
                .find(|c| !taken.contains(&c.addr));
            if let Some(c) = free {
                taken.insert(c.addr);
            }
            free
        };
        let Some(cidr) = cidr else {
            self.recorder.event(
                &*node,
                WARNING,
                "CIDRNotAvailable",
                format!("Node {name} status is now: CIDRNotAvailable"),
            );
            return Err(Error::Invalid(format!(
                "no free /{} left in {cluster}",
                self.mask
            )));
        };
        let api: Api<Node> = Api::all(self.client.clone());
        // Conditional on the version we decided on: a cache that lags our
        // own earlier write must not hand the node a second subnet (the
        // apiserver refuses a change anyway; the 409 makes us look again).
        let patch = serde_json::json!({
            "metadata": {"resourceVersion": node.metadata.resource_version},
            "spec": {"podCIDR": cidr.to_string(), "podCIDRs": [cidr.to_string()]},
        });
        match api
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => {
                tracing::info!(node = name, %cidr, "podCIDR assigned");
                Ok(Action::Done)
            }
            Err(e) => {
                self.allocated
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&cidr.addr);
                if is_not_found(&e) {
                    return Ok(Action::Done);
                }
                Err(e).context(|| format!("assigning podCIDR to node {name}"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnets_of_a_cluster_cidr() {
        let c = Cidr::parse("10.244.0.0/16").unwrap();
        assert_eq!(c.subnet_count(24), 256);
        assert_eq!(c.subnet(24, 0).unwrap().to_string(), "10.244.0.0/24");
        assert_eq!(c.subnet(24, 3).unwrap().to_string(), "10.244.3.0/24");
        assert!(c.subnet(24, 256).is_none());
        assert!(c.subnet(8, 0).is_none());
        assert_eq!(
            Cidr::parse("10.244.7.9/16").unwrap().to_string(),
            "10.244.0.0/16"
        );
        assert!(Cidr::parse("10.244.0.0/33").is_none());
        assert!(Cidr::parse("nonsense").is_none());
    }
}
