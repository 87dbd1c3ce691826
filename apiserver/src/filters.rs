//! The filters every request passes before its handler, in upstream's
//! order:
//!
//! ```text
//! authentication (401) -> impersonation -> priority and fairness (429)
//!   -> authorization (403) -> handler
//! ```
//!
//! The identity found is attached to the request ([`UserInfo`] extension)
//! for the handlers: admission, the reviews and `user_of` read it there.
//! When auditing is on, the [`audit::Context`] the outer audit filter put
//! on the request learns the user and the decision here.
//! Requests that came in on the plain-HTTP port (only served when asked for)
//! skip authentication and act as [`UserInfo::unsecured`].

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::audit;
use crate::authentication::{impersonation, unauthorized_response, UserInfo};
use crate::authorization::{forbidden, Attributes};
use crate::flowcontrol::{self, Classification};
use crate::serve::Transport;
use crate::ApiServer;

/// How long a request waits for the authorizers' state to load at start-up before
/// it is decided on what is known.
const RBAC_WARMUP: Duration = Duration::from_secs(10);

fn wants_watch(query: Option<&str>) -> bool {
    url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .any(|(k, v)| k == "watch" && (v == "true" || v == "1"))
}

/// What the request asks to do, from its method, path and query.
fn request_attributes(user: UserInfo, parts: &http::request::Parts) -> Attributes {
    Attributes::from_request(
        user,
        &parts.method,
        parts.uri.path(),
        wants_watch(parts.uri.query()),
    )
}

/// The middleware: authenticate, impersonate, authorize.
pub async fn authenticate_and_authorize(
    State(server): State<Arc<ApiServer>>,
    req: Request,
    next: Next,
) -> Response {
    let (mut parts, body) = req.into_parts();
    let secure = matches!(parts.extensions.get::<Transport>(), Some(Transport::Tls));
    let user = if secure {
        match server
            .authenticator
            .authenticate(&server, &parts.headers, &parts.extensions)
            .await
        {
            Ok(user) => user,
            Err(why) => {
                tracing::info!(path = parts.uri.path(), reason = %why, "unauthorized");
                if let Some(audit) = parts.extensions.get::<audit::Context>() {
                    audit.unauthenticated(&request_attributes(UserInfo::default(), &parts));
                }
                return unauthorized_response();
            }
        }
    } else {
        UserInfo::unsecured()
    };
    let authenticated = user.clone();
    let user = match impersonation::impersonate(&server.authorizer, user, &parts.headers) {
        Ok(u) => u,
        Err(e) => return e.into_response(),
    };
    let attrs =
        request_attributes(user.clone(), &parts).with_field_selector_name(parts.uri.query());
    let classification = if server.config.enable_priority_and_fairness && !long_running(&attrs) {
        server.flow_control.classify(&attrs)
    } else {
        None
    };
    // Held until the handler has answered (for a watch: until its response
    // starts), then given back to the priority level.
    let _seat = match &classification {
        Some(c) => match server
            .flow_control
            .admit(c, server.config.request_timeout / 4)
            .await
        {
            Ok(seat) => seat,
            Err(_) => return with_flow_headers(too_many_requests(), classification.as_ref()),
        },
        None => None,
    };
    if !server.authorizer.is_ready() {
        let deadline = tokio::time::Instant::now() + RBAC_WARMUP;
        while !server.authorizer.is_ready() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let decision = server.authorizer.authorize(&attrs);
    if let Some(audit) = parts.extensions.get::<audit::Context>() {
        // The policy is about the authenticated user; the event names the
        // impersonated one besides.
        let impersonated = (user != authenticated).then_some(&user);
        let audited = Attributes {
            user: authenticated,
            ..attrs.clone()
        };
        audit.authorized(&audited, impersonated, decision.allowed, &decision.reason);
    }
    if !decision.allowed {
        tracing::debug!(user = %user.username, verb = %attrs.verb, path = parts.uri.path(), "forbidden");
        return with_flow_headers(
            forbidden(&attrs, &decision.reason).into_response(),
            classification.as_ref(),
        );
    }
    parts.extensions.insert(user);
    let response = next.run(Request::from_parts(parts, body)).await;
    with_flow_headers(response, classification.as_ref())
}

/// Requests that stay open for as long as the client likes (other than
/// watches): API Priority and Fairness leaves them alone, as upstream's
/// long-running check, or they would pin their seats.
fn long_running(attrs: &Attributes) -> bool {
    attrs.verb == "proxy"
        || (attrs.resource_request
            && matches!(
                attrs.subresource.as_str(),
                "exec" | "attach" | "portforward" | "proxy" | "log"
            ))
}

/// Names the FlowSchema and priority level that handled the request, by
/// UID (names could tell a client it was put in a low level).
fn with_flow_headers(mut response: Response, c: Option<&Classification>) -> Response {
    if let Some(c) = c {
        let headers = response.headers_mut();
        for (name, value) in [
            (flowcontrol::FLOW_SCHEMA_UID_HEADER, &c.schema.uid),
            (flowcontrol::PRIORITY_LEVEL_UID_HEADER, &c.level.uid),
        ] {
            if let Ok(v) = http::HeaderValue::from_str(value) {
                headers.insert(name, v);
            }
        }
    }
    response
}

/// Upstream's 429: plain text, and come back in a second.
fn too_many_requests() -> Response {
    (
        http::StatusCode::TOO_MANY_REQUESTS,
        [
            (http::header::RETRY_AFTER, "1"),
            (http::header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (http::header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        "Too many requests, please try again later.\n",
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watch_is_read_from_the_query() {
        assert!(wants_watch(Some("watch=true&resourceVersion=1")));
        assert!(wants_watch(Some("watch=1")));
        assert!(!wants_watch(Some("watch=false")));
        assert!(!wants_watch(None));
    }
}
