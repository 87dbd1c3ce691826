//! TLS for the ingress proxy's HTTPS port: the certificate a client gets
//! is the one of the Secret that `spec.tls` names for the host it asked
//! for by SNI ([`super::routes::Table::tls_secret`]). The Secrets are
//! `kubernetes.io/tls` Secrets (`tls.crt`: the PEM chain, `tls.key`: the
//! PEM key), parsed once per sync into rustls keys; a client whose name
//! matches no TLS host (and no `spec.tls` entry without hosts) is refused
//! during the handshake, since any certificate we could show it would
//! be for another name.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Secret;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use super::routes::SecretRef;
use super::Shared;

/// Why a Secret's certificate could not be used.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The Secret is not there (yet).
    #[error("secret {0} not found")]
    NotFound(String),
    /// A key of the Secret is missing.
    #[error("secret {secret} has no {key}")]
    Missing {
        /// `namespace/name`.
        secret: String,
        /// `tls.crt` or `tls.key`.
        key: &'static str,
    },
    /// The PEM or the key did not parse, or they do not match.
    #[error("secret {secret}: {reason}")]
    Invalid {
        /// `namespace/name`.
        secret: String,
        /// What was wrong.
        reason: String,
    },
}

/// The rustls key of one `kubernetes.io/tls` Secret.
pub fn certified_key(secret: &Secret) -> Result<CertifiedKey, Error> {
    let id = format!(
        "{}/{}",
        secret.metadata.namespace.as_deref().unwrap_or_default(),
        secret.metadata.name.as_deref().unwrap_or_default()
    );
    let data = |key: &'static str| {
        crate::credentialprovider::secret_value(secret, key).ok_or_else(|| Error::Missing {
            secret: id.clone(),
            key,
        })
    };
    let invalid = |reason: String| Error::Invalid {
        secret: id.clone(),
        reason,
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(data("tls.crt")?)
        .collect::<Result<_, _>>()
        .map_err(|e| invalid(format!("tls.crt: {e}")))?;
    if chain.is_empty() {
        return Err(invalid("tls.crt holds no certificate".into()));
    }
    let key = PrivateKeyDer::from_pem_slice(data("tls.key")?)
        .map_err(|e| invalid(format!("tls.key: {e}")))?;
    CertifiedKey::from_der(chain, key, &component_base::tls::provider())
        .map_err(|e| invalid(e.to_string()))
}

/// The keys of every Secret in `wanted`, from `secrets`; the failures are
/// returned beside them (to be logged), and those hosts get no TLS.
pub fn load(
    wanted: &[&SecretRef],
    secrets: &[Arc<Secret>],
) -> (BTreeMap<SecretRef, Arc<CertifiedKey>>, Vec<Error>) {
    let mut keys = BTreeMap::new();
    let mut errors = Vec::new();
    for r in wanted {
        let found = secrets.iter().find(|s| {
            s.metadata.namespace.as_deref() == Some(r.namespace.as_str())
                && s.metadata.name.as_deref() == Some(r.name.as_str())
        });
        match found.map(|s| certified_key(s)) {
            Some(Ok(k)) => {
                keys.insert((*r).clone(), Arc::new(k));
            }
            Some(Err(e)) => errors.push(e),
            None => errors.push(Error::NotFound(format!("{}/{}", r.namespace, r.name))),
        }
    }
    (keys, errors)
}

/// Picks the certificate by SNI from the proxy's current routing.
#[derive(Debug)]
pub struct Resolver(pub Arc<Shared>);

impl ResolvesServerCert for Resolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let routing = self.0.current();
        let secret = routing.table.tls_secret(hello.server_name())?;
        routing.certificates.get(secret).cloned()
    }
}
