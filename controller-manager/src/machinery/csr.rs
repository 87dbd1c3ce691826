//! What the CertificateSigningRequest controllers share (upstream's
//! `pkg/apis/certificates` helpers and `pkg/controller/certificates`):
//! reading the PKCS#10 request of a CSR, the conditions that say whether it
//! was approved, denied or failed, and the rules that make a request a
//! kubelet's client or serving certificate request.
//!
//! The approver ([`crate::controllers::csrapproving`]) recognizes node
//! client requests with these rules before it asks whether the requester
//! may have them; the signer ([`crate::controllers::csrsigning`]) checks the
//! same rules again before it signs (an administrator may approve anything,
//! a signer signs only what its signer name allows).

use std::collections::BTreeSet;

use k8s_openapi::api::certificates::v1::CertificateSigningRequest;
use rcgen::{CertificateSigningRequestParams, DnType, DnValue, SanType};

/// The shared CSR informer and a queue named `name` that gets the name of
/// every CSR added or changed (what both CSR controllers react to).
pub fn informer_and_queue(
    ctx: &crate::controllers::Context,
    name: &'static str,
) -> (
    std::sync::Arc<super::informer::Informer<CertificateSigningRequest>>,
    std::sync::Arc<super::queue::Queue>,
) {
    let csrs = ctx.factory.informer::<CertificateSigningRequest>();
    let queue = super::queue::Queue::new(name);
    let q = std::sync::Arc::clone(&queue);
    csrs.add_handler(move |_, new| {
        if let Some(name) = new.and_then(|c| c.metadata.name.clone()) {
            q.add(name);
        }
    });
    (csrs, queue)
}

/// The signer of kubelet client certificates (the TLS bootstrap's).
pub const KUBELET_CLIENT_SIGNER: &str = "kubernetes.io/kube-apiserver-client-kubelet";
/// The signer of kubelet serving certificates.
pub const KUBELET_SERVING_SIGNER: &str = "kubernetes.io/kubelet-serving";
/// The signer of any client certificate for the apiserver.
pub const APISERVER_CLIENT_SIGNER: &str = "kubernetes.io/kube-apiserver-client";
/// The group of every node.
pub const NODES_GROUP: &str = "system:nodes";
/// The prefix of every node's user name.
pub const NODE_USER_PREFIX: &str = "system:node:";

/// A parsed (and signature-checked) PKCS#10 request.
pub struct Request {
    /// What rcgen read: the subject, the alternative names, the key.
    pub params: CertificateSigningRequestParams,
}

impl Request {
    /// Parses the PEM of `spec.request`; the request must be signed by the
    /// key it carries.
    pub fn parse(pem: &[u8]) -> Result<Request, String> {
        let text = std::str::from_utf8(pem).map_err(|_| "the request is not PEM".to_string())?;
        if !text.contains("-----BEGIN CERTIFICATE REQUEST-----") {
            return Err("PEM block type must be CERTIFICATE REQUEST".into());
        }
        CertificateSigningRequestParams::from_pem(text)
            .map(|params| Request { params })
            .map_err(|e| format!("parsing the certificate request: {e}"))
    }

    fn dn(&self, ty: DnType) -> Vec<String> {
        self.params
            .params
            .distinguished_name
            .iter()
            .filter(|(t, _)| **t == ty)
            .map(|(_, v)| dn_text(v))
            .collect()
    }

    /// The subject's CommonName ("" without one).
    pub fn common_name(&self) -> String {
        self.dn(DnType::CommonName)
            .into_iter()
            .next()
            .unwrap_or_default()
    }

    /// The subject's Organizations, in order.
    pub fn organizations(&self) -> Vec<String> {
        self.dn(DnType::OrganizationName)
    }

    fn sans(&self, f: impl Fn(&SanType) -> bool) -> usize {
        self.params
            .params
            .subject_alt_names
            .iter()
            .filter(|s| f(s))
            .count()
    }
}

fn dn_text(v: &DnValue) -> String {
    match v {
        DnValue::Utf8String(s) => s.clone(),
        DnValue::PrintableString(s) => s.as_str().to_string(),
        DnValue::Ia5String(s) => s.as_str().to_string(),
        DnValue::TeletexString(s) => s.as_str().to_string(),
        _ => String::new(),
    }
}

/// The usages of a CSR as a set.
pub fn usages(csr: &CertificateSigningRequest) -> BTreeSet<String> {
    csr.spec.usages.iter().flatten().cloned().collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// Upstream's `ValidateKubeletClientCSR`: O exactly `system:nodes`, no
/// alternative names, CN `system:node:<name>`, usages `digital signature`
/// and `client auth` (plus `key encipherment` for RSA keys).
pub fn validate_kubelet_client(req: &Request, usages: &BTreeSet<String>) -> Result<(), String> {
    if req.organizations() != [NODES_GROUP] {
        return Err("subject organization is not system:nodes".into());
    }
    if req.sans(|s| matches!(s, SanType::DnsName(_))) > 0 {
        return Err("DNS subjectAltNames are not allowed".into());
    }
    if req.sans(|s| matches!(s, SanType::Rfc822Name(_))) > 0 {
        return Err("Email subjectAltNames are not allowed".into());
    }
    if req.sans(|s| matches!(s, SanType::IpAddress(_))) > 0 {
        return Err("IP subjectAltNames are not allowed".into());
    }
    if req.sans(|s| matches!(s, SanType::URI(_))) > 0 {
        return Err("URI subjectAltNames are not allowed".into());
    }
    if !req.common_name().starts_with(NODE_USER_PREFIX) {
        return Err("subject common name does not begin with system:node:".into());
    }
    let full = set(&["digital signature", "key encipherment", "client auth"]);
    if *usages != full && *usages != set(&["digital signature", "client auth"]) {
        return Err(format!("usages did not match {:?}", Vec::from_iter(full)));
    }
    Ok(())
}

/// Upstream's `ValidateKubeletServingCSR`: O exactly `system:nodes`, at
/// least one DNS or IP name and no other kind, CN `system:node:<name>`,
/// usages `digital signature` and `server auth` (plus `key encipherment`).
pub fn validate_kubelet_serving(req: &Request, usages: &BTreeSet<String>) -> Result<(), String> {
    if req.organizations() != [NODES_GROUP] {
        return Err("subject organization is not system:nodes".into());
    }
    if req.sans(|s| matches!(s, SanType::DnsName(_) | SanType::IpAddress(_))) == 0 {
        return Err("DNS or IP subjectAltName is required".into());
    }
    if req.sans(|s| matches!(s, SanType::Rfc822Name(_))) > 0 {
        return Err("Email subjectAltNames are not allowed".into());
    }
    if req.sans(|s| matches!(s, SanType::URI(_))) > 0 {
        return Err("URI subjectAltNames are not allowed".into());
    }
    let full = set(&["digital signature", "key encipherment", "server auth"]);
    if *usages != full && *usages != set(&["digital signature", "server auth"]) {
        return Err(format!("usages did not match {:?}", Vec::from_iter(full)));
    }
    if !req.common_name().starts_with(NODE_USER_PREFIX) {
        return Err("subject common name does not begin with system:node:".into());
    }
    Ok(())
}

/// Upstream's check for `kubernetes.io/kube-apiserver-client`: client auth
/// and nothing beyond digital signature and key encipherment.
pub fn validate_apiserver_client(usages: &BTreeSet<String>) -> Result<(), String> {
    for u in usages {
        if !["digital signature", "key encipherment", "client auth"].contains(&u.as_str()) {
            return Err(format!("invalid usage for client certificate: {u}"));
        }
    }
    if !usages.contains("client auth") {
        return Err("missing required usage for client certificate: client auth".into());
    }
    Ok(())
}

/// Whether the CSR has a condition of `type_` with status True (upstream
/// counts Approved and Denied whatever their status; see [`approved`]).
pub fn has_true_condition(csr: &CertificateSigningRequest, type_: &str) -> bool {
    conditions(csr).any(|c| c.type_ == type_ && c.status == "True")
}

fn conditions(
    csr: &CertificateSigningRequest,
) -> impl Iterator<Item = &k8s_openapi::api::certificates::v1::CertificateSigningRequestCondition> {
    csr.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .into_iter()
        .flatten()
}

/// (approved, denied), as upstream's `GetCertApprovalCondition`.
pub fn approval(csr: &CertificateSigningRequest) -> (bool, bool) {
    let approved = conditions(csr).any(|c| c.type_ == "Approved");
    let denied = conditions(csr).any(|c| c.type_ == "Denied");
    (approved, denied)
}

/// Approved and not denied (upstream's `IsCertificateRequestApproved`).
pub fn approved(csr: &CertificateSigningRequest) -> bool {
    approval(csr) == (true, false)
}

/// Appends the `Approved` condition (reason `AutoApproved`, `message`)
/// through the `approval` subresource; `Ok(false)` on a conflict (the watch
/// brings the newer version back to the queue).
pub async fn approve(
    client: &kube::Client,
    csr: &CertificateSigningRequest,
    message: &str,
) -> Result<bool, kube::Error> {
    use k8s_openapi::api::certificates::v1::{
        CertificateSigningRequestCondition, CertificateSigningRequestStatus,
    };
    let mut c = csr.clone();
    let name = c.metadata.name.clone().unwrap_or_default();
    c.status
        .get_or_insert_with(CertificateSigningRequestStatus::default)
        .conditions
        .get_or_insert_with(Vec::new)
        .push(CertificateSigningRequestCondition {
            type_: "Approved".into(),
            status: "True".into(),
            reason: Some("AutoApproved".into()),
            message: Some(message.into()),
            last_update_time: Some(super::meta::now()),
            ..Default::default()
        });
    let api: kube::Api<CertificateSigningRequest> = kube::Api::all(client.clone());
    match api
        .replace_subresource("approval", &name, &kube::api::PostParams::default(), &c)
        .await
    {
        Ok(_) => Ok(true),
        Err(e) if super::controller::is_conflict(&e) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Whether a certificate was issued.
pub fn issued(csr: &CertificateSigningRequest) -> bool {
    csr.status
        .as_ref()
        .and_then(|s| s.certificate.as_ref())
        .is_some_and(|c| !c.0.is_empty())
}

/// Neither approved nor denied, and no certificate yet: what an approver
/// may still decide on.
pub fn awaiting_decision(csr: &CertificateSigningRequest) -> bool {
    !issued(csr) && approval(csr) == (false, false)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use rcgen::{CertificateParams, DistinguishedName, KeyPair};

    /// A PEM request for `cn` in `orgs` with `sans`.
    pub fn request(cn: &str, orgs: &[&str], sans: Vec<SanType>) -> String {
        let key = KeyPair::generate().expect("key");
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        for o in orgs {
            dn.push(DnType::OrganizationName, *o);
        }
        dn.push(DnType::CommonName, cn);
        params.distinguished_name = dn;
        params.subject_alt_names = sans;
        params
            .serialize_request(&key)
            .expect("csr")
            .pem()
            .expect("pem")
    }

    #[test]
    fn node_client_requests_follow_upstream() {
        let u = set(&["digital signature", "client auth"]);
        let ok = Request::parse(request("system:node:a", &["system:nodes"], vec![]).as_bytes())
            .expect("parse");
        assert_eq!(ok.common_name(), "system:node:a");
        assert!(validate_kubelet_client(&ok, &u).is_ok());
        assert!(validate_kubelet_client(&ok, &set(&["client auth"])).is_err());
        let admin =
            Request::parse(request("system:node:a", &["system:masters"], vec![]).as_bytes())
                .expect("parse");
        assert!(validate_kubelet_client(&admin, &u).is_err());
        let other =
            Request::parse(request("alice", &["system:nodes"], vec![]).as_bytes()).expect("parse");
        assert!(validate_kubelet_client(&other, &u).is_err());
        let with_dns = Request::parse(
            request(
                "system:node:a",
                &["system:nodes"],
                vec![SanType::DnsName("a".try_into().expect("ia5"))],
            )
            .as_bytes(),
        )
        .expect("parse");
        assert!(validate_kubelet_client(&with_dns, &u).is_err());
        assert!(
            validate_kubelet_serving(&with_dns, &set(&["digital signature", "server auth"]))
                .is_ok()
        );
        assert!(Request::parse(b"not pem").is_err());
    }
}
