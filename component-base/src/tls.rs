//! TLS for a component's own ports (the kubelet's :10250, the scheduler's
//! :10259, the controller-manager's :10257) and for the connections a
//! component dials by hand (the apiserver to a kubelet).
//!
//! ```text
//! serving:  --tls-cert-file/--tls-private-key-file -> that pair
//!           neither                                -> <cert-dir>/<name>.crt|key,
//!                                                     made once and reused
//!           --client-ca-file                       -> client certificates are
//!                                                     asked for (not required)
//!                                                     and must chain to it
//! dialing:  a CA file      -> the server's certificate must chain to it
//!           no CA file     -> the server is not checked (upstream's kubelet
//!                             client without --kubelet-certificate-authority)
//!           a client pair  -> presented, so the server knows who calls
//! ```
//!
//! The kube clients of the components need nothing from here: an https
//! kubeconfig (CA, client certificate) is read by `kube` itself
//! ([`crate::client`]). This module is for what `kube` does not do.
//!
//! What a verified client certificate says (user = CommonName, groups =
//! Organizations) is read by [`user_of`]; [`serve`] attaches the verified
//! chain to every request as [`PeerCertificates`].

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use x509_parser::prelude::{FromDer, X509Certificate};

/// How a port serves TLS (a component's `--tls-*`, `--cert-dir` and
/// `--client-ca-file` flags).
#[derive(Debug, Clone, Default)]
pub struct ServingOptions {
    /// `--tls-cert-file`: the serving certificate (and its chain), PEM.
    pub cert_file: Option<PathBuf>,
    /// `--tls-private-key-file`: its key, PEM.
    pub key_file: Option<PathBuf>,
    /// `--cert-dir`: where a self-signed pair is made when none is given.
    pub cert_dir: PathBuf,
    /// The self-signed pair's file names, `<pair_name>.crt|key` (upstream:
    /// `kubelet`, `kube-scheduler`, `kube-controller-manager`).
    pub pair_name: String,
    /// `--client-ca-file`: the CA client certificates must chain to.
    pub client_ca_file: Option<PathBuf>,
    /// Further CAs a client certificate may chain to (the apiserver's
    /// `--requestheader-client-ca-file`: a front proxy's certificate is
    /// accepted in the handshake, and what it may say is decided later).
    pub extra_client_ca_files: Vec<PathBuf>,
    /// Names and addresses the self-signed certificate is valid for,
    /// besides `localhost`, `127.0.0.1` and the host name.
    pub alternate_names: Vec<String>,
}

/// The certificates a TLS client presented (verified against the client
/// CA), as a request extension; the leaf comes first.
#[derive(Debug, Clone)]
pub struct PeerCertificates(pub Arc<Vec<CertificateDer<'static>>>);

/// Why TLS cannot be set up.
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
    /// Only one of a certificate and its key was given.
    #[error("a certificate file and its key file go together: give both or neither")]
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

/// The server side: the serving pair (read or made), the optional client
/// CA, ALPN `http/1.1` (the streaming upgrades of exec and port-forward are
/// HTTP/1.1 only).
pub fn server_config(opts: &ServingOptions) -> Result<Arc<ServerConfig>, TlsError> {
    let (cert_path, key_path) = match (&opts.cert_file, &opts.key_file) {
        (Some(c), Some(k)) => (c.clone(), k.clone()),
        (None, None) => ensure_self_signed(opts)?,
        _ => return Err(TlsError::HalfPair),
    };
    let chain = read_certs(&cert_path)?;
    let key = read_key(&key_path)?;
    let mut config = server_builder(opts)?.with_single_cert(chain, key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The server side with a serving certificate that changes while the
/// server runs (the kubelet's `serverTLSBootstrap`): every handshake takes
/// what `cert` holds at that moment, so a rotated certificate is served
/// from the next connection on; while it holds none, handshakes fail (as
/// upstream's "no serving certificate available for the kubelet").
/// `opts`' pair fields are not used.
pub fn server_config_dynamic(
    opts: &ServingOptions,
    cert: Arc<DynamicServingCert>,
) -> Result<Arc<ServerConfig>, TlsError> {
    let mut config = server_builder(opts)?.with_cert_resolver(cert);
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A serving certificate that can be replaced while it is served; empty
/// until the first [`DynamicServingCert::set`].
#[derive(Debug, Default)]
pub struct DynamicServingCert {
    current: std::sync::RwLock<Option<Arc<rustls::sign::CertifiedKey>>>,
}

impl DynamicServingCert {
    /// Serves `cert_pem` (the chain) with `key_pem` from now on.
    pub fn set(&self, cert_pem: &str, key_pem: &str) -> Result<(), TlsError> {
        let pem_error = |message: String| TlsError::Pem {
            path: PathBuf::from("<serving certificate>"),
            message,
        };
        let chain: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(cert_pem.as_bytes())
                .collect::<Result<_, _>>()
                .map_err(|e| pem_error(e.to_string()))?;
        if chain.is_empty() {
            return Err(pem_error("no CERTIFICATE block".into()));
        }
        let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
            .map_err(|e| pem_error(format!("no private key: {e}")))?;
        let signing = provider().key_provider.load_private_key(key)?;
        let certified = Arc::new(rustls::sign::CertifiedKey::new(chain, signing));
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Some(certified);
        Ok(())
    }

    /// Whether a certificate is being served.
    pub fn is_set(&self) -> bool {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
    }
}

impl rustls::server::ResolvesServerCert for DynamicServingCert {
    fn resolve(
        &self,
        _hello: rustls::server::ClientHello<'_>,
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// The server side up to the certificate: the protocol versions and the
/// optional client CA.
fn server_builder(
    opts: &ServingOptions,
) -> Result<rustls::ConfigBuilder<ServerConfig, rustls::server::WantsServerCert>, TlsError> {
    let builder =
        ServerConfig::builder_with_provider(provider()).with_safe_default_protocol_versions()?;
    let cas: Vec<&Path> = opts
        .client_ca_file
        .iter()
        .chain(&opts.extra_client_ca_files)
        .map(PathBuf::as_path)
        .collect();
    let builder = match cas.as_slice() {
        [] => builder.with_no_client_auth(),
        cas => {
            let verifier = WebPkiClientVerifier::builder_with_provider(roots_of(cas)?, provider())
                // Asked for, not required: a caller without a certificate
                // goes on to bearer tokens or is anonymous.
                .allow_unauthenticated()
                .build()
                .map_err(|e| TlsError::ClientCa(e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    Ok(builder)
}

/// The client side of a hand-made connection: the server is checked
/// against `ca_file` when given (else not at all), and `client_pair`
/// (certificate, key) is presented when given.
pub fn client_config(
    ca_file: Option<&Path>,
    client_pair: Option<(&Path, &Path)>,
) -> Result<Arc<ClientConfig>, TlsError> {
    let builder =
        ClientConfig::builder_with_provider(provider()).with_safe_default_protocol_versions()?;
    let builder = match ca_file {
        Some(ca) => builder.with_root_certificates(roots(ca)?),
        None => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Unchecked(provider()))),
    };
    let mut config = match client_pair {
        Some((crt, key)) => builder.with_client_auth_cert(read_certs(crt)?, read_key(key)?)?,
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A client certificate with its chain and key, read once (the
/// front-proxy certificate an aggregating apiserver presents).
#[derive(Debug)]
pub struct ClientPair {
    /// The certificate, then its chain.
    pub chain: Vec<CertificateDer<'static>>,
    /// Its private key.
    pub key: PrivateKeyDer<'static>,
}

impl Clone for ClientPair {
    fn clone(&self) -> ClientPair {
        ClientPair {
            chain: self.chain.clone(),
            key: self.key.clone_key(),
        }
    }
}

impl ClientPair {
    /// Reads a PEM certificate file and its key file.
    pub fn read(crt: &Path, key: &Path) -> Result<ClientPair, TlsError> {
        Ok(ClientPair {
            chain: read_certs(crt)?,
            key: read_key(key)?,
        })
    }
}

/// Where the system's trusted CAs are, for a client given no CA.
pub const SYSTEM_ROOTS: &str = "/etc/ssl/certs/ca-certificates.crt";

/// How a hand-made client checks the server it dials.
#[derive(Debug, Clone, Copy)]
pub enum Verify<'a> {
    /// Not at all (`insecureSkipTLSVerify`).
    Skip,
    /// Against these PEM CA certificates (a `caBundle`); empty: the
    /// system's trusted CAs.
    Pem(&'a [u8]),
}

/// The client side for a server described by an API object rather than
/// files (an APIService's `caBundle`): checked as `verify` says, presenting
/// `client` when given. The server name is the caller's to give at connect
/// time.
pub fn client_config_from(
    verify: Verify<'_>,
    client: Option<&ClientPair>,
) -> Result<Arc<ClientConfig>, TlsError> {
    let builder =
        ClientConfig::builder_with_provider(provider()).with_safe_default_protocol_versions()?;
    let builder = match verify {
        Verify::Skip => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Unchecked(provider()))),
        Verify::Pem(pem) => {
            let system;
            let pem = if pem.is_empty() {
                system = std::fs::read(SYSTEM_ROOTS).unwrap_or_default();
                &system[..]
            } else {
                pem
            };
            let bad = |message: String| TlsError::Pem {
                path: PathBuf::from("caBundle"),
                message,
            };
            let mut roots = RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(pem) {
                let cert = cert.map_err(|e| bad(e.to_string()))?;
                roots
                    .add(cert)
                    .map_err(|e| bad(format!("not a CA certificate: {e}")))?;
            }
            builder.with_root_certificates(roots)
        }
    };
    let mut config = match client {
        Some(pair) => builder.with_client_auth_cert(pair.chain.clone(), pair.key.clone_key())?,
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A TCP connection to `addr`, wrapped in TLS when `tls` is given (the
/// server name checked is the host part of `addr`, an IP or a DNS name).
pub async fn dial(
    addr: &str,
    tls: Option<&Arc<ClientConfig>>,
    timeout: Duration,
) -> std::io::Result<Box<dyn Stream>> {
    let connect = async {
        let tcp = TcpStream::connect(addr).await?;
        let _ = tcp.set_nodelay(true);
        let Some(tls) = tls else {
            return Ok(Box::new(tcp) as Box<dyn Stream>);
        };
        let host = addr
            .rsplit_once(':')
            .map(|(h, _)| h)
            .unwrap_or(addr)
            .trim_start_matches('[')
            .trim_end_matches(']');
        let name = match host.parse::<IpAddr>() {
            Ok(ip) => ServerName::IpAddress(ip.into()),
            Err(_) => ServerName::try_from(host.to_string()).map_err(|e| {
                std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string())
            })?,
        };
        let stream = tokio_rustls::TlsConnector::from(Arc::clone(tls))
            .connect(name, tcp)
            .await?;
        Ok(Box::new(stream) as Box<dyn Stream>)
    };
    tokio::time::timeout(timeout, connect)
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "timed out"))?
}

/// A byte stream, plain or TLS.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// Serves `app` over TLS on `listener` until `shutdown` resolves: each
/// connection is a TLS handshake (at most 10 s) then HTTP/1.1 with
/// upgrades; each request carries the client's verified certificates
/// ([`PeerCertificates`]) and address (axum's `ConnectInfo`).
pub async fn serve(
    listener: TcpListener,
    config: Arc<ServerConfig>,
    app: Router,
    shutdown: impl Future<Output = ()>,
) {
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(30));
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => return,
        };
        let _ = tcp.set_nodelay(true);
        let (acceptor, builder, app) = (acceptor.clone(), builder.clone(), app.clone());
        tokio::spawn(async move {
            let stream =
                match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await {
                    Ok(Ok(s)) => s,
                    Ok(Err(e)) => {
                        tracing::debug!(%peer, error = %e, "TLS handshake failed");
                        return;
                    }
                    Err(_) => return,
                };
            let certs = stream.get_ref().1.peer_certificates().map(|c| {
                PeerCertificates(Arc::new(c.iter().map(|c| c.clone().into_owned()).collect()))
            });
            let service =
                hyper::service::service_fn(move |mut req: http::Request<hyper::body::Incoming>| {
                    req.extensions_mut()
                        .insert(axum::extract::ConnectInfo::<SocketAddr>(peer));
                    if let Some(certs) = &certs {
                        req.extensions_mut().insert(certs.clone());
                    }
                    tower::ServiceExt::oneshot(app.clone(), req)
                });
            if let Err(e) = builder
                .serve_connection_with_upgrades(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
}

/// Who a client certificate names: the CommonName (user) and the
/// Organizations (groups); `None` without a CommonName or when the DER does
/// not parse.
pub fn user_of(cert: &CertificateDer<'_>) -> Option<(String, Vec<String>)> {
    let (_, cert) = X509Certificate::from_der(cert.as_ref()).ok()?;
    let subject = cert.subject();
    let name = subject
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .filter(|cn| !cn.is_empty())?;
    let groups = subject
        .iter_organization()
        .filter_map(|o| o.as_str().ok())
        .map(String::from)
        .collect();
    Some((name.to_string(), groups))
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

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| TlsError::Pem {
        path: path.to_path_buf(),
        message: format!("no private key: {e}"),
    })
}

fn roots(ca: &Path) -> Result<Arc<RootCertStore>, TlsError> {
    roots_of(&[ca])
}

/// The CA certificates of every file in `cas`, as one trust store.
pub fn roots_of(cas: &[&Path]) -> Result<Arc<RootCertStore>, TlsError> {
    let mut roots = RootCertStore::empty();
    for ca in cas {
        for cert in read_certs(ca)? {
            roots.add(cert).map_err(|e| TlsError::Pem {
                path: ca.to_path_buf(),
                message: format!("not a CA certificate: {e}"),
            })?;
        }
    }
    Ok(Arc::new(roots))
}

/// The self-signed pair in the cert dir, made on first start and reused
/// after (clients that pinned it keep working across restarts). A throwaway
/// CA signs the serving certificate and follows it in the `.crt` file, so
/// the file also works as a client's CA bundle.
fn ensure_self_signed(opts: &ServingOptions) -> Result<(PathBuf, PathBuf), TlsError> {
    let crt = opts.cert_dir.join(format!("{}.crt", opts.pair_name));
    let key = opts.cert_dir.join(format!("{}.key", opts.pair_name));
    if crt.exists() && key.exists() {
        return Ok((crt, key));
    }
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| TlsError::Io { path, source }
    };
    std::fs::create_dir_all(&opts.cert_dir).map_err(io(&opts.cert_dir))?;
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
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, rcgen::KeyPair::generate()?)?;
    let mut names = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        host.clone(),
    ];
    names.extend(opts.alternate_names.iter().cloned());
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
    params.distinguished_name.push(
        rcgen::DnType::CommonName,
        format!("{host}@{}", opts.pair_name),
    );
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::DigitalSignature,
        rcgen::KeyUsagePurpose::KeyEncipherment,
    ];
    let serving_key = rcgen::KeyPair::generate()?;
    let serving = params.signed_by(&serving_key, &ca)?;
    std::fs::write(&crt, format!("{}{}", serving.pem(), ca.pem())).map_err(io(&crt))?;
    write_private(&key, serving_key.serialize_pem().as_bytes()).map_err(io(&key))?;
    tracing::info!(cert = %crt.display(), "generated a self-signed serving certificate");
    Ok((crt, key))
}

/// Writes a key (or a token) readable by its owner only.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// Accepts any server certificate (signatures are still checked, so the
/// handshake is real): what a client without a CA to check against does,
/// as upstream's apiserver dials kubelets without
/// `--kubelet-certificate-authority`.
#[derive(Debug)]
struct Unchecked(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for Unchecked {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(dir: &Path, name: &str) -> ServingOptions {
        ServingOptions {
            cert_dir: dir.to_path_buf(),
            pair_name: name.into(),
            alternate_names: vec!["10.0.0.1".into()],
            ..Default::default()
        }
    }

    #[test]
    fn a_self_signed_pair_is_made_once_and_reused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let opts = pair(dir.path(), "kubelet");
        server_config(&opts).expect("first start makes a pair");
        let crt = dir.path().join("kubelet.crt");
        let first = std::fs::read(&crt).expect("crt");
        assert_eq!(read_certs(&crt).expect("certs").len(), 2);
        server_config(&opts).expect("second start reuses it");
        assert_eq!(first, std::fs::read(&crt).expect("crt"));
    }

    #[test]
    fn half_a_pair_or_a_bad_file_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let bad = dir.path().join("bad.pem");
        std::fs::write(&bad, "not pem").expect("write");
        let half = ServingOptions {
            cert_file: Some(bad.clone()),
            ..Default::default()
        };
        assert!(matches!(server_config(&half), Err(TlsError::HalfPair)));
        assert!(matches!(
            client_config(Some(&bad), None),
            Err(TlsError::Pem { .. })
        ));
    }

    fn cert(cn: Option<&str>, org: &str) -> CertificateDer<'static> {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        params.distinguished_name = rcgen::DistinguishedName::new();
        if let Some(cn) = cn {
            params
                .distinguished_name
                .push(rcgen::DnType::CommonName, cn);
        }
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, org);
        let key = rcgen::KeyPair::generate().expect("key");
        params.self_signed(&key).expect("cert").der().clone()
    }

    #[test]
    fn a_certificate_names_its_user_and_groups() {
        assert_eq!(
            user_of(&cert(Some("system:node:n1"), "system:nodes")),
            Some(("system:node:n1".into(), vec!["system:nodes".into()]))
        );
        assert_eq!(user_of(&cert(None, "x")), None);
        assert_eq!(user_of(&CertificateDer::from(vec![1, 2, 3])), None);
    }

    /// A client CA and a client certificate for `jane` it signed, written
    /// into `dir` (`client-ca.crt`, `jane.crt`, `jane.key`).
    fn client_pki(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca_key = rcgen::KeyPair::generate().expect("key");
        let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).expect("ca");
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "jane");
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = params.signed_by(&key, &ca).expect("cert");
        let paths = (
            dir.join("client-ca.crt"),
            dir.join("jane.crt"),
            dir.join("jane.key"),
        );
        std::fs::write(&paths.0, ca.pem()).expect("write");
        std::fs::write(&paths.1, cert.pem()).expect("write");
        std::fs::write(&paths.2, key.serialize_pem()).expect("write");
        paths
    }

    /// A server with a self-signed pair and a client CA: a client trusting
    /// the pair's CA and presenting a certificate of the client CA is seen
    /// by name, one without is anonymous, one trusting another CA fails
    /// the handshake.
    #[tokio::test]
    async fn serve_and_dial_check_both_ends() {
        let dir = tempfile::tempdir().expect("tempdir");
        let server_opts = pair(dir.path(), "srv");
        server_config(&server_opts).expect("pair");
        let crt = dir.path().join("srv.crt");
        // The serving pair's throwaway CA follows the certificate.
        let ca = dir.path().join("ca.crt");
        std::fs::write(
            &ca,
            std::fs::read_to_string(&crt)
                .expect("crt")
                .split_inclusive("-----END CERTIFICATE-----\n")
                .nth(1)
                .expect("the CA follows"),
        )
        .expect("ca");
        let (client_ca, jane_crt, jane_key) = client_pki(dir.path());
        let opts = ServingOptions {
            client_ca_file: Some(client_ca),
            ..server_opts
        };
        let config = server_config(&opts).expect("server config");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        let app = Router::new().route(
            "/who",
            axum::routing::get(|req: axum::extract::Request| async move {
                req.extensions()
                    .get::<PeerCertificates>()
                    .and_then(|c| c.0.first().and_then(user_of))
                    .map(|(u, _)| u)
                    .unwrap_or_else(|| "anonymous".into())
            }),
        );
        tokio::spawn(serve(listener, config, app, std::future::pending()));
        let get = |tls: Arc<ClientConfig>| {
            let addr = addr.clone();
            async move {
                let stream = dial(&addr, Some(&tls), Duration::from_secs(5)).await?;
                let (mut sender, conn) =
                    hyper::client::conn::http1::handshake(TokioIo::new(stream))
                        .await
                        .map_err(std::io::Error::other)?;
                tokio::spawn(conn);
                let resp = sender
                    .send_request(
                        http::Request::get("/who")
                            .header("host", "x")
                            .body(String::new())
                            .map_err(std::io::Error::other)?,
                    )
                    .await
                    .map_err(std::io::Error::other)?;
                let body = http_body_util::BodyExt::collect(resp.into_body())
                    .await
                    .map_err(std::io::Error::other)?
                    .to_bytes();
                Ok::<_, std::io::Error>(String::from_utf8_lossy(&body).into_owned())
            }
        };
        let named = client_config(Some(&ca), Some((&jane_crt, &jane_key))).expect("client");
        assert_eq!(get(named).await.expect("trusted"), "jane");
        let anonymous = client_config(None, None).expect("client");
        assert_eq!(get(anonymous).await.expect("unchecked"), "anonymous");
        let other_dir = tempfile::tempdir().expect("tempdir");
        server_config(&pair(other_dir.path(), "other")).expect("other pair");
        let wrong = client_config(Some(&other_dir.path().join("other.crt")), None).expect("c");
        assert!(
            get(wrong).await.is_err(),
            "a server of another CA is refused"
        );
    }
}
