//! `kubectl certificate approve|deny NAME...`: add the `Approved` or
//! `Denied` condition to CertificateSigningRequests through their
//! `/approval` subresource (a PUT of the whole object, as upstream).
//!
//! As upstream: a CSR that already has the condition is left alone unless
//! `--force`; one that has the opposite condition is an error; the reasons
//! are `KubectlApprove` and `KubectlDeny`.

use http::Method;
use serde_json::{json, Value};

use crate::cli::CertificateArgs;
use crate::client::Rest;
use crate::error::{Error, Result};

const BASE: &str = "/apis/certificates.k8s.io/v1/certificatesigningrequests";

/// Approves (`approve`) or denies each named CSR.
pub async fn run(rest: &Rest, args: CertificateArgs, approve: bool) -> Result<i32> {
    let (ty, other, reason, message, word) = if approve {
        (
            "Approved",
            "Denied",
            "KubectlApprove",
            "This CSR was approved by kubectl certificate approve.",
            "approved",
        )
    } else {
        (
            "Denied",
            "Approved",
            "KubectlDeny",
            "This CSR was denied by kubectl certificate deny.",
            "denied",
        )
    };
    let mut code = 0;
    for name in &args.names {
        let path = format!("{BASE}/{name}");
        let mut csr = match rest.get(&path).await {
            Ok(c) => c,
            Err(e) => {
                eprintln!("{}", e.render());
                code = 1;
                continue;
            }
        };
        let conditions = csr["status"]["conditions"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let has = |t: &str| conditions.iter().any(|c| c["type"] == t);
        if has(other) {
            eprintln!(
                "error: certificate signing request {name:?} is already {}",
                other.to_lowercase()
            );
            code = 1;
            continue;
        }
        if !has(ty) || args.force {
            let mut conditions = conditions;
            conditions.push(json!({
                "type": ty,
                "status": "True",
                "reason": reason,
                "message": message,
                "lastUpdateTime": chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            }));
            if !csr["status"].is_object() {
                csr["status"] = json!({});
            }
            csr["status"]["conditions"] = Value::Array(conditions);
            rest.call(
                Method::PUT,
                &format!("{path}/approval"),
                Some("application/json"),
                Some(serde_json::to_vec(&csr).map_err(Error::from)?),
            )
            .await?;
        }
        println!("certificatesigningrequest.certificates.k8s.io/{name} {word}");
    }
    Ok(code)
}
