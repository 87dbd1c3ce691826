//! The REST client every command uses: `kube::Client` for transport (TLS,
//! auth, impersonation from kubeconfig) with raw JSON requests on top, because
//! kubectl works on arbitrary kinds and on server-side Tables rather than on
//! typed objects. Non-2xx answers become [`Error::Api`] with the server's
//! `Status`, so they print exactly like upstream's.

use http::{Method, Request};
use kube::client::Body;
use serde_json::{json, Value};

use crate::error::{Error, Result};
use crate::kubeconfig::{self, Flags};

/// Accept header that asks the server for a `Table` (upstream's order).
pub const TABLE_ACCEPT: &str = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";

/// A connected client plus what the commands need from the configuration.
#[derive(Clone)]
pub struct Rest {
    /// The transport.
    pub client: kube::Client,
    /// Namespace from `-n` or the context.
    pub namespace: String,
    /// Whether `-n` was given.
    pub namespace_explicit: bool,
    /// `scheme://host:port` of the server.
    pub server: String,
    /// Where discovery is cached (`--cache-dir`, default `~/.kube/cache`).
    pub cache_dir: Option<std::path::PathBuf>,
}

impl Rest {
    /// Connects (lazily: no request is made yet) using kubeconfig and flags.
    pub async fn connect(flags: &Flags) -> Result<Rest> {
        let resolved = kubeconfig::resolve(flags).await?;
        let server = resolved.config.cluster_url.to_string();
        let client =
            kube::Client::try_from(resolved.config).map_err(|e| Error::usage(format!("{e}")))?;
        Ok(Rest {
            client,
            namespace: resolved.namespace,
            namespace_explicit: resolved.namespace_explicit,
            server: server.trim_end_matches('/').to_string(),
            cache_dir: flags
                .cache_dir
                .clone()
                .or_else(|| kubeconfig::home_kube_dir().map(|d| d.join("cache"))),
        })
    }

    /// `host:port` as upstream names the server in connection errors.
    pub fn host_port(&self) -> String {
        let u = url::Url::parse(&self.server).ok();
        match u {
            Some(u) => {
                let host = u.host_str().unwrap_or("localhost").to_string();
                let port = u.port_or_known_default().unwrap_or(80);
                format!("{host}:{port}")
            }
            None => self.server.clone(),
        }
    }

    /// Sends a request and returns the raw response on 2xx.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Result<http::Response<Body>> {
        let mut req = Request::builder().method(method).uri(path);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req
            .body(Body::from(body.unwrap_or_default()))
            .map_err(|e| Error::usage(e.to_string()))?;
        let resp = self.client.send(req).await.map_err(|e| self.transport(e))?;
        print_warnings(resp.headers());
        let code = resp.status().as_u16();
        if (200..300).contains(&code) {
            return Ok(resp);
        }
        let bytes = resp
            .into_body()
            .collect_bytes()
            .await
            .map_err(|e| self.transport(e))?;
        Err(status_error(code, &bytes))
    }

    /// A JSON request; the answer parsed as JSON.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> Result<Value> {
        let mut headers = vec![("accept", "application/json")];
        if let Some(ct) = content_type {
            headers.push(("content-type", ct));
        }
        let resp = self.send(method, path, &headers, body).await?;
        self.json_body(resp).await
    }

    /// GET as JSON.
    pub async fn get(&self, path: &str) -> Result<Value> {
        self.call(Method::GET, path, None, None).await
    }

    /// GET asking for a server-side Table.
    pub async fn get_table(&self, path: &str) -> Result<Value> {
        let resp = self
            .send(Method::GET, path, &[("accept", TABLE_ACCEPT)], None)
            .await?;
        self.json_body(resp).await
    }

    /// Reads a whole body as JSON.
    pub async fn json_body(&self, resp: http::Response<Body>) -> Result<Value> {
        let bytes = resp
            .into_body()
            .collect_bytes()
            .await
            .map_err(|e| self.transport(e))?;
        if bytes.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&bytes).map_err(|e| Error::usage(format!("decoding response: {e}")))
    }

    /// Maps a transport error to upstream's wording.
    pub fn transport(&self, e: kube::Error) -> Error {
        let text = format!("{e:?}");
        if text.contains("ConnectionRefused") || text.contains("Connection refused") {
            Error::Connection {
                host: self.host_port(),
            }
        } else {
            // Upstream names the root cause (a TLS failure, a DNS error).
            let mut cause: &dyn std::error::Error = &e;
            while let Some(next) = cause.source() {
                cause = next;
            }
            Error::Raw(format!("Unable to connect to the server: {cause}"))
        }
    }
}

/// Prints the server's `Warning` headers (`299 - "text"`) as upstream does.
fn print_warnings(headers: &http::HeaderMap) {
    for w in headers.get_all("warning") {
        let Ok(w) = w.to_str() else { continue };
        let text = w
            .splitn(3, ' ')
            .nth(2)
            .map(|t| t.trim().trim_matches('"').replace("\\\"", "\""))
            .unwrap_or_else(|| w.to_string());
        eprintln!("Warning: {text}");
    }
}

/// Turns a non-2xx body into the `Status` upstream would show.
pub fn status_error(code: u16, body: &[u8]) -> Error {
    if let Ok(v) = serde_json::from_slice::<Value>(body) {
        if v.get("kind").and_then(Value::as_str) == Some("Status") {
            return Error::Api {
                code,
                status: v,
                context: None,
            };
        }
    }
    // Upstream synthesizes a message from the code when the body is no Status.
    let (reason, message) = match code {
        400 => ("BadRequest", "the server rejected our request for an unknown reason".to_string()),
        401 => ("Unauthorized", "the server has asked for the client to provide credentials".into()),
        403 => ("Forbidden", String::from_utf8_lossy(body).trim().to_string()),
        404 => ("NotFound", "the server could not find the requested resource".into()),
        405 => ("MethodNotAllowed", "the server does not allow this method on the requested resource".into()),
        409 => ("Conflict", "the server reported a conflict".into()),
        422 => ("Invalid", "the server rejected our request due to an error in our request".into()),
        429 => ("TooManyRequests", "the server has received too many requests and has asked us to try again later".into()),
        500 => ("InternalError", "an error on the server has prevented the request from succeeding".into()),
        503 => ("ServiceUnavailable", "the server is currently unable to handle the request".into()),
        504 => ("Timeout", "the server was unable to return a response in the time allotted, but may still be processing the request".into()),
        _ => ("", format!("the server responded with the status code {code} but did not return more information")),
    };
    Error::Api {
        code,
        status: json!({"kind": "Status", "reason": reason, "message": message, "code": code}),
        context: None,
    }
}

/// Percent-encodes a query parameter value.
pub fn q(v: &str) -> String {
    url::form_urlencoded::byte_serialize(v.as_bytes()).collect()
}
