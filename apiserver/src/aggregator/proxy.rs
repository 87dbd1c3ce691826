//! The proxy to an extension apiserver: every request under `/apis/G/V` of
//! an APIService with a `spec.service` goes, after this server authenticated
//! and authorized it, to one ready endpoint of that Service over HTTPS.
//!
//! - The backend's certificate is checked against `spec.caBundle` for the
//!   name `<service>.<namespace>.svc` (not at all with
//!   `insecureSkipTLSVerify`), and this server presents its front-proxy
//!   client certificate (`--proxy-client-cert-file`), which the backend
//!   trusts through `--requestheader-client-ca-file`
//!   ([`super::authentication_trust`]).
//! - The user goes along in upstream's request headers: `X-Remote-User`,
//!   one `X-Remote-Group` per group, `X-Remote-Extra-<key>` per extra
//!   value; whatever the client sent in those headers, and its own
//!   credentials, are dropped.
//! - Bodies stream both ways (a watch is a long answer), and an upgrade
//!   (exec-like streams) is joined end to end once the backend says `101`.
//! - An APIService that is not `Available` answers `503 service
//!   unavailable`, as do a Service that resolves to no endpoint and a
//!   backend that cannot be reached (then with the dial or TLS error), all
//!   as upstream's plain-text answers.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use component_base::tls::Verify;
use http::{HeaderName, HeaderValue, StatusCode};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use serde_json::Value;

use super::discovery::Registered;
use super::ServiceRef;
use crate::authentication::UserInfo;
use crate::ApiServer;

/// How long dialling and the TLS handshake with a backend may take.
const DIAL_TIMEOUT: Duration = Duration::from_secs(30);

/// A plain-text error answer, as Go's `http.Error` writes it.
pub fn text_error(status: StatusCode, message: &str) -> Response {
    (
        status,
        [
            (http::header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (http::header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        format!("{message}\n"),
    )
        .into_response()
}

/// A TLS connection to a backend of `apiservice` at `addr`.
pub type Connection = tokio_rustls::client::TlsStream<tokio::net::TcpStream>;

/// Dials `addr` and opens TLS as the APIService says (its `caBundle` or
/// `insecureSkipTLSVerify`, the name `<svc>.<ns>.svc`), presenting the
/// proxy client certificate. The error reads like Go's.
pub async fn dial(
    server: &ApiServer,
    apiservice: &Value,
    svc: &ServiceRef,
    addr: &str,
) -> Result<Connection, String> {
    let spec = &apiservice["spec"];
    let ca = match spec.get("caBundle").and_then(Value::as_str) {
        Some(b) => base64::engine::general_purpose::STANDARD
            .decode(b)
            .map_err(|e| format!("caBundle is not base64: {e}"))?,
        None => Vec::new(),
    };
    let verify = if spec["insecureSkipTLSVerify"] == true {
        Verify::Skip
    } else {
        Verify::Pem(&ca)
    };
    let config =
        component_base::tls::client_config_from(verify, server.aggregator.proxy_client.as_ref())
            .map_err(|e| e.to_string())?;
    let name = ServerName::try_from(svc.server_name()).map_err(|e| e.to_string())?;
    let connect = async {
        let tcp = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| format!("dial tcp {addr}: connect: {}", io_message(&e)))?;
        let _ = tcp.set_nodelay(true);
        tokio_rustls::TlsConnector::from(config)
            .connect(name, tcp)
            .await
            .map_err(|e| tls_message(&e))
    };
    match tokio::time::timeout(DIAL_TIMEOUT, connect).await {
        Ok(result) => result,
        Err(_) => Err(format!("dial tcp {addr}: i/o timeout")),
    }
}

/// An I/O error as Go words the common ones.
fn io_message(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::ConnectionRefused => "connection refused".into(),
        std::io::ErrorKind::ConnectionReset => "connection reset by peer".into(),
        _ => e.to_string(),
    }
}

/// A handshake failure as Go's TLS stack words it.
fn tls_message(e: &std::io::Error) -> String {
    use rustls::CertificateError;
    let inner = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>());
    match inner {
        // A CA of the same name that did not sign it is, for Go, an
        // unknown authority as well.
        Some(rustls::Error::InvalidCertificate(
            CertificateError::UnknownIssuer | CertificateError::BadSignature,
        )) => {
            "tls: failed to verify certificate: x509: certificate signed by unknown authority"
                .into()
        }
        Some(rustls::Error::InvalidCertificate(CertificateError::NotValidForName))
        | Some(rustls::Error::InvalidCertificate(CertificateError::NotValidForNameContext {
            ..
        })) => "tls: failed to verify certificate: x509: certificate is not valid for the requested name".into(),
        Some(rustls::Error::InvalidCertificate(CertificateError::Expired))
        | Some(rustls::Error::InvalidCertificate(CertificateError::ExpiredContext { .. })) => {
            "tls: failed to verify certificate: x509: certificate has expired or is not yet valid"
                .into()
        }
        Some(other) => format!("tls: {other}"),
        None => format!("tls: {}", io_message(e)),
    }
}

/// Sets upstream's authenticating-proxy headers for `user` on `headers`,
/// after removing any a client sent.
pub fn set_user_headers(headers: &mut http::HeaderMap, user: &UserInfo) {
    let stale: Vec<HeaderName> = headers
        .keys()
        .filter(|k| {
            let k = k.as_str();
            k == "x-remote-user"
                || k == "x-remote-uid"
                || k == "x-remote-group"
                || k.starts_with("x-remote-extra-")
        })
        .cloned()
        .collect();
    for k in stale {
        headers.remove(k);
    }
    let mut add = |name: &str, value: &str| {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            headers.append(n, v);
        }
    };
    add("X-Remote-User", &user.username);
    for g in &user.groups {
        add("X-Remote-Group", g);
    }
    for (key, values) in &user.extra {
        // Keys travel escaped, as upstream's (a key may hold `/` or `.`).
        let escaped: String = url::form_urlencoded::byte_serialize(key.as_bytes()).collect();
        for v in values {
            add(&format!("X-Remote-Extra-{escaped}"), v);
        }
    }
}

/// Whether the request asks for a protocol upgrade.
fn is_upgrade(req: &Request) -> bool {
    req.headers()
        .get(http::header::CONNECTION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
        })
        && req.headers().contains_key(http::header::UPGRADE)
}

/// Proxies `req` to the backend of the APIService `registered`.
pub async fn serve(server: &Arc<ApiServer>, registered: &Registered, mut req: Request) -> Response {
    let unavailable = || text_error(StatusCode::SERVICE_UNAVAILABLE, "service unavailable");
    let apiservice = &*registered.object;
    let Some(svc) = ServiceRef::of(apiservice) else {
        return unavailable();
    };
    if !registered.available {
        return unavailable();
    }
    let Some(user) = req.extensions().get::<UserInfo>().cloned() else {
        return text_error(StatusCode::INTERNAL_SERVER_ERROR, "missing user");
    };
    let addr = match super::resolver::resolve(server, &svc).await {
        Ok(a) => a,
        Err(e) => {
            tracing::warn!(service = %format!("{}/{}", svc.namespace, svc.name), error = %e, "error resolving the APIService's service");
            return unavailable();
        }
    };
    let upgrade = is_upgrade(&req);
    let client_upgrade = upgrade.then(|| hyper::upgrade::on(&mut req));
    let stream = match dial(server, apiservice, &svc, &addr).await {
        Ok(s) => s,
        Err(e) => return text_error(StatusCode::SERVICE_UNAVAILABLE, &e),
    };
    let (mut sender, conn) =
        match hyper::client::conn::http1::handshake::<_, Body>(TokioIo::new(stream)).await {
            Ok(pair) => pair,
            Err(e) => return text_error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
        };
    tokio::spawn(async move {
        let _ = conn.with_upgrades().await;
    });
    let (parts, body) = req.into_parts();
    let path_and_query = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| parts.uri.path().to_string());
    let mut headers = http::HeaderMap::new();
    for (k, v) in &parts.headers {
        // The client's credentials and impersonation ended here; hop-by-hop
        // headers belong to each connection (but an upgrade keeps its own).
        let name = k.as_str();
        let hop = k == http::header::CONNECTION || k == http::header::UPGRADE;
        if k == http::header::HOST
            || k == http::header::AUTHORIZATION
            || name.starts_with("impersonate-")
            || name == "keep-alive"
            || name == "proxy-connection"
            || (hop && !upgrade)
        {
            continue;
        }
        headers.append(k.clone(), v.clone());
    }
    set_user_headers(&mut headers, &user);
    if let Ok(host) = HeaderValue::from_str(&addr) {
        headers.insert(http::header::HOST, host);
    }
    let mut out = http::Request::builder()
        .method(parts.method)
        .uri(path_and_query);
    if let Some(h) = out.headers_mut() {
        *h = headers;
    }
    let out = match out.body(body) {
        Ok(r) => r,
        Err(e) => return text_error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    };
    let mut resp = match sender.send_request(out).await {
        Ok(r) => r,
        Err(e) => return text_error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
    };
    if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
        return match client_upgrade {
            Some(client) => crate::response::switched(client, &mut resp),
            None => text_error(
                StatusCode::BAD_GATEWAY,
                "the backend switched protocols unasked",
            ),
        };
    }
    crate::response::streamed(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_headers_replace_what_the_client_sent() {
        let mut headers = http::HeaderMap::new();
        headers.insert("x-remote-user", HeaderValue::from_static("mallory"));
        headers.insert("x-remote-extra-scopes", HeaderValue::from_static("all"));
        let mut user = UserInfo::authenticated("alice", vec!["dev".into()]);
        user.extra.insert(
            "authentication.kubernetes.io/pod-name".into(),
            vec!["p".into()],
        );
        set_user_headers(&mut headers, &user);
        assert_eq!(headers["x-remote-user"], "alice");
        let groups: Vec<_> = headers.get_all("x-remote-group").iter().collect();
        assert_eq!(groups, ["dev", "system:authenticated"]);
        assert!(headers.get("x-remote-extra-scopes").is_none());
        assert_eq!(
            headers["x-remote-extra-authentication.kubernetes.io%2Fpod-name"],
            "p"
        );
    }
}
