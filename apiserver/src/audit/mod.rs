//! Auditing: a chronological record of who did what to the cluster
//! (upstream's `pkg/audit` and the `WithAudit` filter).
//!
//! With `--audit-policy-file` and `--audit-log-path` every request is
//! checked against the [`policy`] once the filters know who sent it; at the
//! level it gives, [`event`]s are written by the [`backend`] as one JSON
//! line each, in stages:
//!
//! ```text
//! RequestReceived   authorized, before the handler runs
//! ResponseStarted   headers of a long-running answer sent (watch, exec, logs)
//! ResponseComplete  the answer's last byte sent (or the client gone)
//! ```
//!
//! All stages of one request share its `auditID`, also sent back in the
//! `Audit-ID` response header. The [`filter`] is the outermost layer: it
//! puts a [`Context`] on the request that the authentication/authorization
//! filter fills in ([`Context::authorized`]), and copies the request and
//! response bodies through [`body::Tee`] when the level wants them. No
//! policy file means no auditing, as upstream.

pub mod backend;
pub mod body;
pub mod event;
pub mod policy;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use http::{HeaderValue, Method};
use serde_json::Value;

use crate::authentication::UserInfo;
use crate::authorization::Attributes;
use crate::request::{decode_body, object_body_format, BodyFormat};
use crate::serve::ClientAddr;
use crate::ApiServer;
use body::{Captured, Tee};
use event::{micro_time, Event, ObjectReference, User};
use policy::{Decision, Level, Policy, Stage};

/// The response header carrying the request's audit id.
pub const AUDIT_ID_HEADER: &str = "audit-id";

/// The largest body copied into an event; bigger ones are left out.
const BODY_CAP: usize = 16 * 1024 * 1024;

/// The `--audit-*` flags.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `--audit-policy-file`: without it nothing is audited.
    pub policy_file: Option<std::path::PathBuf>,
    /// `--audit-log-*`; an empty path means no log backend.
    pub log: backend::LogOptions,
}

/// Why auditing cannot start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The policy file is unusable.
    #[error(transparent)]
    Policy(#[from] policy::Error),
    /// The log cannot be opened.
    #[error(transparent)]
    Log(#[from] backend::Error),
}

/// The policy and where events go.
#[derive(Debug)]
pub struct Auditor {
    policy: Policy,
    sink: backend::Sink,
    /// Whether any rule records bodies (else none are copied).
    keep_bodies: bool,
}

impl Auditor {
    /// The auditor the flags ask for; `None` when there is no policy file
    /// or no log path (nothing would be recorded).
    pub async fn new(options: &Options) -> Result<Option<Auditor>, Error> {
        let Some(path) = &options.policy_file else {
            return Ok(None);
        };
        let policy = Policy::load(&path.to_string_lossy())?;
        if options.log.path.is_empty() {
            return Ok(None);
        }
        let sink = backend::start(options.log.clone()).await?;
        tracing::info!(policy = %path.display(), log = %options.log.path, "auditing requests");
        Ok(Some(Auditor {
            keep_bodies: policy.max_level() >= Level::Request,
            policy,
            sink,
        }))
    }

    fn write(&self, event: &Event) {
        match serde_json::to_vec(event) {
            Ok(line) => self.sink.send(line),
            Err(e) => tracing::warn!(error = %e, "cannot encode an audit event"),
        }
    }
}

/// One request's audit state, shared by the filters it passes.
#[derive(Clone)]
pub struct Context {
    server: Arc<ApiServer>,
    state: Arc<Mutex<Draft>>,
}

/// The event being built and the policy's decision (once known).
struct Draft {
    event: Event,
    decision: Decision,
    /// Whether the request streams (watch, exec, logs): it gets a
    /// `ResponseStarted` event.
    long_running: bool,
    request_body: Option<Captured>,
    /// How the request body is encoded (JSON, YAML or protobuf).
    request_format: BodyFormat,
}

impl Context {
    fn lock(&self) -> std::sync::MutexGuard<'_, Draft> {
        match self.state.lock() {
            Ok(s) => s,
            Err(p) => p.into_inner(),
        }
    }

    fn auditor(&self) -> Option<&Auditor> {
        self.server.audit.as_ref()
    }

    /// Records what the authentication and authorization filters found:
    /// `attrs` carry the authenticated user, `impersonated` the user the
    /// request acts as (if it impersonates), and the authorizer's answer.
    /// Writes the `RequestReceived` event.
    pub fn authorized(
        &self,
        attrs: &Attributes,
        impersonated: Option<&UserInfo>,
        allowed: bool,
        reason: &str,
    ) {
        let Some(auditor) = self.auditor() else {
            return;
        };
        let mut draft = self.lock();
        draft.decision = auditor.policy.decide(attrs);
        draft.long_running = attrs.verb == "watch"
            || matches!(
                attrs.subresource.as_str(),
                "exec" | "attach" | "portforward" | "proxy" | "log"
            );
        let ev = &mut draft.event;
        ev.verb = attrs.verb.clone();
        ev.user = User::from(&attrs.user);
        ev.impersonated_user = impersonated.map(User::from);
        ev.object_ref = ObjectReference::of(attrs);
        ev.annotations.insert(
            "authorization.k8s.io/decision".into(),
            if allowed { "allow" } else { "forbid" }.into(),
        );
        ev.annotations
            .insert("authorization.k8s.io/reason".into(), reason.into());
        if draft.decision.records(Stage::RequestReceived) {
            auditor.write(&draft.event.at(Stage::RequestReceived, draft.decision.level));
        }
    }

    /// Adds an annotation (from admission, e.g. Pod Security's) to the
    /// request's event.
    pub fn annotate(&self, key: &str, value: &str) {
        self.lock()
            .event
            .annotations
            .insert(key.into(), value.into());
    }

    /// Records a request that failed authentication (its event has no user).
    pub fn unauthenticated(&self, attrs: &Attributes) {
        let Some(auditor) = self.auditor() else {
            return;
        };
        let mut draft = self.lock();
        draft.decision = auditor.policy.decide(attrs);
        draft.event.verb = attrs.verb.clone();
        draft.event.object_ref = ObjectReference::of(attrs);
        if draft.decision.records(Stage::RequestReceived) {
            auditor.write(&draft.event.at(Stage::RequestReceived, draft.decision.level));
        }
    }

    /// The `ResponseComplete` event of an answer with `code` whose body was
    /// `response` (when copied).
    fn complete(&self, code: u16, response: Option<&Captured>) {
        let Some(auditor) = self.auditor() else {
            return;
        };
        let draft = self.lock();
        if !draft.decision.records(Stage::ResponseComplete) {
            return;
        }
        let level = draft.decision.level;
        let mut ev = draft.event.at(Stage::ResponseComplete, level);
        let response = response
            .and_then(Captured::bytes)
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok());
        ev.response_status = Some(event::response_status(code, response.as_ref()));
        if level >= Level::Request {
            ev.request_object = draft
                .request_body
                .as_ref()
                .and_then(Captured::bytes)
                .and_then(|b| decode_body(&b.into(), draft.request_format).ok())
                .filter(Value::is_object);
        }
        if level >= Level::RequestResponse && !draft.long_running {
            ev.response_object = response.filter(Value::is_object);
        }
        auditor.write(&ev);
    }

    /// Writes `ResponseStarted` for a long-running answer and arranges for
    /// `ResponseComplete` when its body is done.
    fn respond(self, response: Response) -> Response {
        let (decision, long_running) = {
            let draft = self.lock();
            (
                draft.decision.clone(),
                draft.long_running || response.status() == 101,
            )
        };
        if decision.level == Level::None {
            return response;
        }
        let code = response.status().as_u16();
        if long_running && decision.records(Stage::ResponseStarted) {
            if let Some(auditor) = self.auditor() {
                let draft = self.lock();
                let mut ev = draft.event.at(Stage::ResponseStarted, decision.level);
                ev.response_status = Some(event::response_status(code, None));
                auditor.write(&ev);
            }
        }
        // Errors are copied at every level (their Status goes into
        // responseStatus); successful objects only for RequestResponse.
        let copy = code >= 400 || (decision.level >= Level::RequestResponse && !long_running);
        let (parts, body) = response.into_parts();
        let (tee, captured) = Tee::new(body, if copy { BODY_CAP } else { 0 });
        let ctx = self.clone();
        let tee = tee.on_drop(move || ctx.complete(code, copy.then_some(&captured)));
        Response::from_parts(parts, Body::new(tee))
    }
}

/// The addresses a request came from: `X-Forwarded-For` ones, then the peer.
fn source_ips(req: &Request) -> Vec<String> {
    let mut ips: Vec<String> = req
        .headers()
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default();
    if let Some(ClientAddr(peer)) = req.extensions().get::<ClientAddr>() {
        let peer = peer.ip().to_string();
        if !ips.contains(&peer) {
            ips.push(peer);
        }
    }
    ips
}

/// The audit filter: outermost, so it sees every request and every answer.
pub async fn filter(State(server): State<Arc<ApiServer>>, req: Request, next: Next) -> Response {
    let Some(auditor) = server.audit.as_ref() else {
        return next.run(req).await;
    };
    let received = micro_time(chrono::Utc::now());
    let audit_id = req
        .headers()
        .get("audit-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let event = Event {
        kind: "Event",
        api_version: "audit.k8s.io/v1",
        level: Level::None.as_str(),
        audit_id: audit_id.clone(),
        stage: Stage::RequestReceived.as_str(),
        request_uri: req
            .uri()
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_else(|| req.uri().path().to_string()),
        verb: req.method().as_str().to_ascii_lowercase(),
        user: User::from(&UserInfo::default()),
        impersonated_user: None,
        source_ips: source_ips(&req),
        user_agent: req
            .headers()
            .get(http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string(),
        object_ref: None,
        response_status: None,
        request_object: None,
        response_object: None,
        request_received_timestamp: received.clone(),
        stage_timestamp: received,
        annotations: BTreeMap::new(),
    };
    // Patches are JSON too; upstream records the object as decoded.
    let request_format = object_body_format(req.headers()).unwrap_or(BodyFormat::Json);
    let (mut parts, body) = req.into_parts();
    let has_body = !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
    let (body, request_body) = if auditor.keep_bodies && has_body {
        let (tee, captured) = Tee::new(body, BODY_CAP);
        (Body::new(tee), Some(captured))
    } else {
        (body, None)
    };
    let ctx = Context {
        server: Arc::clone(&server),
        state: Arc::new(Mutex::new(Draft {
            event,
            decision: Decision::default(),
            long_running: false,
            request_body,
            request_format,
        })),
    };
    parts.extensions.insert(ctx.clone());
    let mut response = next.run(Request::from_parts(parts, body)).await;
    if let Ok(v) = HeaderValue::from_str(&audit_id) {
        response.headers_mut().insert(AUDIT_ID_HEADER, v);
    }
    ctx.respond(response)
}
