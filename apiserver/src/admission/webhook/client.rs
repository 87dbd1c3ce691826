//! Calling a webhook: where it is (`clientConfig.url`, or a Service), a TLS
//! connection verified with the configuration's `caBundle`, and one HTTP/1.1
//! POST of the review. Admission webhooks and CRD conversion webhooks
//! (`crate::apiextensions::conversion::webhook`) both call through
//! [`call`].
//!
//! A Service reference is resolved the way upstream's endpoint routing
//! does: the Service's port named by `clientConfig.service.port` (443 by
//! default), the ready address of its Endpoints for that port, dialled
//! directly. The certificate must be valid for `<service>.<namespace>.svc`.
//! (Upstream's default resolves to the cluster IP instead; nothing on the
//! control plane forwards cluster IPs here, the node proxies do, so the
//! endpoints are the address the apiserver can reach when it has a route to
//! the pod network. The pod proxy's way through the kubelet
//! (`registry::core::pod::proxy`) carries plain HTTP only, and a webhook's
//! TLS must end at the webhook to be verified against its `caBundle`.)

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::RootCertStore;
use serde_json::Value;

use crate::ApiServer;

/// Where the system's trusted CAs are, for a configuration without
/// `caBundle`.
const SYSTEM_ROOTS: &str = "/etc/ssl/certs/ca-certificates.crt";

/// A webhook's address, resolved.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// What to dial, `host:port`.
    pub dial: String,
    /// The name the certificate must be valid for.
    pub server_name: String,
    /// `Host` header value.
    pub host: String,
    /// Path and query of the POST.
    pub path: String,
    /// The URL, for messages (`Post "https://..."`).
    pub url: String,
}

/// Resolves `clientConfig`; the error says why there is nowhere to call.
/// With `timeout_seconds` the webhook is told its deadline in the query
/// (`?timeout=10s`), as upstream's admission webhook client does.
pub async fn resolve(
    server: &ApiServer,
    client_config: &Value,
    timeout_seconds: Option<u64>,
) -> Result<Endpoint, String> {
    let query = timeout_seconds
        .map(|t| format!("?timeout={t}s"))
        .unwrap_or_default();
    if let Some(raw) = client_config.get("url").and_then(Value::as_str) {
        let url = url::Url::parse(raw).map_err(|e| format!("invalid webhook URL {raw:?}: {e}"))?;
        let host = url
            .host_str()
            .ok_or_else(|| format!("webhook URL {raw:?} has no host"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = url.port().unwrap_or(443);
        let mut path = url.path().to_string();
        match (url.query(), query.strip_prefix('?')) {
            (Some(q), Some(t)) => path = format!("{path}?{q}&{t}"),
            (Some(q), None) => path = format!("{path}?{q}"),
            (None, _) => path.push_str(&query),
        }
        let dial = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        return Ok(Endpoint {
            url: format!("https://{dial}{path}"),
            host: dial.clone(),
            dial,
            server_name: host,
            path,
        });
    }
    let svc = client_config.get("service").cloned().unwrap_or(Value::Null);
    let name = svc.get("name").and_then(Value::as_str).unwrap_or("");
    let ns = svc.get("namespace").and_then(Value::as_str).unwrap_or("");
    let port = svc.get("port").and_then(Value::as_i64).unwrap_or(443);
    let mut path = svc
        .get("path")
        .and_then(Value::as_str)
        .unwrap_or("/")
        .to_string();
    if !path.starts_with('/') {
        path.insert(0, '/');
    }
    path.push_str(&query);
    let server_name = format!("{name}.{ns}.svc");
    let url = format!("https://{server_name}:{port}{path}");
    let service = stored(server, "services", ns, name)
        .await?
        .ok_or_else(|| format!("Post {url:?}: service \"{ns}/{name}\" not found"))?;
    let ports = service
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let svc_port = ports
        .iter()
        .find(|p| p.get("port").and_then(Value::as_i64) == Some(port))
        .ok_or_else(|| {
            format!("Post {url:?}: no service port {port} found for service {name:?}")
        })?;
    let port_name = svc_port.get("name").and_then(Value::as_str).unwrap_or("");
    let no_endpoints = || format!("Post {url:?}: no endpoints available for service {name:?}");
    let endpoints = stored(server, "endpoints", ns, name)
        .await?
        .ok_or_else(no_endpoints)?;
    let (ip, target) = endpoints
        .get("subsets")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find_map(|subset| {
            let p = subset
                .get("ports")
                .and_then(Value::as_array)?
                .iter()
                .find(|p| p.get("name").and_then(Value::as_str).unwrap_or("") == port_name)?
                .get("port")
                .and_then(Value::as_i64)?;
            let ip = subset
                .get("addresses")
                .and_then(Value::as_array)?
                .iter()
                .find_map(|a| a.get("ip").and_then(Value::as_str))?;
            Some((ip.to_string(), p))
        })
        .ok_or_else(no_endpoints)?;
    let dial = if ip.contains(':') {
        format!("[{ip}]:{target}")
    } else {
        format!("{ip}:{target}")
    };
    Ok(Endpoint {
        dial,
        host: format!("{server_name}:{port}"),
        server_name,
        path,
        url,
    })
}

async fn stored(
    server: &ApiServer,
    plural: &str,
    ns: &str,
    name: &str,
) -> Result<Option<Value>, String> {
    let key = server.store.key(plural, Some(ns), name);
    server
        .store
        .get(&key)
        .await
        .map(|o| o.map(|s| s.object))
        .map_err(|e| format!("reading {plural} {ns}/{name}: {e}"))
}

/// The TLS client for a `caBundle` (base64 of PEM certificates, as it is
/// in JSON); none: the system's trusted CAs.
fn tls_config(ca_bundle: Option<&str>) -> Result<rustls::ClientConfig, String> {
    use base64::Engine;
    let pem = match ca_bundle.filter(|b| !b.is_empty()) {
        Some(b) => base64::engine::general_purpose::STANDARD
            .decode(b)
            .map_err(|e| format!("caBundle is not base64: {e}"))?,
        None => std::fs::read(SYSTEM_ROOTS).unwrap_or_default(),
    };
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|e| format!("caBundle holds no PEM certificate: {e}"))?;
        roots
            .add(cert)
            .map_err(|e| format!("caBundle holds an unusable certificate: {e}"))?;
    }
    Ok(
        rustls::ClientConfig::builder_with_provider(crate::serve::tls::provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

/// Resolves `client_config`, POSTs `body` there (verified with its
/// `caBundle`) and decodes the JSON answer, all within `timeout`; what
/// admission webhooks and CRD conversion webhooks share. `announce` puts
/// the timeout in the URL (admission webhooks; upstream's conversion
/// webhook client does not). Errors read like Go's: `Post "<url>": ...`,
/// `... context deadline exceeded` when the time is up.
pub async fn call(
    server: &ApiServer,
    client_config: &Value,
    timeout: std::time::Duration,
    announce: bool,
    body: Vec<u8>,
) -> Result<Value, String> {
    let announced = announce.then_some(timeout.as_secs());
    let endpoint = resolve(server, client_config, announced).await?;
    let ca_bundle = client_config.get("caBundle").and_then(Value::as_str);
    match tokio::time::timeout(timeout, post(&endpoint, ca_bundle, body)).await {
        Ok(answer) => answer,
        Err(_) => Err(format!(
            "Post {:?}: context deadline exceeded",
            endpoint.url
        )),
    }
}

/// POSTs `body` to the webhook and decodes its JSON answer. The caller
/// bounds the time; errors read like Go's, after `Post "<url>": `.
pub async fn post(
    endpoint: &Endpoint,
    ca_bundle: Option<&str>,
    body: Vec<u8>,
) -> Result<Value, String> {
    let url = &endpoint.url;
    let fail = |e: String| format!("Post {url:?}: {e}");
    let config = tls_config(ca_bundle).map_err(fail)?;
    let name = ServerName::try_from(endpoint.server_name.clone())
        .map_err(|e| fail(format!("invalid server name: {e}")))?;
    let tcp = tokio::net::TcpStream::connect(&endpoint.dial)
        .await
        .map_err(|e| fail(format!("dial tcp {}: {e}", endpoint.dial)))?;
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .map_err(|e| fail(format!("tls: {e}")))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .map_err(|e| fail(e.to_string()))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let req = http::Request::post(&endpoint.path)
        .header(http::header::HOST, &endpoint.host)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(http::header::ACCEPT, "application/json")
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| fail(e.to_string()))?;
    let resp = sender
        .send_request(req)
        .await
        .map_err(|e| fail(e.to_string()))?;
    let status = resp.status();
    let bytes = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| fail(e.to_string()))?
        .to_bytes();
    if !status.is_success() {
        let text = String::from_utf8_lossy(&bytes);
        let message = serde_json::from_slice::<Value>(&bytes)
            .ok()
            .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_string))
            .unwrap_or_else(|| {
                format!(
                    "an error on the server ({:?}) has prevented the request from succeeding",
                    text.trim()
                )
            });
        return Err(message);
    }
    serde_json::from_slice(&bytes).map_err(|e| format!("the webhook's response is not JSON: {e}"))
}
