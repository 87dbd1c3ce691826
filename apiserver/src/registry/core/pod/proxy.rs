//! The pod subresources served by the node's kubelet: `pods/log`,
//! `pods/exec`, `pods/attach` and `pods/portforward`.
//!
//! The apiserver holds no container: it checks the request against the pod
//! (scheduled? container named and part of the pod? not finished?), finds the
//! kubelet of the pod's node (the Node's `InternalIP` and
//! `status.daemonEndpoints.kubeletEndpoint.Port`, 10250 by default) and
//! proxies (the Pod strategy's `connect`, which the generic dispatcher calls
//! before it reads the body, since an upgrade needs the untouched request):
//!
//! - `log`: an ordinary GET to `/containerLogs/{ns}/{pod}/{container}`, whose
//!   body is streamed through as it comes (that is `kubectl logs -f`);
//! - `exec`, `attach`, `portforward`: the same request (a WebSocket or SPDY
//!   upgrade) to `/exec/...`, `/attach/...`, `/portForward/...`; once the
//!   kubelet answers `101 Switching Protocols`, both upgraded connections are
//!   joined and bytes are copied both ways. The apiserver does not look
//!   inside, so any subprotocol the kubelet speaks works end to end.
//!
//! - `proxy` (`pods/[scheme:]name[:port]/proxy/path`, and `services/.../proxy`
//!   and `nodes/.../proxy` through [`node_proxy`] and [`service_proxy`]): any
//!   method with its body, to the kubelet's `/podProxy/...`, which reaches the
//!   pod's IP from the pod's node. Upstream's apiserver dials pod IPs itself;
//!   going through the kubelet works where the control plane cannot route to
//!   pods (our lab, or VMs without a pod network on the control plane).
//!   `https:` reaches a pod over TLS (its certificate unchecked, as
//!   upstream); links in HTML answers are rewritten to stay behind the
//!   proxy ([`super::link_rewrite`]).
//!
//! The kubelet is reached over TLS as `--kubelet-client-certificate`
//! ([`crate::kubelet_client`]); the kubelet authorizes that identity itself
//! (a SubjectAccessReview on `nodes/proxy`), so what a user may do here is
//! checked twice: by us on `pods/exec` etc., by the kubelet on the
//! apiserver's own identity.

use apimachinery::resources::{self, Subresource};
use axum::body::Body;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::StatusCode;
use http_body_util::Empty;
use hyper_util::rt::TokioIo;
use serde_json::Value;

use super::link_rewrite;
use crate::errors::{ApiError, Result, Target};
use crate::request::RequestInfo;
use crate::ApiServer;

/// The kubelet port when the Node does not say.
pub const DEFAULT_KUBELET_PORT: i64 = 10250;

/// Whether a pod subresource is one of ours.
pub fn handles(sub: Subresource) -> bool {
    matches!(
        sub,
        Subresource::Log
            | Subresource::Exec
            | Subresource::Attach
            | Subresource::PortForward
            | Subresource::Proxy
    )
}

/// Serves a `pods/{log,exec,attach,portforward}` request.
pub async fn serve(server: &ApiServer, info: &RequestInfo, req: Request) -> Result<Response> {
    let sub = info.subresource.unwrap_or(Subresource::Log);
    if sub == Subresource::Proxy {
        return pod_proxy(server, info, req).await;
    }
    let allowed = match sub {
        Subresource::Log => req.method() == http::Method::GET,
        _ => matches!(*req.method(), http::Method::GET | http::Method::POST),
    };
    if !allowed {
        return Err(ApiError::MethodNotAllowed(format!(
            "{} is not supported on pods/{}",
            req.method(),
            sub.name()
        )));
    }
    let ns = info.namespace.clone().unwrap_or_default();
    let name = info.name.clone().unwrap_or_default();
    let key = server
        .store
        .key(info.resource.storage_name(), Some(&ns), &name);
    let target = Target::new(info.resource, name.clone());
    let pod = match server.store.get(&key).await {
        Ok(Some(p)) => p.object,
        Ok(None) => return Err(ApiError::NotFound(target)),
        Err(e) => return Err(ApiError::from_storage(e, target)),
    };
    let pairs: Vec<(String, String)> =
        url::form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
    let container_param = pairs
        .iter()
        .rev()
        .find(|(k, _)| k == "container")
        .map(|(_, v)| v.clone())
        .filter(|c| !c.is_empty());
    let node = pod
        .pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if sub != Subresource::PortForward {
        // Container first: it is a client mistake even before scheduling.
        let container = pick_container(&pod, &name, container_param.as_deref())?;
        if node.is_empty() {
            return Err(ApiError::BadRequest(format!(
                "pod {name} does not have a host assigned"
            )));
        }
        if sub != Subresource::Log {
            check_not_finished(&pod)?;
        }
        let addr = kubelet_address(server, &node).await?;
        let rest: Vec<(String, String)> = pairs
            .into_iter()
            .filter(|(k, _)| k != "container")
            .collect();
        let path = match sub {
            Subresource::Log => format!("/containerLogs/{ns}/{name}/{container}"),
            Subresource::Exec => format!("/exec/{ns}/{name}/{container}"),
            _ => format!("/attach/{ns}/{name}/{container}"),
        };
        let wanted: &[&str] = if sub == Subresource::Log {
            &[
                "follow",
                "previous",
                "timestamps",
                "tailLines",
                "sinceSeconds",
                "sinceTime",
                "limitBytes",
            ]
        } else {
            &["command", "stdin", "stdout", "stderr", "tty"]
        };
        let query = encode(rest.iter().filter(|(k, _)| wanted.contains(&k.as_str())));
        if sub == Subresource::Log && is_websocket(&req) {
            return logs_over_websocket(server, req, &addr, &with_query(path, &query)).await;
        }
        return proxy(server, req, &addr, &with_query(path, &query)).await;
    }
    if node.is_empty() {
        return Err(ApiError::BadRequest(format!(
            "pod {name} does not have a host assigned"
        )));
    }
    check_not_finished(&pod)?;
    let addr = kubelet_address(server, &node).await?;
    // Upstream's PodPortForwardOptions: `ports` (the WebSocket channel
    // protocol names its ports there; SPDY clients name them per stream).
    let query = encode(pairs.iter().filter(|(k, _)| k == "port" || k == "ports"));
    proxy(
        server,
        req,
        &addr,
        &with_query(format!("/portForward/{ns}/{name}"), &query),
    )
    .await
}

fn with_query(path: String, query: &str) -> String {
    if query.is_empty() {
        path
    } else {
        format!("{path}?{query}")
    }
}

fn encode<'a>(pairs: impl Iterator<Item = &'a (String, String)>) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

fn names(pod: &Value, field: &str) -> Vec<String> {
    pod.pointer(&format!("/spec/{field}"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|c| c.get("name").and_then(Value::as_str).map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// The container a request is for, with upstream's messages when unclear.
fn pick_container(pod: &Value, pod_name: &str, asked: Option<&str>) -> Result<String> {
    let main = names(pod, "containers");
    let init = names(pod, "initContainers");
    let ephemeral = names(pod, "ephemeralContainers");
    match asked {
        Some(c) if main.iter().chain(&init).chain(&ephemeral).any(|n| n == c) => Ok(c.to_string()),
        Some(c) => Err(ApiError::BadRequest(format!(
            "container {c} is not valid for pod {pod_name}"
        ))),
        None if main.len() == 1 => Ok(main[0].clone()),
        None => {
            let mut msg = format!(
                "a container name must be specified for pod {pod_name}, choose one of: [{}]",
                main.join(" ")
            );
            if !init.is_empty() {
                msg.push_str(&format!(
                    " or one of the init containers: [{}]",
                    init.join(" ")
                ));
            }
            if !ephemeral.is_empty() {
                msg.push_str(&format!(
                    " or one of the ephemeral containers: [{}]",
                    ephemeral.join(" ")
                ));
            }
            Err(ApiError::BadRequest(msg))
        }
    }
}

fn check_not_finished(pod: &Value) -> Result<()> {
    let phase = pod
        .pointer("/status/phase")
        .and_then(Value::as_str)
        .unwrap_or("");
    if phase == "Succeeded" || phase == "Failed" {
        return Err(ApiError::BadRequest(format!(
            "cannot exec into or attach to a container in a completed pod; current phase is {phase}"
        )));
    }
    Ok(())
}

/// `host:port` of a node's kubelet.
async fn kubelet_address(server: &ApiServer, node: &str) -> Result<String> {
    let nodes = resources::find("", "v1", "nodes")
        .ok_or_else(|| ApiError::Internal("the nodes resource is not served".into()))?;
    let key = server.store.key(nodes.storage_name(), None, node);
    let obj = match server.store.get(&key).await {
        Ok(Some(n)) => n.object,
        Ok(None) => return Err(ApiError::NotFound(Target::new(nodes, node))),
        Err(e) => return Err(ApiError::from_storage(e, Target::new(nodes, node))),
    };
    kubelet_address_of(&obj).ok_or_else(|| {
        ApiError::BadRequest(format!("node {node} has no address to reach its kubelet"))
    })
}

/// The kubelet's `host:port` from a Node object: `InternalIP` first, then any
/// address.
pub fn kubelet_address_of(node: &Value) -> Option<String> {
    let addresses = node
        .pointer("/status/addresses")
        .and_then(Value::as_array)?;
    let of_type = |t: &str| {
        addresses
            .iter()
            .find(|a| a.get("type").and_then(Value::as_str) == Some(t))
            .and_then(|a| a.get("address").and_then(Value::as_str))
    };
    let host = of_type("InternalIP")
        .or_else(|| of_type("ExternalIP"))
        .or_else(|| of_type("Hostname"))?;
    let port = node
        .pointer("/status/daemonEndpoints/kubeletEndpoint/Port")
        .and_then(Value::as_i64)
        .filter(|p| *p > 0)
        .unwrap_or(DEFAULT_KUBELET_PORT);
    Some(if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    })
}

fn unreachable(addr: &str, e: impl std::fmt::Display) -> ApiError {
    ApiError::Internal(format!("error dialing the kubelet at {addr}: {e}"))
}

/// Sends the request to the kubelet; on `101` joins the two upgraded
/// connections, otherwise streams the kubelet's answer back.
async fn proxy(
    server: &ApiServer,
    mut req: Request,
    addr: &str,
    path_and_query: &str,
) -> Result<Response> {
    let stream = dial(server, addr).await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| unreachable(addr, e))?;
    tokio::spawn(async move {
        let _ = conn.with_upgrades().await;
    });
    let mut out = http::Request::builder()
        .method(req.method().clone())
        .uri(path_and_query);
    for (k, v) in req.headers() {
        // The kubelet sees its own address as Host; credentials stay here.
        if k == http::header::HOST
            || k == http::header::AUTHORIZATION
            || k == http::header::CONTENT_LENGTH
        {
            continue;
        }
        out = out.header(k, v);
    }
    let out = out
        .header(http::header::HOST, addr)
        .body(Empty::<Bytes>::new())
        .map_err(|e| ApiError::Internal(format!("building the kubelet request: {e}")))?;
    let mut resp = sender
        .send_request(out)
        .await
        .map_err(|e| unreachable(addr, e))?;
    if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
        return Ok(crate::response::switched(
            hyper::upgrade::on(&mut req),
            &mut resp,
        ));
    }
    Ok(crate::response::streamed(resp))
}

/// Whether the client asks for a WebSocket upgrade.
fn is_websocket(req: &Request) -> bool {
    let has = |name: http::header::HeaderName, token: &str| {
        req.headers().get_all(name).iter().any(|v| {
            v.to_str()
                .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
        })
    };
    has(http::header::CONNECTION, "upgrade") && has(http::header::UPGRADE, "websocket")
}

/// The stream protocols a log read over a WebSocket may ask for, as
/// upstream's `wsstream` reader: `binary.k8s.io` (and no protocol) sends the
/// bytes as binary messages, `base64.binary.k8s.io` as base64 text messages.
const LOG_PROTOCOLS: [&str; 2] = ["binary.k8s.io", "base64.binary.k8s.io"];

/// `pods/log` over a WebSocket (what browsers and some clients use): the
/// kubelet is asked the ordinary way, and its answer, when it is a 200, is
/// sent as messages of the protocol the client chose; the socket closes
/// when the log ends. An error answer comes back as plain HTTP, before any
/// upgrade.
async fn logs_over_websocket(
    server: &ApiServer,
    req: Request,
    addr: &str,
    path_and_query: &str,
) -> Result<Response> {
    use axum::extract::ws::{Message, WebSocketUpgrade};
    use axum::extract::FromRequestParts;
    use base64::Engine;
    use http_body_util::BodyExt;

    let (mut parts, _) = req.into_parts();
    let upgrade = WebSocketUpgrade::from_request_parts(&mut parts, &())
        .await
        .map_err(|e| ApiError::BadRequest(format!("websocket upgrade: {}", e.body_text())))?;
    let stream = dial(server, addr).await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| unreachable(addr, e))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let out = http::Request::get(path_and_query)
        .header(http::header::HOST, addr)
        .body(Empty::<Bytes>::new())
        .map_err(|e| ApiError::Internal(format!("building the kubelet request: {e}")))?;
    let resp = sender
        .send_request(out)
        .await
        .map_err(|e| unreachable(addr, e))?;
    if resp.status() != StatusCode::OK {
        return Ok(crate::response::streamed(resp));
    }
    let mut body = resp.into_body();
    let upgrade = upgrade.protocols(LOG_PROTOCOLS);
    let base64 =
        upgrade.selected_protocol().and_then(|p| p.to_str().ok()) == Some("base64.binary.k8s.io");
    Ok(upgrade.on_upgrade(move |mut socket| async move {
        while let Some(frame) = body.frame().await {
            let Ok(frame) = frame else { break };
            let Ok(data) = frame.into_data() else {
                continue;
            };
            let message = if base64 {
                Message::Text(
                    base64::engine::general_purpose::STANDARD
                        .encode(&data)
                        .into(),
                )
            } else {
                Message::Binary(data)
            };
            if socket.send(message).await.is_err() {
                return;
            }
        }
        let _ = socket.send(Message::Close(None)).await;
    }))
}

/// `[scheme:]name[:port]`, the id of a proxy request (upstream's
/// `SplitSchemeNamePort`).
pub fn split_scheme_name_port(id: &str) -> Result<(&str, &str, &str)> {
    let parts: Vec<&str> = id.split(':').collect();
    let bad = || ApiError::BadRequest(format!("invalid request {id}"));
    match parts.as_slice() {
        [name] if !name.is_empty() => Ok(("", name, "")),
        [name, port] if !name.is_empty() => Ok(("", name, port)),
        [scheme, name, port] if !name.is_empty() && matches!(*scheme, "http" | "https") => {
            Ok((scheme, name, port))
        }
        _ => Err(bad()),
    }
}

/// The path after `/{id}/proxy` and the query, as the target should see them.
fn sub_path(req: &Request, id: &str) -> String {
    let path = req.uri().path();
    let marker = format!("/{id}/proxy");
    let rest = path
        .find(&marker)
        .map(|i| &path[i + marker.len()..])
        .unwrap_or("");
    let rest = rest.trim_start_matches('/');
    match req.uri().query() {
        Some(q) => format!("{rest}?{q}"),
        None => rest.to_string(),
    }
}

async fn get_object(
    server: &ApiServer,
    plural: &str,
    ns: Option<&str>,
    name: &str,
) -> Result<Value> {
    let resource = resources::find("", "v1", plural)
        .ok_or_else(|| ApiError::Internal(format!("{plural} are not served")))?;
    let key = server.store.key(resource.storage_name(), ns, name);
    let target = Target::new(resource, name);
    match server.store.get(&key).await {
        Ok(Some(o)) => Ok(o.object),
        Ok(None) => Err(ApiError::NotFound(target)),
        Err(e) => Err(ApiError::from_storage(e, target)),
    }
}

/// Sends `req` with its body to the pod through its node's kubelet.
async fn to_pod(
    server: &ApiServer,
    pod: &Value,
    scheme: &str,
    port: &str,
    rest: &str,
    req: Request,
    prefix: Option<String>,
) -> Result<Response> {
    let ns = pod
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("");
    let name = pod
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let node = pod
        .pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .unwrap_or("");
    if node.is_empty() {
        return Err(ApiError::ServiceUnavailable(format!(
            "pod {name} does not have a host assigned"
        )));
    }
    let addr = kubelet_address(server, node).await?;
    let scheme = if scheme.is_empty() { "http" } else { scheme };
    forward(
        server,
        req,
        &addr,
        &format!("/podProxy/{ns}/{name}/{scheme}/{port}/{rest}"),
        prefix,
    )
    .await
}

/// `pods/[scheme:]name[:port]/proxy/...`: the port given, else the first
/// container port, else 80.
async fn pod_proxy(server: &ApiServer, info: &RequestInfo, req: Request) -> Result<Response> {
    let id = info.name.clone().unwrap_or_default();
    let (scheme, name, port) = split_scheme_name_port(&id)?;
    let pod = get_object(server, "pods", info.namespace.as_deref(), name).await?;
    let port = if port.is_empty() {
        pod.pointer("/spec/containers")
            .and_then(Value::as_array)
            .and_then(|cs| {
                cs.iter()
                    .find_map(|c| c.pointer("/ports/0/containerPort").and_then(Value::as_i64))
            })
            .unwrap_or(80)
            .to_string()
    } else {
        port.to_string()
    };
    let rest = sub_path(&req, &id);
    let prefix = link_rewrite::prefix(req.uri().path(), &id);
    to_pod(server, &pod, scheme, &port, &rest, req, prefix).await
}

/// `nodes/name[:port]/proxy/...`: the node's kubelet API (`/pods`,
/// `/healthz`, `/stats/summary`, logs ...).
pub async fn node_proxy(server: &ApiServer, info: &RequestInfo, req: Request) -> Result<Response> {
    let id = info.name.clone().unwrap_or_default();
    let (_, name, port) = split_scheme_name_port(&id)?;
    let node = get_object(server, "nodes", None, name).await?;
    let mut addr = kubelet_address_of(&node).ok_or_else(|| {
        ApiError::BadRequest(format!("node {name} has no address to reach its kubelet"))
    })?;
    if !port.is_empty() {
        if let Some((host, _)) = addr.rsplit_once(':') {
            addr = format!("{host}:{port}");
        }
    }
    let rest = sub_path(&req, &id);
    let prefix = link_rewrite::prefix(req.uri().path(), &id);
    forward(server, req, &addr, &format!("/{rest}"), prefix).await
}

/// `services/[scheme:]name[:port]/proxy/...`: one ready endpoint of the
/// Service port named (by name or number; the first when none is), reached
/// through its pod's kubelet.
pub async fn service_proxy(
    server: &ApiServer,
    info: &RequestInfo,
    req: Request,
) -> Result<Response> {
    let id = info.name.clone().unwrap_or_default();
    let (scheme, name, port) = split_scheme_name_port(&id)?;
    let ns = info.namespace.clone().unwrap_or_default();
    let svc = get_object(server, "services", Some(&ns), name).await?;
    let ports = svc
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let svc_port = ports
        .iter()
        .find(|p| {
            port.is_empty()
                || p.get("name").and_then(Value::as_str) == Some(port)
                || p.get("port")
                    .and_then(Value::as_i64)
                    .map(|n| n.to_string())
                    .as_deref()
                    == Some(port)
        })
        .ok_or_else(|| {
            ApiError::ServiceUnavailable(format!(
                "no service port {port:?} found for service {name:?}"
            ))
        })?;
    let port_name = svc_port.get("name").and_then(Value::as_str).unwrap_or("");
    let endpoints = get_object(server, "endpoints", Some(&ns), name)
        .await
        .map_err(|_| {
            ApiError::ServiceUnavailable(format!("no endpoints available for service {name:?}"))
        })?;
    let mut chosen: Option<(String, i64)> = None;
    for subset in endpoints
        .get("subsets")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(p) = subset
            .get("ports")
            .and_then(Value::as_array)
            .and_then(|ps| {
                ps.iter()
                    .find(|p| p.get("name").and_then(Value::as_str).unwrap_or("") == port_name)
            })
            .and_then(|p| p.get("port").and_then(Value::as_i64))
        else {
            continue;
        };
        let pod = subset
            .get("addresses")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find_map(|a| {
                (a.pointer("/targetRef/kind").and_then(Value::as_str) == Some("Pod"))
                    .then(|| a.pointer("/targetRef/name").and_then(Value::as_str))
                    .flatten()
            });
        if let Some(pod) = pod {
            chosen = Some((pod.to_string(), p));
            break;
        }
    }
    let (pod_name, target_port) = chosen.ok_or_else(|| {
        ApiError::ServiceUnavailable(format!("no endpoints available for service {name:?}"))
    })?;
    let pod = get_object(server, "pods", Some(&ns), &pod_name).await?;
    let rest = sub_path(&req, &id);
    let prefix = link_rewrite::prefix(req.uri().path(), &id);
    to_pod(
        server,
        &pod,
        scheme,
        &target_port.to_string(),
        &rest,
        req,
        prefix,
    )
    .await
}

/// Sends the request with its body to `addr` and streams the answer back
/// (no upgrades: those go through [`proxy`]); with the proxy `prefix`,
/// links in an HTML answer are rewritten to stay behind it
/// ([`link_rewrite`]).
async fn forward(
    server: &ApiServer,
    req: Request,
    addr: &str,
    path_and_query: &str,
    prefix: Option<String>,
) -> Result<Response> {
    if let Some(moved) = root_redirect(&req, prefix.as_deref()) {
        return Ok(moved);
    }
    let stream = dial(server, addr).await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake::<_, Body>(TokioIo::new(stream))
        .await
        .map_err(|e| unreachable(addr, e))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let (parts, body) = req.into_parts();
    let mut out = http::Request::builder()
        .method(parts.method)
        .uri(path_and_query);
    for (k, v) in &parts.headers {
        // Credentials and impersonation stay with the apiserver.
        let name = k.as_str();
        if k == http::header::HOST
            || k == http::header::AUTHORIZATION
            || k == http::header::CONNECTION
            || name.starts_with("impersonate-")
        {
            continue;
        }
        out = out.header(k, v);
    }
    let out = out
        .header(http::header::HOST, addr)
        .body(body)
        .map_err(|e| ApiError::Internal(format!("building the proxied request: {e}")))?;
    let resp = sender
        .send_request(out)
        .await
        .map_err(|e| unreachable(addr, e))?;
    match prefix {
        Some(p) => rewritten(resp, &p).await,
        None => Ok(crate::response::streamed(resp)),
    }
}

/// A GET or HEAD of the proxy's root without its slash (the request path is
/// the proxy `prefix` itself) is sent to `.../proxy/` with a 301, as
/// upstream's proxy does: relative links in the page then resolve below the
/// proxy rather than beside it. A target path that merely ends in `/proxy`
/// is passed on.
fn root_redirect(req: &Request, prefix: Option<&str>) -> Option<Response> {
    let path = req.uri().path();
    if prefix != Some(path) || !matches!(*req.method(), http::Method::GET | http::Method::HEAD) {
        return None;
    }
    let location = match req.uri().query() {
        Some(q) if !q.is_empty() => format!("{path}/?{q}"),
        _ => format!("{path}/"),
    };
    Some(
        (
            StatusCode::MOVED_PERMANENTLY,
            [(http::header::LOCATION, location)],
        )
            .into_response(),
    )
}

/// The largest HTML page whose links are rewritten (larger ones pass as
/// they are).
const MAX_REWRITTEN: usize = 16 * 1024 * 1024;

/// The answer with its links kept behind the proxy: a redirect's
/// `Location`, and an uncompressed HTML body.
async fn rewritten(resp: http::Response<hyper::body::Incoming>, prefix: &str) -> Result<Response> {
    let (mut parts, body) = resp.into_parts();
    if let Some(loc) = parts
        .headers
        .get(http::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|l| link_rewrite::rewrite_location(l, prefix))
        .and_then(|l| http::HeaderValue::from_str(&l).ok())
    {
        parts.headers.insert(http::header::LOCATION, loc);
    }
    let html = parts
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("text/html"));
    let encoded = parts.headers.contains_key(http::header::CONTENT_ENCODING);
    let small = parts
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        .is_none_or(|n| n <= MAX_REWRITTEN);
    if !html || encoded || !small {
        return Ok(crate::response::streamed(http::Response::from_parts(
            parts, body,
        )));
    }
    let bytes = axum::body::to_bytes(Body::new(body), MAX_REWRITTEN)
        .await
        .map_err(|e| ApiError::ServiceUnavailable(format!("reading the proxied answer: {e}")))?;
    let page = link_rewrite::rewrite_html(&String::from_utf8_lossy(&bytes), prefix);
    let mut answer = Response::builder().status(parts.status);
    for (k, v) in &parts.headers {
        if k == http::header::CONNECTION
            || k == http::header::TRANSFER_ENCODING
            || k == http::header::CONTENT_LENGTH
        {
            continue;
        }
        answer = answer.header(k, v);
    }
    answer
        .body(Body::from(page))
        .map_err(|e| ApiError::Internal(format!("building the proxied answer: {e}")))
}

/// A connection to the kubelet at `addr` ([`crate::kubelet_client`]).
async fn dial(server: &ApiServer, addr: &str) -> Result<Box<dyn component_base::tls::Stream>> {
    server
        .kubelet
        .dial(addr)
        .await
        .map_err(|e| unreachable(addr, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_the_bare_proxy_root_is_redirected() {
        let req = |method: &str, uri: &str| {
            Request::builder()
                .method(method)
                .uri(uri)
                .body(Body::empty())
                .expect("a request")
        };
        let root = "/api/v1/namespaces/ns/pods/web:80/proxy";
        let prefix = link_rewrite::prefix(root, "web:80");
        let moved = root_redirect(&req("GET", &format!("{root}?a=b")), prefix.as_deref())
            .expect("the bare root moves");
        assert_eq!(moved.status(), StatusCode::MOVED_PERMANENTLY);
        assert_eq!(
            moved.headers()[http::header::LOCATION],
            format!("{root}/?a=b").as_str()
        );
        assert!(root_redirect(&req("HEAD", root), prefix.as_deref()).is_some());
        // Other methods, the root with its slash, and a target path that
        // happens to end in `/proxy` go to the target.
        assert!(root_redirect(&req("POST", root), prefix.as_deref()).is_none());
        for path in [format!("{root}/"), format!("{root}/api/proxy")] {
            let prefix = link_rewrite::prefix(&path, "web:80");
            assert!(
                root_redirect(&req("GET", &path), prefix.as_deref()).is_none(),
                "{path}"
            );
        }
    }

    #[test]
    fn container_choice_follows_upstream() {
        let pod = json!({"spec": {"containers": [{"name": "a"}, {"name": "b"}], "initContainers": [{"name": "i"}]}});
        let err = pick_container(&pod, "p", None).unwrap_err().to_string();
        assert_eq!(
            err,
            "a container name must be specified for pod p, choose one of: [a b] or one of the init containers: [i]"
        );
        assert_eq!(pick_container(&pod, "p", Some("i")).unwrap(), "i");
        assert_eq!(
            pick_container(&pod, "p", Some("x"))
                .unwrap_err()
                .to_string(),
            "container x is not valid for pod p"
        );
        let one = json!({"spec": {"containers": [{"name": "only"}]}});
        assert_eq!(pick_container(&one, "p", None).unwrap(), "only");
    }

    #[test]
    fn kubelet_address_from_node() {
        let node = json!({"status": {
            "addresses": [{"type": "Hostname", "address": "n1"}, {"type": "InternalIP", "address": "10.0.0.5"}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10251}},
        }});
        assert_eq!(kubelet_address_of(&node).unwrap(), "10.0.0.5:10251");
        let node = json!({"status": {"addresses": [{"type": "InternalIP", "address": "fd00::1"}]}});
        assert_eq!(kubelet_address_of(&node).unwrap(), "[fd00::1]:10250");
        assert!(kubelet_address_of(&json!({})).is_none());
    }

    #[test]
    fn proxy_ids_split_like_upstream() {
        assert_eq!(split_scheme_name_port("web").ok(), Some(("", "web", "")));
        assert_eq!(
            split_scheme_name_port("web:8080").ok(),
            Some(("", "web", "8080"))
        );
        assert_eq!(
            split_scheme_name_port("https:web:443").ok(),
            Some(("https", "web", "443"))
        );
        assert!(split_scheme_name_port("ftp:web:21").is_err());
        assert!(split_scheme_name_port(":80").is_err());
    }
}
