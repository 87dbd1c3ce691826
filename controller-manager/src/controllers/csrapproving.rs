//! The CSR approver (upstream's `csrapproving`): approves kubelet client
//! certificate requests whose requester may have them, so that TLS
//! bootstrap and client certificate rotation need no administrator.
//!
//! reconcile(name): a CSR not yet approved, denied or issued, whose request
//! is a node client request (signer
//! `kubernetes.io/kube-apiserver-client-kubelet`, see
//! [`crate::machinery::csr::validate_kubelet_client`]), is recognized as
//! - `selfnodeclient` when the requester is the node named in the request
//!   (a kubelet renewing its own certificate), and
//! - `nodeclient` in any case (a bootstrap token asking for a first one).
//!
//! For each recognized kind, in that order, a SubjectAccessReview asks
//! whether the requester (user, groups, extra recorded in the CSR's spec)
//! may `create` `certificatesigningrequests/<kind>`; the first yes appends
//! the `Approved` condition (reason `AutoApproved`) through `/approval`.
//! No yes leaves the CSR pending for a human (`kubectl certificate
//! approve`); the approver never denies. kubeadm grants `nodeclient` to its
//! bootstrap tokens' group and `selfnodeclient` to `system:nodes`.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use k8s_openapi::api::certificates::v1::CertificateSigningRequest;
use kube::api::{Api, PostParams};

use super::{Context, Started};
use crate::machinery::controller::{Action, Context as _, Error, Reconciler, Result};
use crate::machinery::csr::{self, Request};
use crate::machinery::informer::Store;

/// One kind of request the approver knows, and the permission it needs.
struct Recognizer {
    subresource: &'static str,
    recognize: fn(&CertificateSigningRequest, &Request) -> bool,
    message: &'static str,
}

const RECOGNIZERS: &[Recognizer] = &[
    Recognizer {
        subresource: "selfnodeclient",
        recognize: is_self_node_client,
        message: "Auto approving self kubelet client certificate after SubjectAccessReview.",
    },
    Recognizer {
        subresource: "nodeclient",
        recognize: is_node_client,
        message: "Auto approving kubelet client certificate after SubjectAccessReview.",
    },
];

fn is_node_client(c: &CertificateSigningRequest, req: &Request) -> bool {
    c.spec.signer_name == csr::KUBELET_CLIENT_SIGNER
        && csr::validate_kubelet_client(req, &csr::usages(c)).is_ok()
}

fn is_self_node_client(c: &CertificateSigningRequest, req: &Request) -> bool {
    c.spec.username.as_deref() == Some(req.common_name().as_str()) && is_node_client(c, req)
}

/// Registers the handler and returns the workers.
pub fn start(ctx: &Context) -> Started {
    let (csrs, queue) = csr::informer_and_queue(ctx, "csrapproving");
    let c = Arc::new(Approver {
        csrs: csrs.store(),
        client: ctx.client.clone(),
    });
    ctx.workers(c, queue)
}

/// The controller's state.
pub struct Approver {
    csrs: Store<CertificateSigningRequest>,
    client: kube::Client,
}

impl Reconciler for Approver {
    fn name(&self) -> &'static str {
        "csrapproving"
    }

    async fn reconcile(&self, name: &str) -> Result<Action> {
        let Some(c) = self.csrs.get(name) else {
            return Ok(Action::Done);
        };
        if !csr::awaiting_decision(&c) {
            return Ok(Action::Done);
        }
        let req = Request::parse(&c.spec.request.0)
            .map_err(|e| Error::Invalid(format!("unable to parse csr {name:?}: {e}")))?;
        for r in RECOGNIZERS.iter().filter(|r| (r.recognize)(&c, &req)) {
            if !self.allowed(&c, r.subresource).await? {
                continue;
            }
            if csr::approve(&self.client, &c, r.message)
                .await
                .context(|| format!("updating approval for csr {name}"))?
            {
                tracing::info!(csr = name, kind = r.subresource, "auto-approved");
            }
            return Ok(Action::Done);
        }
        Ok(Action::Done)
    }
}

impl Approver {
    /// Whether the CSR's requester may `create`
    /// `certificatesigningrequests/<subresource>`.
    async fn allowed(&self, c: &CertificateSigningRequest, subresource: &str) -> Result<bool> {
        let sar = SubjectAccessReview {
            spec: SubjectAccessReviewSpec {
                user: c.spec.username.clone(),
                uid: c.spec.uid.clone(),
                groups: c.spec.groups.clone(),
                extra: c
                    .spec
                    .extra
                    .clone()
                    .map(|e| e.into_iter().collect::<BTreeMap<_, _>>()),
                resource_attributes: Some(ResourceAttributes {
                    group: Some("certificates.k8s.io".into()),
                    resource: Some("certificatesigningrequests".into()),
                    verb: Some("create".into()),
                    subresource: Some(subresource.into()),
                    version: Some("*".into()),
                    ..Default::default()
                }),
                ..Default::default()
            },
            ..Default::default()
        };
        let api: Api<SubjectAccessReview> = Api::all(self.client.clone());
        let review = api
            .create(&PostParams::default(), &sar)
            .await
            .context(|| "creating a SubjectAccessReview".into())?;
        Ok(review.status.is_some_and(|s| s.allowed))
    }
}
