//! Upstream's CertificateApproval and CertificateSigning admission: who
//! may approve a CertificateSigningRequest, and who may issue its
//! certificate, depends on its signer.
//!
//! - a write of `/approval` needs the verb `approve` on the resource
//!   `signers` (`certificates.k8s.io`) named after the CSR's `signerName`,
//!   or `<domain>/*` for every signer of that domain;
//! - a write of `/status` that changes `status.certificate` needs `sign`
//!   on the same.
//!
//! So the approver and signer controllers (their roles grant both) and
//! administrators can, and a node that may create CSRs cannot approve its
//! own. The check asks the same authorizer the request went through.

use serde_json::Value;

use crate::authentication::UserInfo;
use crate::authorization::{Attributes, Authorizer};

/// Whether `user` may `verb` (`approve` or `sign`) for `signer`.
fn allowed(authorizer: &Authorizer, user: &UserInfo, verb: &str, signer: &str) -> bool {
    let ask = |name: &str| {
        authorizer
            .authorize(&Attributes {
                user: user.clone(),
                verb: verb.into(),
                resource_request: true,
                namespace: String::new(),
                api_group: "certificates.k8s.io".into(),
                api_version: "*".into(),
                resource: "signers".into(),
                subresource: String::new(),
                name: name.into(),
                path: String::new(),
            })
            .allowed
    };
    let domain_wide = signer.split_once('/').map(|(d, _)| format!("{d}/*"));
    ask(signer) || domain_wide.is_some_and(|w| ask(&w))
}

fn signer(csr: &Value) -> &str {
    csr.pointer("/spec/signerName")
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// CertificateApproval: the refusal message when `user` may not approve
/// (or deny) requests for the CSR's signer.
pub fn check_approval(authorizer: &Authorizer, user: &UserInfo, csr: &Value) -> Option<String> {
    let signer = signer(csr);
    (!allowed(authorizer, user, "approve", signer))
        .then(|| format!("user not permitted to approve requests with signerName {signer:?}"))
}

/// CertificateSigning: the refusal message when a status write changes the
/// certificate and `user` may not sign for the CSR's signer.
pub fn check_signing(
    authorizer: &Authorizer,
    user: &UserInfo,
    new: &Value,
    old: &Value,
) -> Option<String> {
    let cert = |v: &Value| v.pointer("/status/certificate").cloned();
    if cert(new) == cert(old) {
        return None;
    }
    let signer = signer(old);
    (!allowed(authorizer, user, "sign", signer))
        .then(|| format!("user not permitted to sign requests with signerName {signer:?}"))
}
