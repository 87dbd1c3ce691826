//! The generic REST handlers: one module per verb, shared by every resource.
//!
//! [`dispatch`] is the single entry point for `/api/...` and `/apis/...`
//! resource paths. It resolves the [`RequestInfo`], opens a tracing span with
//! the object's namespace/name, calls the verb's handler and records metrics.
//! The handlers know nothing about particular kinds: what differs per kind
//! comes from the kind's strategy, through [`crate::registry`] (the steps
//! every write goes through) and [`crate::registry::strategy_for`] (hooks).

mod create;
mod delete;
mod read;
mod subresources;
mod watch;
mod webhooks;
mod write;

use std::sync::Arc;
use std::time::Instant;

use apimachinery::resources::Subresource;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode};
use serde_json::Value;
use tracing::Instrument;

use crate::errors::{ApiError, Result};
use crate::request::{self, Query, RequestInfo, Verb};
pub use crate::response::json;
use crate::ApiServer;
pub(crate) use create::random_suffix;

/// Everything a verb handler gets.
pub struct Ctx {
    /// The server state.
    pub server: Arc<ApiServer>,
    /// What the URL names.
    pub info: RequestInfo,
    /// Query parameters.
    pub query: Query,
    /// Request headers.
    pub headers: HeaderMap,
    /// The request body (empty for GET).
    pub body: Bytes,
    /// Warnings for the client, sent as `Warning` headers (unknown fields
    /// under `fieldValidation=Warn`).
    pub warnings: Arc<std::sync::Mutex<Vec<String>>>,
    /// Annotations admission plug-ins attach for the audit log (PodSecurity's
    /// `pod-security.kubernetes.io/enforce-policy`, ...).
    pub audit_annotations: Arc<std::sync::Mutex<std::collections::BTreeMap<String, String>>>,
    /// Who the request comes from ([`crate::filters`]).
    pub user: crate::authentication::UserInfo,
}

impl Ctx {
    /// The storage key of the named object.
    pub fn key(&self) -> String {
        self.server.store.key(
            self.info.resource.storage_name(),
            self.info.namespace.as_deref(),
            self.info.name.as_deref().unwrap_or(""),
        )
    }

    /// Error target for the named object.
    pub fn target(&self) -> crate::errors::Target {
        crate::errors::Target::new(
            self.info.resource,
            self.info.name.clone().unwrap_or_default(),
        )
    }

    /// Adds a warning for the client.
    pub fn warn(&self, message: String) {
        if let Ok(mut w) = self.warnings.lock() {
            w.push(message);
        }
    }

    /// Adds an audit annotation to the request.
    pub fn annotate(&self, key: String, value: String) {
        if let Ok(mut a) = self.audit_annotations.lock() {
            a.insert(key, value);
        }
    }

    /// `Some` when the client asked for a Table (kubectl get).
    pub fn table(&self) -> Option<crate::tables::IncludeObject> {
        crate::tables::wants_table(&self.headers)
            .then(|| crate::tables::IncludeObject::from_query(self.query.include_object.as_deref()))
    }

    /// The field manager this request writes as.
    pub fn manager(&self) -> String {
        crate::fieldmanager::manager_name(
            self.query.field_manager.as_deref(),
            self.headers
                .get(http::header::USER_AGENT)
                .and_then(|v| v.to_str().ok()),
        )
    }

    /// The body decoded as an object (JSON or YAML by content type).
    pub fn object_body(&self) -> Result<Value> {
        let format = request::object_body_format(&self.headers)?;
        let v = request::decode_body(&self.body, format)?;
        if !v.is_object() {
            return Err(ApiError::BadRequest(
                "the body of the request must be a JSON object".into(),
            ));
        }
        Ok(v)
    }
}

/// The entry point for every resource request.
pub async fn dispatch(State(server): State<Arc<ApiServer>>, req: Request) -> Response {
    let start = Instant::now();
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    let query = match Query::parse(parts.uri.query()) {
        Ok(q) => q,
        Err(e) => return finish(start, "unknown", "", e.into_response()),
    };
    if let Some(rest) = path.strip_prefix("/openapi/v3") {
        // An extension apiserver's group version: its own document.
        if let Some(apiservice) = crate::aggregator::remote_for(&server, rest) {
            let req = Request::from_parts(parts, body);
            let resp = crate::aggregator::proxy::serve(&server, &apiservice, req).await;
            return finish(start, "get", "openapi", resp);
        }
        let doc = if rest.trim_matches('/').is_empty() {
            Some(crate::openapi::v3_index_with_aggregated(
                &server.aggregator.registered(),
            ))
        } else {
            crate::openapi::v3_served_document(rest)
        };
        return match doc {
            Some(d) => finish(start, "get", "openapi", json(StatusCode::OK, &d)),
            None => ApiError::NotFoundPath(format!(
                "the server could not find the requested resource ({path})"
            ))
            .into_response(),
        };
    }
    if path.trim_end_matches('/') == "/openapi/v2" && parts.method == http::Method::GET {
        // JSON, or gnostic's protobuf (what kubectl asks for first).
        let accept = parts
            .headers
            .get(http::header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let protobuf = crate::openapi_protobuf::wanted(accept);
        let json_ok = accept.is_empty() || accept.contains("json") || accept.contains("*/*");
        if !json_ok && !protobuf {
            return ApiError::NotAcceptable(
                "only application/json and application/com.github.proto-openapi.spec.v2.v1.0+protobuf are served for /openapi/v2".into(),
            )
            .into_response();
        }
        let (doc, etag) = crate::openapi::v2_document();
        let quoted = format!("\"{etag}\"");
        let unchanged = parts
            .headers
            .get(http::header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').any(|t| t.trim() == quoted));
        let resp = if unchanged {
            (StatusCode::NOT_MODIFIED, [(http::header::ETAG, quoted)]).into_response()
        } else {
            let mut resp = if protobuf {
                let bytes = crate::openapi_protobuf::cached(&doc, &etag);
                (
                    StatusCode::OK,
                    [(
                        http::header::CONTENT_TYPE,
                        crate::openapi_protobuf::CONTENT_TYPE,
                    )],
                    bytes.as_ref().clone(),
                )
                    .into_response()
            } else {
                json(StatusCode::OK, &doc)
            };
            if let Ok(v) = http::HeaderValue::from_str(&quoted) {
                resp.headers_mut().insert(http::header::ETAG, v);
            }
            resp
        };
        return finish(start, "get", "openapi", resp);
    }
    if path.starts_with("/openapi/") {
        return ApiError::NotFoundPath(format!(
            "the server could not find the requested resource ({path})"
        ))
        .into_response();
    }
    // A group/version an APIService hands to an extension apiserver is
    // proxied there whole (discovery, every verb, watches, upgrades).
    if let Some(apiservice) = crate::aggregator::remote_for(&server, &path) {
        let verb = parts.method.as_str().to_ascii_lowercase();
        let resp =
            crate::aggregator::proxy::serve(&server, &apiservice, Request::from_parts(parts, body))
                .await;
        return finish(start, &verb, "aggregated", resp);
    }
    // Discovery documents for one group or group/version.
    if let Some(resp) = crate::discovery::serve_path(&server, &parts.method, &path) {
        return finish(start, "get", "discovery", resp);
    }
    let info = match request::parse(&parts.method, &path, query.watch) {
        Ok(i) => i,
        Err(e) => return finish(start, "unknown", "", e.into_response()),
    };
    let verb = info.verb.as_str();
    let resource_label = match info.subresource {
        Some(s) => format!("{}/{}", info.resource.plural, s.name()),
        None => info.resource.plural.to_string(),
    };
    // Connect subresources (a pod's log, exec, attach and port-forward go to
    // its kubelet) need the untouched request (its upgrade), so they branch
    // off before the body is read.
    let strategy = crate::registry::strategy_for(info.resource);
    if info.subresource.is_some_and(|s| strategy.connects(s)) {
        let user = parts
            .extensions
            .get::<crate::authentication::UserInfo>()
            .cloned()
            .unwrap_or_else(crate::authentication::UserInfo::anonymous);
        if let Err(e) = webhooks::admit_connect(&server, &info, parts.uri.query(), &user).await {
            return finish(start, verb, &resource_label, e.into_response());
        }
        let req = Request::from_parts(parts, body);
        let resp = match strategy.connect(&server, &info, req).await {
            Ok(r) => r,
            Err(e) => e.into_response(),
        };
        return finish(start, verb, &resource_label, resp);
    }
    let body = if matches!(parts.method, Method::GET | Method::HEAD) {
        Bytes::new()
    } else {
        let limit = server.config.max_body_bytes;
        let read = tokio::time::timeout(
            server.config.request_timeout,
            read_body(&parts.headers, Body::new(body), limit),
        );
        match read.await {
            Ok(Ok(b)) => b,
            Ok(Err(BodyError::TooLarge)) => {
                let e = ApiError::TooLarge(format!(
                    "the request body is larger than the limit of {limit} bytes"
                ));
                return finish(start, verb, &resource_label, e.into_response());
            }
            Ok(Err(BodyError::Broken)) => {
                let e = ApiError::BadRequest("the request body could not be read".into());
                return finish(start, verb, &resource_label, e.into_response());
            }
            Err(_) => {
                let e = ApiError::Timeout(format!(
                    "the request body did not arrive within {:?}",
                    server.config.request_timeout
                ));
                return finish(start, verb, &resource_label, e.into_response());
            }
        }
    };
    // One client may hold only so many watches; the slot goes back when the
    // stream's body is dropped (the watch ended or the client went away).
    let watch_slot = if info.verb == Verb::Watch {
        let client = client_identity(&parts);
        match server.watch_limiter.acquire(&client) {
            Ok(slot) => Some(slot),
            Err(open) => {
                let e = ApiError::TooManyRequests(format!(
                    "too many open watches for this client ({open}, the limit is {}); close some or retry later",
                    server.watch_limiter.max()
                ));
                return finish(start, verb, &resource_label, e.into_response());
            }
        }
    } else {
        None
    };
    // Debug level: a span per request costs a formatted string per request
    // when enabled; turn it on with RUST_LOG=apiserver=debug.
    let span = tracing::debug_span!(
        "request",
        verb,
        resource = %resource_label,
        namespace = info.namespace.as_deref().unwrap_or(""),
        name = info.name.as_deref().unwrap_or(""),
    );
    let warnings: Arc<std::sync::Mutex<Vec<String>>> = Arc::default();
    let audit_annotations: Arc<std::sync::Mutex<std::collections::BTreeMap<String, String>>> =
        Arc::default();
    let audit = parts.extensions.get::<crate::audit::Context>().cloned();
    let ctx = Ctx {
        server,
        info,
        query,
        user: crate::authentication::user_of(&parts.extensions),
        headers: parts.headers,
        body,
        warnings: Arc::clone(&warnings),
        audit_annotations: Arc::clone(&audit_annotations),
    };
    let resp = route(ctx).instrument(span).await;
    // What admission noted for the audit log (Pod Security's violations).
    if let (Some(audit), Ok(notes)) = (&audit, audit_annotations.lock()) {
        for (k, v) in notes.iter() {
            audit.annotate(k, v);
        }
    }
    let mut resp = match resp {
        Ok(r) => r,
        Err(e) => {
            tracing::debug!(error = %e, "request failed");
            e.into_response()
        }
    };
    let warnings = warnings.lock().map(|w| w.clone()).unwrap_or_default();
    for w in warnings {
        // RFC 7234 warning: `299 - "text"`, as upstream sends them.
        let text = format!("299 - \"{}\"", w.replace('"', "\\\""));
        if let Ok(v) = http::HeaderValue::from_str(&text) {
            resp.headers_mut().append(http::header::WARNING, v);
        }
    }
    if let Some(slot) = watch_slot {
        resp = resp.map(|body| Body::new(Guarded { body, _guard: slot }));
    }
    finish(start, verb, &resource_label, resp)
}

/// Who a request comes from, for per-client limits: the authenticated user
/// on the secure port, else the peer's IP and its User-Agent (several
/// components share 127.0.0.1 in a lab).
fn client_identity(parts: &http::request::Parts) -> String {
    let agent = parts
        .headers
        .get(http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    // On the secure port an authenticated user is its own client, wherever
    // it connects from; anonymous requests are still told apart by address.
    let secure =
        parts.extensions.get::<crate::serve::Transport>() == Some(&crate::serve::Transport::Tls);
    if let Some(user) = parts.extensions.get::<crate::authentication::UserInfo>() {
        if secure && user.username != crate::authentication::ANONYMOUS {
            return format!("user:{} {agent}", user.username);
        }
    }
    let ip = parts
        .extensions
        .get::<crate::serve::ClientAddr>()
        .map(|a| a.0.ip().to_string())
        .unwrap_or_default();
    format!("{ip} {agent}")
}

/// A response body that holds something (a watch slot) until it is dropped.
struct Guarded<G> {
    body: Body,
    _guard: G,
}

impl<G: Unpin> hyper::body::Body for Guarded<G> {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<std::result::Result<hyper::body::Frame<Bytes>, axum::Error>>> {
        std::pin::Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}

/// Why a request body was not taken.
enum BodyError {
    /// Larger than the limit.
    TooLarge,
    /// The connection failed while reading it.
    Broken,
}

/// Reads a request body of at most `limit` bytes. A body announced larger
/// (`Content-Length`) is refused before any of it is read, and a streamed
/// one as soon as it passes the limit, so the server never buffers more
/// than `limit` bytes. The 413 goes out at once; the rest of the body is
/// then read and thrown away in the background (up to [`DRAIN_LIMIT`]), so
/// a client still sending receives the answer rather than a reset
/// connection, as Go's server does.
async fn read_body(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> std::result::Result<Bytes, BodyError> {
    use http_body_util::BodyExt;
    let announced = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|n| n > limit as u64) {
        if announced.is_some_and(|n| n <= DRAIN_LIMIT) {
            tokio::spawn(drain(body));
        }
        return Err(BodyError::TooLarge);
    }
    let mut body = body;
    let mut buf = bytes::BytesMut::new();
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else {
            return Err(BodyError::Broken);
        };
        if let Ok(data) = frame.into_data() {
            if buf.len() + data.len() > limit {
                tokio::spawn(drain(body));
                return Err(BodyError::TooLarge);
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(buf.freeze())
}

/// How much of a refused body is read and thrown away.
const DRAIN_LIMIT: u64 = 16 * 1024 * 1024;

/// Reads and drops the rest of a refused body, up to [`DRAIN_LIMIT`] bytes
/// and for at most a minute.
async fn drain(mut body: Body) {
    use http_body_util::BodyExt;
    let reading = async {
        let mut seen = 0u64;
        while let Some(Ok(frame)) = body.frame().await {
            if let Ok(data) = frame.into_data() {
                seen += data.len() as u64;
                if seen > DRAIN_LIMIT {
                    return;
                }
            }
        }
    };
    let _ = tokio::time::timeout(std::time::Duration::from_secs(60), reading).await;
}

/// Counts the answered request in the apiserver's metrics (also used by
/// routes outside [`dispatch`], such as TokenRequest's).
pub(crate) fn finish(start: Instant, verb: &str, resource: &str, resp: Response) -> Response {
    crate::metrics::global().observe_request(
        verb,
        resource,
        resp.status().as_u16(),
        start.elapsed(),
    );
    resp
}

/// Runs the verb's handler for a parsed request (what [`dispatch`] does once
/// the URL is resolved).
pub(crate) async fn route(ctx: Ctx) -> Result<Response> {
    // A kind served at several versions (a built-in one such as
    // HorizontalPodAutoscalers, or a custom resource) answers in the version
    // asked for, whatever version its objects are stored in: reads convert what
    // they read (before any Table is made of it), the answers of writes
    // are converted here.
    let resource = ctx.info.resource;
    let reads = matches!(ctx.info.verb, Verb::Get | Verb::List | Verb::Watch);
    if !reads && crate::conversion::needed(resource) {
        let server = Arc::clone(&ctx.server);
        let resp = route_verb(ctx).await?;
        return crate::conversion::convert_response(&server, resp, resource).await;
    }
    route_verb(ctx).await
}

async fn route_verb(ctx: Ctx) -> Result<Response> {
    use Subresource as S;
    use Verb as V;
    let resource = ctx.info.resource;
    if ctx.info.subresource.is_none() && !resource.serves(ctx.info.verb.as_str()) {
        return Err(ApiError::MethodNotAllowed(format!(
            "{} does not support {}: it serves {}",
            resource.plural,
            ctx.info.verb.as_str(),
            resource.verbs.join(", ")
        )));
    }
    if !resource.is_stored() {
        // Reviews are answered, ComponentStatuses computed: nothing in etcd.
        return match ctx.info.verb {
            // A create-only kind served as another object's subresource
            // (a Binding binds a pod): `create` sends it there.
            V::Create
                if crate::registry::strategy_for(resource)
                    .creates_as()
                    .is_some() =>
            {
                create::create(ctx).await
            }
            V::Create => create::review(ctx).await,
            V::Get => read::get_computed(ctx).await,
            _ => read::list_computed(ctx).await,
        };
    }
    match (ctx.info.verb, ctx.info.subresource) {
        (V::Get, None) => read::get(ctx).await,
        (V::List, None) => read::list(ctx).await,
        (V::Watch, None) => watch::watch(ctx).await,
        (V::Create, None) => create::create(ctx).await,
        (V::Update, None) => write::update(ctx).await,
        (V::Patch, None) => write::patch(ctx).await,
        (V::Delete, None) => delete::delete(ctx).await,
        (V::DeleteCollection, None) => delete::delete_collection(ctx).await,
        (V::Get, Some(S::Status)) => read::get(ctx).await,
        (V::Update, Some(S::Status)) => write::update(ctx).await,
        (V::Patch, Some(S::Status)) => write::patch(ctx).await,
        (V::Get, Some(S::Scale)) => subresources::get_scale(ctx).await,
        (V::Update, Some(S::Scale)) => subresources::update_scale(ctx).await,
        (V::Patch, Some(S::Scale)) => subresources::patch_scale(ctx).await,
        (V::Create, Some(S::Binding)) => subresources::bind(ctx).await,
        (V::Create, Some(S::Eviction)) => subresources::evict(ctx).await,
        (V::Update, Some(S::Finalize)) => write::update(ctx).await,
        (V::Get, Some(S::EphemeralContainers)) => read::get(ctx).await,
        (V::Update, Some(S::EphemeralContainers)) => write::update(ctx).await,
        (V::Patch, Some(S::EphemeralContainers)) => write::patch(ctx).await,
        (V::Get, Some(S::Approval)) => read::get(ctx).await,
        (V::Update, Some(S::Approval)) => write::update(ctx).await,
        (V::Patch, Some(S::Approval)) => write::patch(ctx).await,
        (V::Get, Some(S::Resize)) => read::get(ctx).await,
        (V::Update, Some(S::Resize)) => write::update(ctx).await,
        (V::Patch, Some(S::Resize)) => write::patch(ctx).await,
        // The request parser gives OPTIONS only to proxy subresources,
        // which connect before this dispatch.
        (V::Options, None) => Err(ApiError::MethodNotAllowed(format!(
            "OPTIONS is not supported on {}",
            ctx.info.resource.plural
        ))),
        (verb, Some(sub)) => Err(ApiError::MethodNotAllowed(format!(
            "{} on {}/{} is not supported by this server yet",
            verb.as_str(),
            ctx.info.resource.plural,
            sub.name()
        ))),
    }
}

/// Checks `apiVersion`/`kind` of a body against what the URL expects, filling
/// them in when absent.
pub fn check_type_meta(obj: &mut Value, api_version: &str, kind: &str) -> Result<()> {
    let got_version = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let got_kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
    if (!got_version.is_empty() && got_version != api_version)
        || (!got_kind.is_empty() && got_kind != kind)
    {
        return Err(ApiError::BadRequest(format!(
            "the API version in the data ({got_version}) and the kind ({got_kind}) do not match the expected {api_version} {kind}"
        )));
    }
    if let Some(map) = obj.as_object_mut() {
        map.insert("apiVersion".into(), Value::String(api_version.into()));
        map.insert("kind".into(), Value::String(kind.into()));
    }
    Ok(())
}

/// Parses `metadata.resourceVersion` of a request body, if set.
pub fn body_resource_version(obj: &Value) -> Result<Option<i64>> {
    match obj.pointer("/metadata/resourceVersion") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => s
            .parse::<i64>()
            .map(Some)
            .map_err(|_| ApiError::BadRequest(format!("invalid resourceVersion {s:?}"))),
        Some(other) => Err(ApiError::BadRequest(format!(
            "metadata.resourceVersion must be a string, got {other}"
        ))),
    }
}
