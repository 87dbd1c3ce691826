//! How the apiserver reaches a kubelet: the connection under `pods/log`,
//! `exec`, `attach`, `portforward` and the node/pod/service proxies
//! ([`crate::registry::core::pod::proxy`]).
//!
//! ```text
//! apiserver ──TLS──► <node InternalIP>:10250
//!   presents  --kubelet-client-certificate/--kubelet-client-key
//!             (the kubelet authenticates it against its client CA and asks
//!             us, by SubjectAccessReview, whether that user may use
//!             nodes/proxy: the lab binds it to system:kubelet-api-admin)
//!   checks    the kubelet's serving certificate against
//!             --kubelet-certificate-authority (not at all without it, as
//!             upstream)
//! ```
//!
//! `--kubelet-https=false` (upstream's old flag) dials plain HTTP: only for
//! tests that stand a plain HTTP server in for a kubelet.
//!
//! Besides the proxied connections, [`KubeletClient::get`] makes one plain
//! request and reads the whole answer: the resource metrics scraper's
//! `GET /stats/summary` ([`crate::resource_metrics`]).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use component_base::tls::{self, Stream, TlsError};

/// The `--kubelet-*` flags.
#[derive(Debug, Clone)]
pub struct Options {
    /// `--kubelet-https`: TLS to kubelets (default on).
    pub https: bool,
    /// `--kubelet-client-certificate`: who the apiserver is to kubelets.
    pub client_certificate: Option<PathBuf>,
    /// `--kubelet-client-key`: its key.
    pub client_key: Option<PathBuf>,
    /// `--kubelet-certificate-authority`: what kubelets' serving
    /// certificates must chain to.
    pub certificate_authority: Option<PathBuf>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            https: true,
            client_certificate: None,
            client_key: None,
            certificate_authority: None,
        }
    }
}

/// Dials kubelets as the options say.
#[derive(Debug, Clone)]
pub struct KubeletClient {
    tls: Option<Arc<rustls::ClientConfig>>,
}

impl KubeletClient {
    /// Reads the certificates the options name.
    pub fn new(opts: &Options) -> Result<KubeletClient, TlsError> {
        if !opts.https {
            return Ok(KubeletClient { tls: None });
        }
        let pair = match (&opts.client_certificate, &opts.client_key) {
            (Some(c), Some(k)) => Some((c.as_path(), k.as_path())),
            (None, None) => None,
            _ => return Err(TlsError::HalfPair),
        };
        let config = tls::client_config(opts.certificate_authority.as_deref(), pair)?;
        Ok(KubeletClient { tls: Some(config) })
    }

    /// A connection to the kubelet at `addr` (`host:port`), TLS unless
    /// `--kubelet-https=false`; given up after 10 s.
    pub async fn dial(&self, addr: &str) -> std::io::Result<Box<dyn Stream>> {
        tls::dial(addr, self.tls.as_ref(), Duration::from_secs(10)).await
    }

    /// `GET path` from the kubelet at `addr`: the status and a body of at
    /// most `limit` bytes.
    pub async fn get(
        &self,
        addr: &str,
        path: &str,
        limit: usize,
    ) -> std::io::Result<(http::StatusCode, bytes::Bytes)> {
        use http_body_util::{BodyExt, Empty, Limited};
        let stream = self.dial(addr).await?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake::<_, Empty<bytes::Bytes>>(
            hyper_util::rt::TokioIo::new(stream),
        )
        .await
        .map_err(std::io::Error::other)?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let req = http::Request::get(path)
            .header(http::header::HOST, addr)
            .header(http::header::ACCEPT, "application/json")
            .body(Empty::new())
            .map_err(std::io::Error::other)?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(std::io::Error::other)?;
        let status = resp.status();
        let body = Limited::new(resp.into_body(), limit)
            .collect()
            .await
            .map_err(std::io::Error::other)?
            .to_bytes();
        Ok((status, body))
    }
}
