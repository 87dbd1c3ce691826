//! The CSR signer (upstream's `csrsigning`): issues the certificates of
//! approved CertificateSigningRequests for the signers whose certificates
//! the apiserver trusts, with the cluster CA given by
//! `--cluster-signing-cert-file` and `--cluster-signing-key-file` (without
//! them it does not run).
//!
//! reconcile(name): a CSR that is approved (and not denied), not failed and
//! not yet issued, for one of
//! - `kubernetes.io/kube-apiserver-client-kubelet` (node client: the TLS
//!   bootstrap and rotation),
//! - `kubernetes.io/kubelet-serving` (node serving certificates),
//! - `kubernetes.io/kube-apiserver-client` (any client),
//!
//! is checked against that signer's rules again (an approval does not make
//! a bad request good); a request that breaks them gets the `Failed`
//! condition (reason `SignerValidationFailure`), one that keeps them gets
//! its certificate in `status.certificate`. The certificate has the
//! request's subject, alternative names and key, the usages of
//! `spec.usages`, and lives `spec.expirationSeconds` (at least 10 minutes)
//! capped by `--cluster-signing-duration`; it starts 5 minutes in the past
//! (clock skew between machines) and never outlives the CA, as upstream.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::certificates::v1::{
    CertificateSigningRequest, CertificateSigningRequestCondition, CertificateSigningRequestStatus,
};
use k8s_openapi::ByteString;
use kube::api::{Api, PostParams};
use rcgen::{ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, SerialNumber};

use super::{Context, Started};
use crate::machinery::controller::{is_conflict, Action, Context as _, Error, Reconciler, Result};
use crate::machinery::csr::{self, Request};
use crate::machinery::informer::Store;

/// `--cluster-signing-*`: the CA and the longest certificate it issues.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `--cluster-signing-cert-file`: the CA certificate (PEM).
    pub cert_file: PathBuf,
    /// `--cluster-signing-key-file`: its private key (PEM).
    pub key_file: PathBuf,
    /// `--cluster-signing-duration`.
    pub duration: Duration,
}

/// Upstream's default `--cluster-signing-duration` (one year).
pub const DEFAULT_DURATION: Duration = Duration::from_secs(8760 * 3600);
/// How far in the past certificates start.
const BACKDATE: Duration = Duration::from_secs(5 * 60);
/// Certificates shorter than this are not shortened by the backdate.
const SHORT: Duration = Duration::from_secs(8 * 3600);
/// The shortest certificate `expirationSeconds` may ask for.
const MIN_REQUESTED: Duration = Duration::from_secs(10 * 60);

/// Failures loading the CA.
#[derive(Debug, thiserror::Error)]
pub enum CaError {
    /// A file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The certificate or key is not usable.
    #[error("{0}")]
    Invalid(String),
}

/// The loaded CA.
pub struct Ca {
    issuer: Issuer<'static, KeyPair>,
    not_after: time::OffsetDateTime,
}

impl Ca {
    /// Reads the CA pair.
    pub fn load(s: &Settings) -> Result<Ca, CaError> {
        let read = |p: &PathBuf| {
            std::fs::read_to_string(p).map_err(|source| CaError::Read {
                path: p.display().to_string(),
                source,
            })
        };
        let cert = read(&s.cert_file)?;
        let key = KeyPair::from_pem(&read(&s.key_file)?)
            .map_err(|e| CaError::Invalid(format!("--cluster-signing-key-file: {e}")))?;
        let der = rustls_pem_der(&cert).ok_or_else(|| {
            CaError::Invalid("--cluster-signing-cert-file: no certificate".into())
        })?;
        let (_, parsed) = x509_parser::parse_x509_certificate(&der)
            .map_err(|e| CaError::Invalid(format!("--cluster-signing-cert-file: {e}")))?;
        let not_after = parsed.validity().not_after.to_datetime();
        let issuer = Issuer::from_ca_cert_pem(&cert, key)
            .map_err(|e| CaError::Invalid(format!("--cluster-signing-cert-file: {e}")))?;
        Ok(Ca { issuer, not_after })
    }
}

/// The DER of the first certificate in a PEM text.
fn rustls_pem_der(pem: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    let start = pem.find("-----BEGIN CERTIFICATE-----")? + "-----BEGIN CERTIFICATE-----".len();
    let end = start + pem[start..].find("-----END CERTIFICATE-----")?;
    let b64: String = pem[start..end].split_whitespace().collect();
    base64::engine::general_purpose::STANDARD.decode(b64).ok()
}

/// Registers the handler and returns the workers; without the CA flags (or
/// with files that cannot be used) there is nothing to do.
pub fn start(ctx: &Context) -> Started {
    let Some(settings) = ctx.config.cluster_signing.clone() else {
        tracing::info!(
            "no --cluster-signing-cert-file/--cluster-signing-key-file: not signing CSRs"
        );
        return Box::pin(async {});
    };
    let ca = match Ca::load(&settings) {
        Ok(ca) => ca,
        Err(e) => {
            tracing::error!(error = %e, "cannot load the cluster signing CA; not signing CSRs");
            return Box::pin(async {});
        }
    };
    let (csrs, queue) = csr::informer_and_queue(ctx, "csrsigning");
    let c = Arc::new(Signer {
        csrs: csrs.store(),
        client: ctx.client.clone(),
        ca,
        duration: settings.duration,
    });
    ctx.workers(c, queue)
}

/// The controller's state.
pub struct Signer {
    csrs: Store<CertificateSigningRequest>,
    client: kube::Client,
    ca: Ca,
    duration: Duration,
}

impl Reconciler for Signer {
    fn name(&self) -> &'static str {
        "csrsigning"
    }

    async fn reconcile(&self, name: &str) -> Result<Action> {
        let Some(c) = self.csrs.get(name) else {
            return Ok(Action::Done);
        };
        if !csr::approved(&c) || csr::has_true_condition(&c, "Failed") || csr::issued(&c) {
            return Ok(Action::Done);
        }
        let usages = csr::usages(&c);
        let check: fn(&Request, &std::collections::BTreeSet<String>) -> Result<(), String> =
            match c.spec.signer_name.as_str() {
                csr::KUBELET_CLIENT_SIGNER => csr::validate_kubelet_client,
                csr::KUBELET_SERVING_SIGNER => csr::validate_kubelet_serving,
                csr::APISERVER_CLIENT_SIGNER => |_, u| csr::validate_apiserver_client(u),
                _ => return Ok(Action::Done),
            };
        let req = Request::parse(&c.spec.request.0)
            .map_err(|e| Error::Invalid(format!("unable to parse csr {name:?}: {e}")))?;
        let mut c = (*c).clone();
        let status = c
            .status
            .get_or_insert_with(CertificateSigningRequestStatus::default);
        match check(&req, &usages) {
            Err(message) => {
                status.conditions.get_or_insert_with(Vec::new).push(
                    CertificateSigningRequestCondition {
                        type_: "Failed".into(),
                        status: "True".into(),
                        reason: Some("SignerValidationFailure".into()),
                        message: Some(message),
                        last_update_time: Some(crate::machinery::meta::now()),
                        ..Default::default()
                    },
                );
            }
            Ok(()) => {
                let pem = self.sign(req, &usages, c.spec.expiration_seconds)?;
                status.certificate = Some(ByteString(pem.into_bytes()));
            }
        }
        let api: Api<CertificateSigningRequest> = Api::all(self.client.clone());
        match api.replace_status(name, &PostParams::default(), &c).await {
            Ok(_) => {
                tracing::info!(csr = name, signer = %c.spec.signer_name, "signed");
                Ok(Action::Done)
            }
            Err(e) if is_conflict(&e) => Ok(Action::Done),
            Err(e) => Err(e).context(|| format!("updating the status of csr {name}")),
        }
    }
}

/// The lifetime of a certificate that asked for `expiration_seconds` from a
/// signer whose longest is `longest`: what was asked, at least 10 minutes,
/// at most `longest`.
fn lifetime(longest: Duration, expiration_seconds: Option<i32>) -> Duration {
    let Some(secs) = expiration_seconds else {
        return longest;
    };
    let asked = Duration::from_secs(u64::try_from(secs).unwrap_or(0));
    asked.clamp(MIN_REQUESTED.min(longest), longest)
}

impl Signer {
    fn sign(
        &self,
        req: Request,
        usages: &std::collections::BTreeSet<String>,
        expiration_seconds: Option<i32>,
    ) -> Result<String> {
        let ttl = lifetime(self.duration, expiration_seconds);
        let now = time::OffsetDateTime::now_utc();
        let mut params = req.params;
        let p = &mut params.params;
        p.not_before = now - BACKDATE;
        p.not_after = if ttl < SHORT {
            now + ttl
        } else {
            now + ttl - BACKDATE
        };
        if p.not_after > self.ca.not_after {
            p.not_after = self.ca.not_after;
        }
        if now >= self.ca.not_after {
            return Err(Error::Invalid("the cluster signing CA has expired".into()));
        }
        p.is_ca = IsCa::ExplicitNoCa;
        p.use_authority_key_identifier_extension = true;
        p.serial_number = Some(SerialNumber::from_slice(&rand::random::<[u8; 16]>()));
        p.key_usages = Vec::new();
        p.extended_key_usages = Vec::new();
        for u in usages {
            match u.as_str() {
                "digital signature" | "signing" => {
                    p.key_usages.push(KeyUsagePurpose::DigitalSignature)
                }
                "key encipherment" => p.key_usages.push(KeyUsagePurpose::KeyEncipherment),
                "content commitment" => p.key_usages.push(KeyUsagePurpose::ContentCommitment),
                "key agreement" => p.key_usages.push(KeyUsagePurpose::KeyAgreement),
                "data encipherment" => p.key_usages.push(KeyUsagePurpose::DataEncipherment),
                "client auth" => p
                    .extended_key_usages
                    .push(ExtendedKeyUsagePurpose::ClientAuth),
                "server auth" => p
                    .extended_key_usages
                    .push(ExtendedKeyUsagePurpose::ServerAuth),
                other => {
                    return Err(Error::Invalid(format!("unsupported usage {other:?}")));
                }
            }
        }
        let cert = params
            .signed_by(&self.ca.issuer)
            .map_err(|e| Error::Invalid(format!("signing: {e}")))?;
        Ok(cert.pem())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiration_seconds_is_capped_and_floored_as_upstream() {
        let lifetime = |longest: u64, asked| lifetime(Duration::from_secs(longest), asked);
        assert_eq!(lifetime(3600, None), Duration::from_secs(3600));
        assert_eq!(lifetime(3600, Some(7200)), Duration::from_secs(3600));
        assert_eq!(lifetime(3600, Some(60)), Duration::from_secs(600));
        assert_eq!(lifetime(3600, Some(900)), Duration::from_secs(900));
        assert_eq!(lifetime(60, Some(900)), Duration::from_secs(60));
    }
}
