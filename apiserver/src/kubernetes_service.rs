//! The `kubernetes` Service: how pods find the apiserver.
//!
//! Every cluster has, in the `default` namespace, a Service `kubernetes`
//! whose cluster IP is the first address of the service range
//! (`10.96.0.1` by default) with port 443 named `https`, and behind it an
//! Endpoints and an EndpointSlice (both named `kubernetes`) holding the
//! apiserver's advertise address (`--advertise-address`) and port. A pod's
//! client reaches the API at `https://kubernetes.default.svc`.
//!
//! The apiserver keeps them itself, as upstream's control-plane controller
//! does: [`run`] checks them at start and every [`INTERVAL`], creates what
//! is missing and puts back what someone changed. It writes through its own
//! HTTP routes (a loopback client, as upstream's), so the objects get the
//! same defaults, validation and cluster-IP allocation as any other.
//!
//! The same loop keeps the default ServiceCIDR `kubernetes` (the
//! `--service-cluster-ip-range`, Ready), as upstream's default ServiceCIDR
//! controller does.
//!
//! The Service has no selector, which is what keeps the controller-manager's
//! endpoints and endpointslice controllers away from it (they only manage
//! Services with one); the Endpoints carry upstream's `skip-mirror` label
//! and the EndpointSlice is not `managed-by` the endpointslice controller.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use http::{Method, Request, StatusCode};
use serde_json::{json, Value};
use tower::ServiceExt;

use crate::ApiServer;

/// How often the objects are checked (upstream's endpoint interval).
pub const INTERVAL: Duration = Duration::from_secs(10);
/// Name of the Service, Endpoints and EndpointSlice.
pub const NAME: &str = "kubernetes";
/// Their namespace.
pub const NAMESPACE: &str = "default";
/// The Service's port.
pub const SERVICE_PORT: i64 = 443;
/// The port's name.
pub const PORT_NAME: &str = "https";

/// What went wrong talking to our own API.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The API answered with an error.
    #[error("{method} {path}: {status}: {message}")]
    Api {
        /// The request's method.
        method: Method,
        /// The request's path.
        path: String,
        /// The answer's status.
        status: StatusCode,
        /// The answer's `message`.
        message: String,
    },
    /// A request could not be built or its answer read.
    #[error("{0}")]
    Transport(String),
}

/// The address to advertise when `--advertise-address` is not given: the
/// bind address, or, when bound to every interface (`0.0.0.0`), the
/// address of the interface holding the default route (as upstream; found
/// by "connecting" a UDP socket, which sends nothing), or loopback on a host
/// without a default route.
pub fn default_advertise_address(bind: IpAddr) -> IpAddr {
    if !bind.is_unspecified() {
        return bind;
    }
    let routed = UdpSocket::bind("0.0.0.0:0")
        .and_then(|s| {
            // TEST-NET-1 (RFC 5737): never a real peer; only the route matters.
            s.connect("192.0.2.1:9")?;
            s.local_addr()
        })
        .map(|a| a.ip())
        .ok()
        .filter(|ip| !ip.is_unspecified());
    routed.unwrap_or(IpAddr::from([127, 0, 0, 1]))
}

/// The objects for an apiserver reached at `endpoint`, with the cluster IP
/// `cluster_ip`: (collection path, object) in the order they are written.
pub fn desired(endpoint: SocketAddr, cluster_ip: IpAddr) -> Vec<(String, Value)> {
    let (ip, port) = (endpoint.ip().to_string(), i64::from(endpoint.port()));
    let address_type = if endpoint.is_ipv4() { "IPv4" } else { "IPv6" };
    let service = json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": NAME, "namespace": NAMESPACE,
                     "labels": {"component": "apiserver", "provider": "kubernetes"}},
        "spec": {
            "type": "ClusterIP",
            "clusterIP": cluster_ip.to_string(),
            "sessionAffinity": "None",
            "ports": [{"name": PORT_NAME, "port": SERVICE_PORT, "protocol": "TCP",
                       "targetPort": port}],
        },
    });
    let endpoints = json!({
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {"name": NAME, "namespace": NAMESPACE,
                     "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
        "subsets": [{"addresses": [{"ip": ip}],
                     "ports": [{"name": PORT_NAME, "port": port, "protocol": "TCP"}]}],
    });
    let slice = json!({
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": NAME, "namespace": NAMESPACE,
                     "labels": {"kubernetes.io/service-name": NAME}},
        "addressType": address_type,
        "endpoints": [{"addresses": [ip], "conditions": {"ready": true}}],
        "ports": [{"name": PORT_NAME, "port": port, "protocol": "TCP"}],
    });
    let ns = format!("/namespaces/{NAMESPACE}");
    vec![
        (format!("/api/v1{ns}/services"), service),
        (format!("/api/v1{ns}/endpoints"), endpoints),
        (
            format!("/apis/discovery.k8s.io/v1{ns}/endpointslices"),
            slice,
        ),
    ]
}

/// The default ServiceCIDR: the service range, Ready once created.
pub fn default_service_cidr(range: &str) -> (String, Value) {
    let cidr = json!({
        "apiVersion": "networking.k8s.io/v1",
        "kind": "ServiceCIDR",
        "metadata": {"name": NAME},
        "spec": {"cidrs": [range]},
        "status": {"conditions": [{"type": "Ready", "status": "True", "reason": "",
            "message": "Kubernetes default Service CIDR is ready",
            "lastTransitionTime": crate::registry::now()}]},
    });
    ("/apis/networking.k8s.io/v1/servicecidrs".to_string(), cidr)
}

/// The parts of each object this controller owns: what it compares and
/// puts back. Everything else (the cluster IP once set, other labels,
/// annotations) is left as it is.
const OWNED: &[&str] = &[
    "/spec/type",
    "/spec/ports",
    "/spec/selector",
    "/subsets",
    "/addressType",
    "/endpoints",
    "/ports",
];

/// Whether `actual` has everything `want` has (objects: every key of `want`
/// with a matching value; anything else: equal). A missing or null value
/// stands for an empty object or list.
pub fn covers(actual: Option<&Value>, want: Option<&Value>) -> bool {
    let empty = |v: Option<&Value>| match v {
        None | Some(Value::Null) => true,
        Some(Value::Object(m)) => m.is_empty(),
        Some(Value::Array(a)) => a.is_empty(),
        _ => false,
    };
    match (actual, want) {
        (a, w) if empty(w) => empty(a),
        (Some(Value::Object(a)), Some(Value::Object(w))) => {
            w.iter().all(|(k, wv)| covers(a.get(k), Some(wv)))
        }
        (Some(Value::Array(a)), Some(Value::Array(w))) => {
            a.len() == w.len() && a.iter().zip(w).all(|(x, y)| covers(Some(x), Some(y)))
        }
        (a, w) => a == w,
    }
}

/// The stored object `actual` with what [`OWNED`] and the wanted labels
/// say taken from `want`; `None` when nothing needs to change.
pub fn repaired(actual: &Value, want: &Value) -> Option<Value> {
    let labels = "/metadata/labels";
    let mut fixed = actual.clone();
    let mut changed = false;
    if let Some(Value::Object(wl)) = want.pointer(labels) {
        for (k, v) in wl {
            if actual.pointer(labels).and_then(|l| l.get(k)) != Some(v) {
                let meta = crate::meta::meta_mut(&mut fixed);
                let l = meta.entry("labels").or_insert_with(|| json!({}));
                if !l.is_object() {
                    *l = json!({});
                }
                if let Some(l) = l.as_object_mut() {
                    l.insert(k.clone(), v.clone());
                }
                changed = true;
            }
        }
    }
    for pointer in OWNED {
        let (a, w) = (actual.pointer(pointer), want.pointer(pointer));
        if covers(a, w) {
            continue;
        }
        let (parent, key) = pointer.rsplit_once('/').unwrap_or(("", pointer));
        let slot = if parent.is_empty() {
            fixed.as_object_mut()
        } else {
            fixed.pointer_mut(parent).and_then(Value::as_object_mut)
        };
        if let Some(slot) = slot {
            match w {
                Some(w) => slot.insert(key.to_string(), w.clone()),
                None => slot.remove(key),
            };
            changed = true;
        }
    }
    changed.then_some(fixed)
}

/// Keeps the objects for `endpoint` until the server stops; marks the
/// server bootstrapped after the first pass that put them in place.
pub async fn run(server: Arc<ApiServer>, endpoint: SocketAddr) {
    let cluster_ip = IpAddr::V4(server.config.service_cluster_ip_range.nth(1));
    let mut objects = desired(endpoint, cluster_ip);
    objects.push(default_service_cidr(
        &server.config.service_cluster_ip_range.to_string(),
    ));
    let mut stopping = server.stopping.subscribe();
    // Quick retries until the first full pass (etcd and the `default`
    // namespace may not be there yet), then the steady interval.
    let mut delay = Duration::from_millis(200);
    let mut settled = false;
    loop {
        match reconcile(&server, &objects).await {
            Ok(()) => {
                if !settled {
                    tracing::info!(%endpoint, %cluster_ip, "the kubernetes Service is in place");
                    server
                        .bootstrapped
                        .store(true, std::sync::atomic::Ordering::Release);
                }
                settled = true;
            }
            Err(e) if settled => tracing::warn!(error = %e, "keeping the kubernetes Service"),
            Err(e) => tracing::debug!(error = %e, "the kubernetes Service is not in place yet"),
        }
        let wait = if settled { INTERVAL } else { delay };
        delay = (delay * 2).min(Duration::from_secs(2));
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stopping.wait_for(|s| *s) => return,
        }
    }
}

/// One pass: every object created or repaired.
pub async fn reconcile(server: &Arc<ApiServer>, objects: &[(String, Value)]) -> Result<(), Error> {
    for (collection, want) in objects {
        let path = format!("{collection}/{NAME}");
        let (status, mut current) = call(server, Method::GET, &path, None).await?;
        if status == StatusCode::NOT_FOUND {
            let (status, body) = call(server, Method::POST, collection, Some(want)).await?;
            // Someone else made it in between: looked at next time.
            if status == StatusCode::CONFLICT {
                continue;
            }
            expect_success(Method::POST, collection, status, &body)?;
            tracing::info!(object = %path, "created");
            current = body;
        } else {
            expect_success(Method::GET, &path, status, &current)?;
        }
        // A status this loop owns (the ServiceCIDR's Ready) is written once.
        if let Some(st) = want.get("status") {
            if current.pointer("/status/conditions").is_none() {
                let mut with = current.clone();
                with["status"] = st.clone();
                let sub = format!("{path}/status");
                let (status, body) = call(server, Method::PUT, &sub, Some(&with)).await?;
                if status != StatusCode::CONFLICT {
                    expect_success(Method::PUT, &sub, status, &body)?;
                }
            }
        }
        if let Some(fixed) = repaired(&current, want) {
            let (status, body) = call(server, Method::PUT, &path, Some(&fixed)).await?;
            if status != StatusCode::CONFLICT {
                expect_success(Method::PUT, &path, status, &body)?;
                tracing::info!(object = %path, "repaired");
            }
        }
    }
    Ok(())
}

fn expect_success(
    method: Method,
    path: &str,
    status: StatusCode,
    body: &Value,
) -> Result<(), Error> {
    if status.is_success() {
        return Ok(());
    }
    Err(Error::Api {
        method,
        path: path.to_string(),
        status,
        message: body
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
    })
}

/// One request to our own routes.
async fn call(
    server: &Arc<ApiServer>,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> Result<(StatusCode, Value), Error> {
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(
            http::header::USER_AGENT,
            "kube-apiserver/kubernetes-service",
        )
        .body(Body::from(body.map(Value::to_string).unwrap_or_default()))
        .map_err(|e| Error::Transport(e.to_string()))?;
    let resp = crate::router(Arc::clone(server))
        .oneshot(req)
        .await
        .map_err(|e| Error::Transport(e.to_string()))?;
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 16 * 1024 * 1024)
        .await
        .map_err(|e| Error::Transport(e.to_string()))?;
    let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Ok((status, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint() -> SocketAddr {
        SocketAddr::from(([10, 200, 1, 1], 6443))
    }

    #[test]
    fn the_objects_point_at_the_apiserver() {
        let objs = desired(endpoint(), IpAddr::from([10, 96, 0, 1]));
        let svc = &objs[0].1;
        assert_eq!(svc["spec"]["clusterIP"], "10.96.0.1");
        assert_eq!(
            svc["spec"]["ports"],
            json!([{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}])
        );
        assert!(svc["spec"].get("selector").is_none());
        assert_eq!(objs[1].1["subsets"][0]["addresses"][0]["ip"], "10.200.1.1");
        let slice = &objs[2].1;
        assert_eq!(
            slice["metadata"]["labels"]["kubernetes.io/service-name"],
            "kubernetes"
        );
        assert_eq!(slice["endpoints"][0]["addresses"][0], "10.200.1.1");
        assert_eq!(slice["ports"][0]["port"], 6443);
        assert!(objs[2]
            .0
            .starts_with("/apis/discovery.k8s.io/v1/namespaces/default/"));
    }

    #[test]
    fn a_stored_object_with_server_defaults_needs_no_repair() {
        let objs = desired(endpoint(), IpAddr::from([10, 96, 0, 1]));
        let mut stored = objs[0].1.clone();
        stored["metadata"]["resourceVersion"] = json!("7");
        stored["metadata"]["labels"]["extra"] = json!("kept");
        stored["spec"]["clusterIPs"] = json!(["10.96.0.1"]);
        stored["spec"]["ports"][0]["appProtocol"] = Value::Null;
        stored["status"] = json!({"loadBalancer": {}});
        assert_eq!(repaired(&stored, &objs[0].1), None);
    }

    #[test]
    fn changed_ports_an_added_selector_and_lost_labels_are_put_back() {
        let objs = desired(endpoint(), IpAddr::from([10, 96, 0, 1]));
        let mut stored = objs[0].1.clone();
        stored["metadata"]["resourceVersion"] = json!("7");
        stored["spec"]["ports"][0]["port"] = json!(8443);
        stored["spec"]["selector"] = json!({"app": "thief"});
        stored["metadata"]["labels"] = json!({"mine": "x"});
        let fixed = repaired(&stored, &objs[0].1).expect("repair");
        assert_eq!(fixed["spec"]["ports"][0]["port"], 443);
        assert!(fixed["spec"].get("selector").is_none());
        assert_eq!(fixed["metadata"]["labels"]["provider"], "kubernetes");
        assert_eq!(fixed["metadata"]["labels"]["mine"], "x");
        assert_eq!(
            fixed["metadata"]["resourceVersion"], "7",
            "guarded by its version"
        );

        let mut slice = objs[2].1.clone();
        slice["endpoints"] = json!([{"addresses": ["10.0.0.9"], "conditions": {"ready": true}}]);
        let fixed = repaired(&slice, &objs[2].1).expect("repair");
        assert_eq!(fixed["endpoints"], objs[2].1["endpoints"]);
    }

    #[test]
    fn the_default_advertise_address_is_the_bind_address_unless_unspecified() {
        let bind = IpAddr::from([10, 200, 3, 1]);
        assert_eq!(default_advertise_address(bind), bind);
        let any = default_advertise_address(IpAddr::from([0, 0, 0, 0]));
        assert!(!any.is_unspecified());
    }
}
