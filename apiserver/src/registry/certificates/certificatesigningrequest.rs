//! CertificateSigningRequests: a request for a certificate from a signer.
//! The request (PEM) and the signer are required, usages must be known ones
//! and the spec never changes; the server records the requester. Approval
//! and denial are conditions written through `/approval`, the certificate
//! through `/status` (the main resource keeps both). Signing belongs to the
//! signer controllers. Names are any path segment, as upstream (the
//! kubelet's bootstrap requests are `node-csr-<base64url digest>`).

use k8s_openapi::api::certificates::v1::CertificateSigningRequest;
use serde_json::{json, Value};

use crate::authentication::UserInfo;
use crate::printers::*;
use crate::registry::generic::Typed;
use crate::validation::rules::{at_least, items, one_of, require_nonempty};
use crate::validation::{invalid, FieldError, NameRule};

/// The CertificateSigningRequest strategy.
pub const STRATEGY: Typed<CertificateSigningRequest> = Typed::new(COLUMNS, cells)
    .rules(rules)
    .keep_on_update(&["spec"])
    .records_creator(record_requester)
    .names(NameRule::PathSegment)
    .with_status();

const USAGES: &[&str] = &[
    "signing",
    "digital signature",
    "content commitment",
    "key encipherment",
    "key agreement",
    "data encipherment",
    "cert sign",
    "crl sign",
    "encipher only",
    "decipher only",
    "any",
    "server auth",
    "client auth",
    "code signing",
    "email protection",
    "s/mime",
    "ipsec end system",
    "ipsec tunnel",
    "ipsec user",
    "timestamping",
    "ocsp signing",
    "microsoft sgc",
    "netscape sgc",
];

/// As upstream, `spec.username`, `uid`, `groups` and `extra` are the
/// authenticated requester's (see [`crate::authentication`]), whatever the
/// client wrote.
fn record_requester(user: &UserInfo, obj: &mut Value) {
    if let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) {
        spec.insert("username".into(), json!(user.username));
        spec.insert("groups".into(), json!(user.groups));
        if user.uid.is_empty() {
            spec.remove("uid");
        } else {
            spec.insert("uid".into(), json!(user.uid));
        }
        if user.extra.is_empty() {
            spec.remove("extra");
        } else {
            spec.insert("extra".into(), json!(user.extra));
        }
    }
}

fn rules(obj: &Value, errs: &mut Vec<FieldError>) {
    require_nonempty(obj, "/spec/request", errs);
    require_nonempty(obj, "/spec/signerName", errs);
    require_nonempty(obj, "/spec/usages", errs);
    for (p, _) in items(obj, "/spec/usages") {
        one_of(obj, &p, USAGES, errs);
    }
    at_least(obj, "/spec/expirationSeconds", 600, errs);
    let signer = s(obj, "/spec/signerName");
    if !signer.is_empty() && !signer.contains('/') {
        errs.push(invalid(
            "spec.signerName",
            &json!(signer),
            "must be a fully qualified domain and path of the form 'example.com/signer-name'",
        ));
    }
    for (p, _) in items(obj, "/status/conditions") {
        require_nonempty(obj, &format!("{p}/type"), errs);
        one_of(
            obj,
            &format!("{p}/status"),
            &["True", "False", "Unknown"],
            errs,
        );
    }
}

#[rustfmt::skip]
const COLUMNS: &[Column] = &[
    NAME,
    AGE,
    col("SignerName", "string", 0, "Requested signer for the request."),
    col("Requestor", "string", 0, "Information about the requesting user."),
    col("RequestedDuration", "string", 0, "expirationSeconds is the requested duration of validity of the issued certificate."),
    col("Condition", "string", 0, "Conditions applied to the request, such as approval or denial."),
];

fn cells(obj: &Value) -> Vec<Value> {
    let has = |ty: &str| {
        arr(obj, "/status/conditions")
            .iter()
            .any(|c| s(c, "/type") == ty)
    };
    let mut condition = if has("Denied") {
        "Denied".to_string()
    } else if has("Approved") {
        "Approved".to_string()
    } else {
        "Pending".to_string()
    };
    if has("Failed") {
        condition.push_str(",Failed");
    }
    if !s(obj, "/status/certificate").is_empty() {
        condition.push_str(",Issued");
    }
    let duration = match obj
        .pointer("/spec/expirationSeconds")
        .and_then(Value::as_i64)
    {
        Some(secs) => human_duration(secs),
        None => "<none>".into(),
    };
    vec![
        json!(s(obj, "/metadata/name")),
        json!(age(obj)),
        json!(or(s(obj, "/spec/signerName"), "<none>")),
        json!(s(obj, "/spec/username")),
        json!(duration),
        json!(condition),
    ]
}
