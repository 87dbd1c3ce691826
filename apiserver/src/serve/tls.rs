//! TLS on the secure port: the serving certificate, the client CA, ALPN.
//!
//! ```text
//! --tls-cert-file/--tls-private-key-file  ->  that pair
//! neither given                           ->  <cert-dir>/apiserver.crt|key,
//!                                             made once (a CA and a serving
//!                                             certificate it signs) and reused
//! --client-ca-file                        ->  client certificates are asked
//!                                             for and must chain to that CA
//! --requestheader-client-ca-file          ->  or to that one (a front proxy)
//! ```
//!
//! As upstream, a client certificate is *requested*, never required: a
//! client without one goes on to the token authenticators or is anonymous.
//! A certificate that does not chain to the client CA fails the handshake.
//! What a verified certificate says (user and groups) is read by
//! [`crate::authentication::x509`] from the [`PeerCertificates`] the serving
//! loop attaches to each request.
//!
//! The pieces every TLS port shares (reading PEM files, the self-signed
//! pair, the client CA verifier) live in [`component_base::tls`]; this
//! module adds what is the apiserver's own (its flags, HTTP/2).

use std::path::PathBuf;
use std::sync::Arc;

use rustls::ServerConfig;

pub use component_base::tls::{provider, read_certs, PeerCertificates, TlsError};

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
    /// `--requestheader-client-ca-file`: front proxies' certificates chain
    /// to it; they pass the handshake, and
    /// [`crate::authentication::request_header`] decides what they may say.
    pub requestheader_client_ca_file: Option<PathBuf>,
    /// Names and addresses the self-signed certificate is valid for, besides
    /// `localhost` and `127.0.0.1`.
    pub alternate_names: Vec<String>,
}

/// Builds the server side: the serving pair (read, or made once as
/// `<cert-dir>/apiserver.crt|key` by [`component_base::tls`], which every
/// component's TLS port shares), the optional client CA, and ALPN `h2` and
/// `http/1.1` (the API serves HTTP/2; the kubelet's port does not).
pub fn server_config(opts: &TlsOptions) -> Result<Arc<ServerConfig>, TlsError> {
    let config = component_base::tls::server_config(&component_base::tls::ServingOptions {
        cert_file: opts.cert_file.clone(),
        key_file: opts.key_file.clone(),
        cert_dir: opts.cert_dir.clone(),
        pair_name: "apiserver".into(),
        client_ca_file: opts.client_ca_file.clone(),
        extra_client_ca_files: opts.requestheader_client_ca_file.iter().cloned().collect(),
        alternate_names: opts.alternate_names.clone(),
    })?;
    let mut config = Arc::unwrap_or_clone(config);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
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
