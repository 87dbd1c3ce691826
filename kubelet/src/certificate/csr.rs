//! One client certificate through the CSR API: a new ECDSA P-256 key, a
//! request for `system:node:<name>` in `system:nodes` with the usages
//! upstream's kubelet asks for (`digital signature`, `client auth`; no
//! `key encipherment` for an EC key), signer
//! `kubernetes.io/kube-apiserver-client-kubelet`; then wait until the CSR
//! has a certificate, or was denied or failed.
//!
//! Bootstrap requests are named as upstream's: `node-csr-` and a digest of
//! the key and subject, so a kubelet restarted mid-bootstrap with the same
//! key finds its own request again. Renewals use `generateName: csr-`.

use std::time::Duration;

use base64::Engine;
use futures::StreamExt;
use k8s_openapi::api::certificates::v1::{
    CertificateSigningRequest, CertificateSigningRequestSpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::ByteString;
use kube::api::{Api, PostParams};
use kube::runtime::watcher::{self, watcher};
use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair};
use sha2::Digest;

use super::store::Pair;
use super::Error;

/// The signer of kubelet client certificates.
pub const SIGNER: &str = "kubernetes.io/kube-apiserver-client-kubelet";
/// The usages the kubelet asks for (EC key).
pub const USAGES: &[&str] = &["digital signature", "client auth"];

/// How a request is named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Naming {
    /// `node-csr-<digest>` (bootstrap).
    Digest,
    /// `generateName: csr-` (rotation).
    Generated,
}

/// Asks for a client certificate for `node` with `client`; waits up to
/// `timeout` for it.
pub async fn request(
    client: &kube::Client,
    node: &str,
    naming: Naming,
    timeout: Duration,
) -> Result<Pair, Error> {
    let key = KeyPair::generate().map_err(|e| Error::Invalid(format!("making a key: {e}")))?;
    let cn = format!("system:node:{node}");
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "system:nodes");
    dn.push(DnType::CommonName, cn.clone());
    params.distinguished_name = dn;
    let pem = params
        .serialize_request(&key)
        .and_then(|r| r.pem())
        .map_err(|e| Error::Invalid(format!("making the request: {e}")))?;
    let mut metadata = ObjectMeta::default();
    match naming {
        Naming::Digest => {
            let mut h = sha2::Sha512::new();
            h.update(key.public_key_pem().as_bytes());
            h.update(cn.as_bytes());
            h.update(b"system:nodes");
            for u in USAGES {
                h.update(u.as_bytes());
            }
            let digest = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(h.finalize());
            metadata.name = Some(format!("node-csr-{}", &digest[..43]));
        }
        Naming::Generated => metadata.generate_name = Some("csr-".into()),
    }
    let csr = CertificateSigningRequest {
        metadata,
        spec: CertificateSigningRequestSpec {
            request: ByteString(pem.into_bytes()),
            signer_name: SIGNER.into(),
            usages: Some(USAGES.iter().map(|u| u.to_string()).collect()),
            ..Default::default()
        },
        status: None,
    };
    let api: Api<CertificateSigningRequest> = Api::all(client.clone());
    let created = api
        .create(&PostParams::default(), &csr)
        .await
        .map_err(|source| Error::Api {
            context: "creating the certificate signing request".into(),
            source,
        })?;
    let name = created.metadata.name.clone().unwrap_or_default();
    tracing::info!(csr = %name, "waiting for the client certificate");
    let cert = tokio::time::timeout(timeout, wait(&api, &name))
        .await
        .map_err(|_| Error::Invalid(format!("timed out waiting for csr {name} to be signed")))??;
    Pair::new(cert, key.serialize_pem())
}

/// Watches the CSR until it has a certificate or a Denied/Failed condition.
async fn wait(api: &Api<CertificateSigningRequest>, name: &str) -> Result<String, Error> {
    let cfg = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let mut events = std::pin::pin!(watcher(api.clone(), cfg));
    while let Some(ev) = events.next().await {
        let objs = match ev {
            Ok(watcher::Event::Apply(o)) | Ok(watcher::Event::InitApply(o)) => vec![o],
            Ok(_) => continue,
            Err(e) => {
                tracing::warn!(error = %e, csr = name, "watching the request");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        for o in objs {
            let status = o.status.unwrap_or_default();
            for c in status.conditions.iter().flatten() {
                if c.type_ == "Denied" || (c.type_ == "Failed" && c.status == "True") {
                    return Err(Error::Refused {
                        name: name.into(),
                        how: c.type_.to_lowercase(),
                        message: c.message.clone().unwrap_or_default(),
                    });
                }
            }
            if let Some(cert) = status.certificate.filter(|c| !c.0.is_empty()) {
                return String::from_utf8(cert.0)
                    .map_err(|_| Error::Invalid("the issued certificate is not PEM".into()));
            }
        }
    }
    Err(Error::Invalid(format!("the watch of csr {name} ended")))
}
