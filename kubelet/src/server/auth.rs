//! Who may use the kubelet API, and for what: every request to :10250 is
//! authenticated, then authorized, before a handler runs (upstream's
//! kubelet `authentication`/`authorization` settings).
//!
//! ```text
//! request ─► a client certificate chaining to authentication.x509.clientCAFile?  ─► its CN/O
//!        └─► Authorization: Bearer T and authentication.webhook.enabled?
//!                 ─► TokenReview{T} to the apiserver ─► the user it names
//!        └─► authentication.anonymous.enabled? ─► system:anonymous   (else 401)
//!
//! authorization.mode: Webhook ─► SubjectAccessReview to the apiserver:
//!     user, verb (from the HTTP method), resource nodes, name <this node>,
//!     subresource from the path (403 unless allowed)
//! authorization.mode: AlwaysAllow ─► no check (in-process tests)
//! ```
//!
//! The subresource follows upstream's kubelet: `/stats/*` stats,
//! `/metrics/*` metrics, `/logs/*` log; everything else, including exec,
//! attach, port-forward, `/containerLogs` and `/run`, is `proxy` — which is
//! why `nodes/proxy` is the permission to guard. `/pods` and `/healthz` are
//! also allowed by `nodes/pods` and `nodes/healthz` (upstream's fine-grained
//! kubelet authorization). The apiserver itself calls as
//! `--kubelet-client-certificate`, bound to `system:kubelet-api-admin`.
//!
//! Answers are remembered for a while, as upstream's kubelet caches its
//! webhooks (by default a token's user 2 minutes, an allowed access 5
//! minutes, a denied one 30 seconds), so a busy `kubectl logs -f` or port-forward
//! does not cost a review per request.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use component_base::tls::PeerCertificates;
use http::StatusCode;
use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec};
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use kube::api::{Api, PostParams};

/// How callers are authenticated and authorized (the kubelet's
/// `authentication` and `authorization` settings).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthOptions {
    /// `authentication.anonymous.enabled` (`--anonymous-auth`): a caller
    /// without credentials is `system:anonymous` instead of refused (401).
    pub anonymous: bool,
    /// `authentication.webhook.enabled`: bearer tokens are checked with a
    /// TokenReview.
    pub webhook: bool,
    /// `authorization.mode` (`--authorization-mode`).
    pub mode: AuthorizationMode,
    /// How long a token's user is remembered
    /// (`authentication.webhook.cacheTTL`).
    pub token_ttl: Duration,
    /// How long an allowed access is remembered
    /// (`authorization.webhook.cacheAuthorizedTTL`).
    pub allowed_ttl: Duration,
    /// How long a denied access is remembered
    /// (`authorization.webhook.cacheUnauthorizedTTL`).
    pub denied_ttl: Duration,
}

impl Default for AuthOptions {
    /// Upstream's KubeletConfiguration defaults: no anonymous access,
    /// tokens by webhook, authorization by webhook, answers remembered 2
    /// minutes (tokens), 5 minutes (allowed), 30 seconds (denied).
    fn default() -> Self {
        AuthOptions {
            anonymous: false,
            webhook: true,
            mode: AuthorizationMode::Webhook,
            token_ttl: Duration::from_secs(120),
            allowed_ttl: Duration::from_secs(300),
            denied_ttl: Duration::from_secs(30),
        }
    }
}

/// `authorization.mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthorizationMode {
    /// Every authenticated request is allowed.
    AlwaysAllow,
    /// A SubjectAccessReview decides.
    Webhook,
}

impl std::str::FromStr for AuthorizationMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "AlwaysAllow" => Ok(AuthorizationMode::AlwaysAllow),
            "Webhook" => Ok(AuthorizationMode::Webhook),
            other => Err(format!(
                "authorization mode {other:?}: must be AlwaysAllow or Webhook"
            )),
        }
    }
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The user name.
    pub name: String,
    /// Its uid, when the authenticator knows one.
    pub uid: Option<String>,
    /// Its groups.
    pub groups: Vec<String>,
    /// Extra attributes from a TokenReview.
    pub extra: std::collections::BTreeMap<String, Vec<String>>,
}

impl User {
    fn anonymous() -> User {
        User {
            name: "system:anonymous".into(),
            uid: None,
            groups: vec!["system:unauthenticated".into()],
            extra: Default::default(),
        }
    }
}

/// Entries kept at most; a full cache starts over (a crude bound that
/// keeps a flood of distinct tokens from growing the kubelet).
const CACHE_ENTRIES: usize = 4096;

/// Answers of the apiserver, each until its expiry.
struct Cache<K, V> {
    entries: Mutex<HashMap<K, (Instant, V)>>,
}

impl<K: std::hash::Hash + Eq, V: Clone> Cache<K, V> {
    fn new() -> Self {
        Cache {
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn get(&self, key: &K) -> Option<V> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .get(key)
            .filter(|(expiry, _)| Instant::now() < *expiry)
            .map(|(_, v)| v.clone())
    }

    fn put(&self, key: K, value: V, ttl: Duration) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= CACHE_ENTRIES {
            entries.clear();
        }
        entries.insert(key, (Instant::now() + ttl, value));
    }
}

/// What an access review is about: user, groups, verb, subresource.
type AccessKey = (String, Vec<String>, String, String);

/// The guard in front of the kubelet API: the options, this node's name
/// (the `name` of every review), the client that asks the apiserver and
/// the answers it gave.
#[derive(Clone)]
pub struct Guard {
    options: AuthOptions,
    node_name: String,
    client: Option<kube::Client>,
    tokens: Arc<Cache<String, Option<User>>>,
    access: Arc<Cache<AccessKey, bool>>,
}

impl Guard {
    /// A guard for `node_name`; `client` asks the apiserver for reviews
    /// (without one, tokens are not accepted and only `AlwaysAllow`
    /// authorizes anything).
    pub fn new(options: AuthOptions, node_name: &str, client: Option<kube::Client>) -> Guard {
        Guard {
            options,
            node_name: node_name.to_string(),
            client,
            tokens: Arc::new(Cache::new()),
            access: Arc::new(Cache::new()),
        }
    }

    /// Who sent a request with these certificates and this
    /// `Authorization` header; `None`: nobody we accept (401).
    async fn authenticate(
        &self,
        certs: Option<&PeerCertificates>,
        authorization: Option<&str>,
    ) -> Option<User> {
        if let Some((name, mut groups)) = certs
            .and_then(|c| c.0.first())
            .and_then(component_base::tls::user_of)
        {
            groups.push("system:authenticated".into());
            return Some(User {
                name,
                uid: None,
                groups,
                extra: Default::default(),
            });
        }
        let token = authorization
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty());
        if let Some(token) = token {
            // A token we cannot check is a failed login, not anonymous.
            let (Some(client), true) = (&self.client, self.options.webhook) else {
                return None;
            };
            if let Some(known) = self.tokens.get(&token.to_string()) {
                return known;
            }
            let user = review_token(client, token).await?;
            // Only answers are remembered: an apiserver that could not be
            // asked is asked again next time.
            self.tokens
                .put(token.to_string(), user.clone(), self.options.token_ttl);
            return user;
        }
        self.options.anonymous.then(User::anonymous)
    }

    /// Whether `user` may send `req` (any of its attributes allowed).
    async fn authorize(&self, user: &User, verb: &str, subresources: &[&str]) -> bool {
        if self.options.mode == AuthorizationMode::AlwaysAllow {
            return true;
        }
        let Some(client) = &self.client else {
            return false;
        };
        for sub in subresources {
            let key = (
                user.name.clone(),
                user.groups.clone(),
                verb.to_string(),
                sub.to_string(),
            );
            let allowed = match self.access.get(&key) {
                Some(allowed) => allowed,
                None => {
                    let Some(allowed) =
                        review_access(client, user, verb, &self.node_name, sub).await
                    else {
                        continue;
                    };
                    let ttl = if allowed {
                        self.options.allowed_ttl
                    } else {
                        self.options.denied_ttl
                    };
                    self.access.put(key, allowed, ttl);
                    allowed
                }
            };
            if allowed {
                return true;
            }
        }
        false
    }
}

/// The axum middleware: 401 for an unknown caller, 403 for a known one
/// the apiserver does not allow, else the handler.
pub async fn guard(State(guard): State<Arc<Guard>>, req: Request, next: Next) -> Response {
    // Read what authenticates before awaiting: a request is not Sync.
    let certs = req.extensions().get::<PeerCertificates>().cloned();
    let authorization = req
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    let Some(user) = guard
        .authenticate(certs.as_ref(), authorization.as_deref())
        .await
    else {
        return (StatusCode::UNAUTHORIZED, "Unauthorized").into_response();
    };
    let verb = verb_of(req.method());
    let path = req.uri().path().to_string();
    let subresources = subresources_of(&path);
    if !guard.authorize(&user, verb, &subresources).await {
        tracing::info!(user = %user.name, verb, %path, "kubelet API request forbidden");
        let msg = format!(
            "Forbidden (user={}, verb={verb}, resource=nodes, subresource(s)=[{}])\n",
            user.name,
            subresources.join(" ")
        );
        return (StatusCode::FORBIDDEN, msg).into_response();
    }
    next.run(req).await
}

/// The API verb of an HTTP method, as upstream's kubelet maps it.
pub fn verb_of(method: &http::Method) -> &'static str {
    match *method {
        http::Method::POST => "create",
        http::Method::PUT => "update",
        http::Method::PATCH => "patch",
        http::Method::DELETE => "delete",
        _ => "get",
    }
}

/// The `nodes` subresources a path is checked against, most specific
/// first (any one allowed is enough).
pub fn subresources_of(path: &str) -> Vec<&'static str> {
    let under = |prefix: &str| {
        let prefix = prefix.trim_end_matches('/');
        path == prefix
            || path
                .strip_prefix(prefix)
                .is_some_and(|rest| rest.starts_with('/'))
    };
    let mut subs = Vec::new();
    if under("/pods") || under("/runningpods") {
        subs.push("pods");
    } else if under("/healthz") {
        subs.push("healthz");
    } else if under("/configz") {
        subs.push("configz");
    }
    subs.push(if under("/stats") {
        "stats"
    } else if under("/metrics") {
        "metrics"
    } else if under("/logs") {
        "log"
    } else {
        "proxy"
    });
    subs
}

/// The user a bearer token names, by TokenReview: `Some(None)` when the
/// apiserver does not know it, `None` when it cannot be asked.
async fn review_token(client: &kube::Client, token: &str) -> Option<Option<User>> {
    let review = TokenReview {
        spec: TokenReviewSpec {
            token: token.to_string(),
            audiences: None,
        },
        ..Default::default()
    };
    let api: Api<TokenReview> = Api::all(client.clone());
    let answer = match api.create(&PostParams::default(), &review).await {
        Ok(a) => a,
        Err(e) => {
            tracing::warn!(error = %e, "TokenReview failed");
            return None;
        }
    };
    let user = answer
        .status
        .filter(|s| s.authenticated == Some(true))
        .and_then(|s| s.user)
        .and_then(|u| {
            Some(User {
                name: u.username?,
                uid: u.uid,
                groups: u.groups.unwrap_or_default(),
                extra: u.extra.unwrap_or_default().into_iter().collect(),
            })
        });
    Some(user)
}

/// Whether the apiserver allows `user` to `verb` `nodes/<sub>` of `node`;
/// `None` when it cannot be asked.
async fn review_access(
    client: &kube::Client,
    user: &User,
    verb: &str,
    node: &str,
    sub: &str,
) -> Option<bool> {
    let review = SubjectAccessReview {
        spec: SubjectAccessReviewSpec {
            user: Some(user.name.clone()),
            uid: user.uid.clone(),
            groups: Some(user.groups.clone()),
            extra: (!user.extra.is_empty()).then(|| user.extra.clone().into_iter().collect()),
            resource_attributes: Some(ResourceAttributes {
                verb: Some(verb.to_string()),
                group: Some(String::new()),
                version: Some("v1".into()),
                resource: Some("nodes".into()),
                subresource: Some(sub.to_string()),
                name: Some(node.to_string()),
                ..Default::default()
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    let api: Api<SubjectAccessReview> = Api::all(client.clone());
    match api.create(&PostParams::default(), &review).await {
        Ok(a) => Some(a.status.is_some_and(|s| s.allowed)),
        Err(e) => {
            tracing::warn!(error = %e, "SubjectAccessReview failed");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_map_to_upstreams_subresources() {
        assert_eq!(subresources_of("/stats/summary"), ["stats"]);
        assert_eq!(subresources_of("/metrics"), ["metrics"]);
        assert_eq!(subresources_of("/logs/syslog"), ["log"]);
        assert_eq!(subresources_of("/pods"), ["pods", "proxy"]);
        assert_eq!(subresources_of("/healthz"), ["healthz", "proxy"]);
        for p in [
            "/exec/ns/p/c",
            "/attach/ns/p/c",
            "/portForward/ns/p",
            "/containerLogs/ns/p/c",
            "/run/ns/p/c",
            "/podProxy/ns/p/http/80/",
            "/podsx",
            "/statsx",
        ] {
            assert_eq!(subresources_of(p), ["proxy"], "{p}");
        }
    }

    #[test]
    fn answers_are_remembered_until_they_expire() {
        let cache: Cache<String, bool> = Cache::new();
        cache.put("a".into(), true, Duration::from_secs(60));
        cache.put("b".into(), false, Duration::ZERO);
        assert_eq!(cache.get(&"a".to_string()), Some(true));
        assert_eq!(cache.get(&"b".to_string()), None, "expired");
        assert_eq!(cache.get(&"c".to_string()), None);
        for i in 0..CACHE_ENTRIES {
            cache.put(i.to_string(), true, Duration::from_secs(60));
        }
        assert!(
            cache.entries.lock().expect("lock").len() <= CACHE_ENTRIES,
            "bounded"
        );
    }

    #[test]
    fn methods_map_to_verbs() {
        assert_eq!(verb_of(&http::Method::GET), "get");
        assert_eq!(verb_of(&http::Method::POST), "create");
        assert_eq!(verb_of(&http::Method::DELETE), "delete");
        assert!("Webhook".parse::<AuthorizationMode>().is_ok());
        assert!("RBAC".parse::<AuthorizationMode>().is_err());
    }

    async fn call(guard: Guard, req: http::Request<axum::body::Body>) -> (StatusCode, String) {
        use tower::ServiceExt;
        let app = axum::Router::new()
            .route("/pods", axum::routing::get(|| async { "pods" }))
            .layer(axum::middleware::from_fn_with_state(
                Arc::new(guard),
                super::guard,
            ));
        let resp = app.oneshot(req).await.expect("infallible");
        let status = resp.status();
        let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .expect("body");
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    fn get(path: &str) -> http::Request<axum::body::Body> {
        http::Request::get(path)
            .body(axum::body::Body::empty())
            .expect("request")
    }

    #[tokio::test]
    async fn anonymous_is_refused_unless_enabled() {
        let closed = Guard::new(AuthOptions::default(), "n1", None);
        assert_eq!(
            call(closed, get("/pods")).await,
            (StatusCode::UNAUTHORIZED, "Unauthorized".into())
        );
        let open = AuthOptions {
            anonymous: true,
            webhook: false,
            mode: AuthorizationMode::AlwaysAllow,
            ..AuthOptions::default()
        };
        let (status, body) = call(Guard::new(open, "n1", None), get("/pods")).await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "pods"));
        // Anonymous but Webhook authorization with nobody to ask: refused
        // with upstream's message.
        let asked = AuthOptions {
            anonymous: true,
            ..AuthOptions::default()
        };
        let (status, body) = call(Guard::new(asked, "n1", None), get("/pods")).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(
            body,
            "Forbidden (user=system:anonymous, verb=get, resource=nodes, subresource(s)=[pods proxy])\n"
        );
    }

    #[tokio::test]
    async fn a_token_without_a_webhook_is_not_anonymous() {
        let open = AuthOptions {
            anonymous: true,
            webhook: false,
            mode: AuthorizationMode::AlwaysAllow,
            ..AuthOptions::default()
        };
        let req = http::Request::get("/pods")
            .header("authorization", "Bearer abc")
            .body(axum::body::Body::empty())
            .expect("request");
        assert_eq!(
            call(Guard::new(open, "n1", None), req).await.0,
            StatusCode::UNAUTHORIZED
        );
    }
}
