//! The kubelet serving CSR approver (`csrapproving-kubelet-serving`; ours,
//! off unless named: `--controllers=*,csrapproving-kubelet-serving`).
//!
//! Why it exists: with `serverTLSBootstrap` every kubelet asks for its
//! :10250 serving certificate through a CSR (signer
//! `kubernetes.io/kubelet-serving`), and upstream's `csrapproving` never
//! approves those: a node's credentials do not prove that it owns the names
//! and IPs it asks for. Upstream leaves them to an administrator or an
//! out-of-tree approver. This is such an approver, with one rule that makes
//! the proof good enough for a cluster whose Node objects are written only
//! by their kubelets (the Node authorizer and NodeRestriction see to that):
//! a node may have a certificate for the addresses its Node already
//! reports, and nothing else.
//!
//! reconcile(name): a CSR not yet approved, denied or issued, for
//! `kubernetes.io/kubelet-serving`, is approved (condition `Approved`,
//! reason `AutoApproved`) only when
//! - it is a valid serving request ([`csr::validate_kubelet_serving`]: O
//!   `system:nodes`, CN `system:node:<n>`, DNS/IP names only, usages exactly
//!   `digital signature` + `server auth`, plus `key encipherment` for RSA);
//! - its requester is that node: user `system:node:<n>` equal to the CN, in
//!   group `system:nodes` (not a bootstrap token, not an administrator);
//! - Node `<n>` exists and every DNS and IP name of the request is one of
//!   its `status.addresses`.
//!
//! Otherwise the CSR is left pending, never denied (an administrator may
//! still approve it), with a Warning Event `CSRNotAutoApproved` saying why.
//! A change of a Node's addresses re-queues its node's pending requests, so
//! a request that came before the Node reported an address is approved once
//! it does.

use std::net::IpAddr;
use std::sync::Arc;

use k8s_openapi::api::certificates::v1::CertificateSigningRequest;
use k8s_openapi::api::core::v1::Node;
use rcgen::SanType;

use super::{Context, Started};
use crate::events::{Recorder, NORMAL, WARNING};
use crate::machinery::controller::{Action, Context as _, Error, Reconciler, Result};
use crate::machinery::csr::{self, Request};
use crate::machinery::informer::Store;

/// The controller's name in `--controllers`.
pub const NAME: &str = "csrapproving-kubelet-serving";

/// Registers the handlers and returns the workers.
pub fn start(ctx: &Context) -> Started {
    let (csrs, queue) = csr::informer_and_queue(ctx, NAME);
    let nodes = ctx.factory.informer::<Node>();
    let csr_store = csrs.store();
    let q = Arc::clone(&queue);
    let addresses = |n: Option<&Arc<Node>>| {
        n.and_then(|n| n.status.as_ref())
            .and_then(|s| s.addresses.clone())
    };
    nodes.add_handler(move |old, new| {
        // Heartbeats change the Node all the time; only its addresses
        // matter here.
        if old.is_some() && addresses(old) == addresses(new) {
            return;
        }
        let Some(node) = new.and_then(|n| n.metadata.name.clone()) else {
            return;
        };
        let user = format!("{}{node}", csr::NODE_USER_PREFIX);
        for c in csr_store.list() {
            if c.spec.signer_name == csr::KUBELET_SERVING_SIGNER
                && c.spec.username.as_deref() == Some(user.as_str())
                && csr::awaiting_decision(&c)
            {
                q.add(c.metadata.name.clone().unwrap_or_default());
            }
        }
    });
    let c = Arc::new(ServingApprover {
        csrs: csrs.store(),
        nodes: nodes.store(),
        client: ctx.client.clone(),
        recorder: ctx.recorder("certificate-controller"),
    });
    ctx.workers(c, queue)
}

/// The controller's state.
pub struct ServingApprover {
    csrs: Store<CertificateSigningRequest>,
    nodes: Store<Node>,
    client: kube::Client,
    recorder: Recorder,
}

impl Reconciler for ServingApprover {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn reconcile(&self, name: &str) -> Result<Action> {
        let Some(c) = self.csrs.get(name) else {
            return Ok(Action::Done);
        };
        if c.spec.signer_name != csr::KUBELET_SERVING_SIGNER || !csr::awaiting_decision(&c) {
            return Ok(Action::Done);
        }
        let req = Request::parse(&c.spec.request.0)
            .map_err(|e| Error::Invalid(format!("unable to parse csr {name:?}: {e}")))?;
        match check(&c, &req, &self.nodes) {
            Err(why) => {
                self.recorder.event(
                    &*c,
                    WARNING,
                    "CSRNotAutoApproved",
                    format!("Left pending for an administrator: {why}"),
                );
                Ok(Action::Done)
            }
            Ok(node) => {
                let message = format!(
                    "Auto approving kubelet serving certificate: requested by node {node} for addresses it reports."
                );
                if csr::approve(&self.client, &c, &message)
                    .await
                    .context(|| format!("updating approval for csr {name}"))?
                {
                    self.recorder
                        .event(&*c, NORMAL, "CSRAutoApproved", message.clone());
                }
                Ok(Action::Done)
            }
        }
    }
}

/// The node the request is for, if every rule holds; else why not.
fn check(
    c: &CertificateSigningRequest,
    req: &Request,
    nodes: &Store<Node>,
) -> Result<String, String> {
    csr::validate_kubelet_serving(req, &csr::usages(c))?;
    let cn = req.common_name();
    let node = cn
        .strip_prefix(csr::NODE_USER_PREFIX)
        .unwrap_or_default()
        .to_string();
    if c.spec.username.as_deref() != Some(cn.as_str()) {
        return Err(format!(
            "requested by {:?}, not by node {node} itself",
            c.spec.username.clone().unwrap_or_default()
        ));
    }
    if !c
        .spec
        .groups
        .iter()
        .flatten()
        .any(|g| g == csr::NODES_GROUP)
    {
        return Err(format!("requester is not in group {}", csr::NODES_GROUP));
    }
    let n = nodes
        .get(&node)
        .ok_or_else(|| format!("node {node} does not exist"))?;
    let addresses = n
        .status
        .as_ref()
        .and_then(|s| s.addresses.as_ref())
        .cloned()
        .unwrap_or_default();
    for san in &req.params.params.subject_alt_names {
        let owned = match san {
            SanType::DnsName(d) => addresses.iter().any(|a| a.address == d.as_str()),
            SanType::IpAddress(ip) => addresses
                .iter()
                .any(|a| a.address.parse::<IpAddr>().ok() == Some(*ip)),
            // validate_kubelet_serving allows only DNS and IP names.
            _ => false,
        };
        if !owned {
            return Err(format!(
                "{} is not among node {node}'s status.addresses",
                san_text(san)
            ));
        }
    }
    Ok(node)
}

fn san_text(san: &SanType) -> String {
    match san {
        SanType::DnsName(d) => format!("DNS name {}", d.as_str()),
        SanType::IpAddress(ip) => format!("IP {ip}"),
        other => format!("{other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::machinery::csr::tests::request;
    use serde_json::json;

    fn csr(user: &str, groups: &[&str], pem: &str, usages: &[&str]) -> CertificateSigningRequest {
        serde_json::from_value(json!({
            "metadata": {"name": "c"},
            "spec": {
                "request": base64::Engine::encode(&base64::engine::general_purpose::STANDARD, pem),
                "signerName": csr::KUBELET_SERVING_SIGNER,
                "usages": usages,
                "username": user,
                "groups": groups,
            }
        }))
        .expect("csr")
    }

    #[test]
    fn only_the_node_itself_for_addresses_it_reports() {
        let nodes = Store::<Node>::default();
        nodes.insert(
            serde_json::from_value(json!({
                "metadata": {"name": "n1"},
                "status": {"addresses": [
                    {"type": "InternalIP", "address": "10.0.0.5"},
                    {"type": "Hostname", "address": "n1"},
                ]},
            }))
            .expect("node"),
        );
        let own = || {
            vec![
                SanType::DnsName("n1".try_into().expect("dns")),
                SanType::IpAddress("10.0.0.5".parse().expect("ip")),
            ]
        };
        let serving = ["digital signature", "server auth"];
        let nodes_group = [csr::NODES_GROUP];
        let verdict = |user: &str, groups: &[&str], cn: &str, sans, usages: &[&str]| {
            let pem = request(cn, &["system:nodes"], sans);
            let c = csr(user, groups, &pem, usages);
            let req = Request::parse(pem.as_bytes()).expect("parse");
            check(&c, &req, &nodes)
        };
        let me = "system:node:n1";
        assert_eq!(
            verdict(me, &nodes_group, me, own(), &serving),
            Ok("n1".to_string())
        );
        let mut foreign = own();
        foreign.push(SanType::IpAddress("10.9.9.9".parse().expect("ip")));
        let why = verdict(me, &nodes_group, me, foreign, &serving).expect_err("foreign IP");
        assert!(why.contains("IP 10.9.9.9 is not among"), "{why}");
        let why =
            verdict("system:node:n2", &nodes_group, me, own(), &serving).expect_err("another node");
        assert!(why.contains("not by node n1"), "{why}");
        let why = verdict(me, &[], me, own(), &serving).expect_err("no group");
        assert!(why.contains("system:nodes"), "{why}");
        assert!(
            verdict(
                me,
                &nodes_group,
                me,
                own(),
                &["digital signature", "client auth"]
            )
            .is_err(),
            "client usages"
        );
        let ghost = "system:node:ghost";
        let why = verdict(ghost, &nodes_group, ghost, own(), &serving).expect_err("no node");
        assert!(why.contains("does not exist"), "{why}");
    }
}
