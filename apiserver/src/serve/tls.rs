//! TLS on the secure port: the serving certificate, the client CA, ALPN.
//!
//! ```text
//! --tls-cert-file/--tls-private-key-file  ->  that pair
//! neither given                           ->  <cert-dir>/apiserver.crt|key,
//!                                             made once (a CA and a serving
//!                                             certificate it signs) and reused
//! --client-ca-file                        ->  client certificates are asked
//!                                             for and must chain to that CA
//! ```
//!
//! As upstream, a client certificate is *requested*, never required: a
//! client without one goes on to the token authenticators or is anonymous.
//! A certificate that does not chain to the client CA fails the handshake.
//! What a verified certificate says (user and groups) is read by
//! [`crate::authentication::x509`] from the [`PeerCertificates`] the serving
//! loop attaches to each request.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};

/// What the secure port serves with (the command line's TLS flags).
#[derive(Debug, Clone, Default)]
pub struct TlsOptions {
    /// `--tls-cert-file`: the serving certificate (and its chain), PEM.
    pub cert_file: Option<PathBuf>,
    /// `--tls-private-key-file`: its key, PEM.
    pub key_file: Option<PathBuf>,
    /// `--cert-dir`: where a self-signed pair is made when none is given.
    pub cert_dir: PathBuf,
    /// `--client-ca-file`: the CA client certificates must chain to.
    pub client_ca_file: Option<PathBuf>,
    /// Names and addresses the self-signed certificate is valid for, besides
    /// `localhost` and `127.0.0.1`.
    pub alternate_names: Vec<String>,
}

/// The certificates a TLS client presented (verified against the client
/// CA), as a request extension; the leaf comes first.
#[derive(Debug, Clone)]
pub struct PeerCertificates(pub Arc<Vec<CertificateDer<'static>>>);

/// Why the secure port cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A file holds no usable PEM certificate or key.
    #[error("{path}: {message}")]
    Pem {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// Only one of the certificate and the key was given.
    #[error("--tls-cert-file and --tls-private-key-file go together")]
    HalfPair,
    /// The self-signed pair could not be made.
    #[error("making a self-signed certificate: {0}")]
    Generate(#[from] rcgen::Error),
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
    /// The client CA verifier could not be built.
    #[error("client CA: {0}")]
    ClientCa(String),
}

/// The crypto every TLS piece here uses (ring; no process-wide default is
/// installed, so nothing depends on which crate initialises first).
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Builds the server side: the serving pair (read or made), the optional
/// client CA, ALPN `h2` and `http/1.1`.
pub fn server_config(opts: &TlsOptions) -> Result<Arc<ServerConfig>, TlsError> {
    let (cert_path, key_path) = match (&opts.cert_file, &opts.key_file) {
        (Some(c), Some(k)) => (c.clone(), k.clone()),
        (None, None) => ensure_self_signed(&opts.cert_dir, &opts.alternate_names)?,
        _ => return Err(TlsError::HalfPair),
    };
    let chain = read_certs(&cert_path)?;
    let key = PrivateKeyDer::from_pem_file(&key_path).map_err(|e| TlsError::Pem {
        path: key_path.clone(),
        message: format!("no private key: {e}"),
    })?;
    let builder =
        ServerConfig::builder_with_provider(provider()).with_safe_default_protocol_versions()?;
    let builder = match &opts.client_ca_file {
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            for cert in read_certs(ca)? {
                roots.add(cert).map_err(|e| TlsError::Pem {
                    path: ca.clone(),
                    message: format!("not a CA certificate: {e}"),
                })?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
                .allow_unauthenticated()
                .build()
                .map_err(|e| TlsError::ClientCa(e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_single_cert(chain, key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Every certificate in a PEM file (at least one).
pub fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = std::fs::read(path).map_err(|source| TlsError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let certs: Vec<_> = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::Pem {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::Pem {
            path: path.to_path_buf(),
            message: "no CERTIFICATE block".into(),
        });
    }
    Ok(certs)
}

/// The self-signed pair in `cert_dir` (`apiserver.crt`, `apiserver.key`),
/// made on first start and reused after, so clients that trusted it keep
/// trusting it across restarts. As upstream, a throwaway CA signs the
/// serving certificate and the CA follows it in `apiserver.crt`, so the file
/// works as a client's `certificate-authority`.
fn ensure_self_signed(
    cert_dir: &Path,
    alternate_names: &[String],
) -> Result<(PathBuf, PathBuf), TlsError> {
    let crt = cert_dir.join("apiserver.crt");
    let key = cert_dir.join("apiserver.key");
    if crt.exists() && key.exists() {
        return Ok((crt, key));
    }
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| TlsError::Io { path, source }
    };
    std::fs::create_dir_all(cert_dir).map_err(io(cert_dir))?;
    let host = hostname();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new())?;
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, format!("{host}-ca"));
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
    ];
    let ca_key = rcgen::KeyPair::generate()?;
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key)?;
    let mut names = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        host.clone(),
    ];
    names.extend(alternate_names.iter().cloned());
    names.sort();
    names.dedup();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new())?;
    params.subject_alt_names = names
        .iter()
        .filter(|n| !n.is_empty())
        .map(|n| match n.parse::<IpAddr>() {
            Ok(ip) => Ok(rcgen::SanType::IpAddress(ip)),
            Err(_) => Ok(rcgen::SanType::DnsName(n.clone().try_into()?)),
        })
        .collect::<Result<_, rcgen::Error>>()?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, format!("{host}@apiserver"));
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::DigitalSignature,
        rcgen::KeyUsagePurpose::KeyEncipherment,
    ];
    let serving_key = rcgen::KeyPair::generate()?;
    let serving = params.signed_by(&serving_key, &ca)?;
    std::fs::write(&crt, format!("{}{}", serving.pem(), ca.pem())).map_err(io(&crt))?;
    write_private(&key, serving_key.serialize_pem().as_bytes())?;
    tracing::info!(cert = %crt.display(), "generated a self-signed serving certificate");
    Ok((crt, key))
}

/// Writes a key readable by its owner only.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<(), TlsError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let io = |source| TlsError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(io)?;
    f.write_all(bytes).map_err(io)
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_self_signed_pair_is_made_once_and_reused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let opts = TlsOptions {
            cert_dir: dir.path().join("certs"),
            alternate_names: vec!["10.0.0.1".into(), "api.example".into()],
            ..Default::default()
        };
        server_config(&opts).expect("first start makes a pair");
        let first = std::fs::read(dir.path().join("certs/apiserver.crt")).expect("crt");
        // The file carries the serving certificate and the CA that signed it.
        assert_eq!(
            read_certs(&dir.path().join("certs/apiserver.crt"))
                .expect("certs")
                .len(),
            2
        );
        server_config(&opts).expect("second start reuses it");
        let second = std::fs::read(dir.path().join("certs/apiserver.crt")).expect("crt");
        assert_eq!(first, second);
    }

    #[test]
    fn half_a_pair_or_a_bad_file_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let bad = dir.path().join("bad.pem");
        std::fs::write(&bad, "not pem").expect("write");
        let half = TlsOptions {
            cert_file: Some(bad.clone()),
            ..Default::default()
        };
        assert!(matches!(server_config(&half), Err(TlsError::HalfPair)));
        let both = TlsOptions {
            cert_file: Some(bad.clone()),
            key_file: Some(bad),
            ..Default::default()
        };
        assert!(matches!(server_config(&both), Err(TlsError::Pem { .. })));
    }
}
