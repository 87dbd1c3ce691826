//! An HTTPS server standing in for webhooks (admission webhooks, CRD
//! conversion webhooks): a test CA signs its certificate for
//! `127.0.0.1` and `e2e-webhook.hooks.svc`, and the CA is handed out
//! base64-encoded, as a `caBundle` carries it. Every request is a JSON
//! review POSTed to a path; the test's handler answers it with JSON.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::Value;

use crate::pki;

/// The name of the Service the certificate is valid for (namespace
/// `hooks`, Service `e2e-webhook`).
pub const SERVICE_HOST: &str = "e2e-webhook.hooks.svc";

/// A running webhook server; it stops with the test's runtime.
pub struct WebhookServer {
    /// Where it listens (on loopback).
    pub addr: SocketAddr,
    /// The CA that signed its certificate, base64 as in a `caBundle`.
    pub ca_bundle: String,
    _dir: tempfile::TempDir,
}

impl WebhookServer {
    /// Starts serving; `handler` gets the path and the JSON body of each
    /// request (null when it is not JSON) and returns the JSON answer.
    pub async fn start<H, F>(handler: H) -> WebhookServer
    where
        H: Fn(String, Value) -> F + Clone + Send + Sync + 'static,
        F: Future<Output = Value> + Send + 'static,
    {
        let dir = tempfile::tempdir().expect("temp dir");
        let ca = pki::self_signed_ca(dir.path());
        let (crt, key) = pki::serving_cert(
            dir.path(),
            dir.path(),
            "webhook",
            SERVICE_HOST,
            &format!("DNS:{SERVICE_HOST},IP:127.0.0.1"),
        );
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&crt)
            .expect("certificate")
            .collect::<Result<_, _>>()
            .expect("certificate");
        let key = PrivateKeyDer::from_pem_file(&key).expect("key");
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("protocols")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("server config");
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("address");
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                let handler = handler.clone();
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let service = hyper::service::service_fn(move |req| {
                        let handler = handler.clone();
                        async move { Ok::<_, std::convert::Infallible>(answer(req, handler).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), service)
                        .await;
                });
            }
        });
        let ca_pem = std::fs::read(ca).expect("CA");
        WebhookServer {
            addr,
            ca_bundle: base64::engine::general_purpose::STANDARD.encode(ca_pem),
            _dir: dir,
        }
    }

    /// A `clientConfig` with the URL of `path` on this server.
    pub fn url(&self, path: &str) -> Value {
        serde_json::json!({"url": format!("https://{}{path}", self.addr), "caBundle": self.ca_bundle})
    }
}

async fn answer<H, F>(
    req: http::Request<hyper::body::Incoming>,
    handler: H,
) -> http::Response<Full<Bytes>>
where
    H: Fn(String, Value) -> F,
    F: Future<Output = Value>,
{
    let path = req.uri().path().to_string();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let review: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let out = handler(path, review).await;
    http::Response::builder()
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(out.to_string())))
        .expect("response")
}
