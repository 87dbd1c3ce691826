//! The token manager: ServiceAccount tokens for the `serviceAccountToken`
//! sources of projected volumes (the `token` file of every pod's
//! `kube-api-access-*` volume), as upstream's kubelet token manager.
//!
//! A token comes from the TokenRequest API
//! (`POST /api/v1/namespaces/<ns>/serviceaccounts/<sa>/token`) for the
//! source's audience (or the apiserver's own when it names none) and
//! lifetime, bound to the pod by name and uid, so that the apiserver stops
//! accepting it once the pod is gone. Volumes are refreshed on every pod
//! sync, so the manager caches one token per (pod, account, audiences,
//! lifetime) and asks for a new one only when the cached one
//! [needs a refresh](TokenManager::requires_refresh): 80% of its lifetime
//! has passed, or it is older than 24 hours, each less a jitter of up to
//! 10 s so the pods of a node do not all ask at once. The volume writer
//! then swaps the new token in atomically: running containers see the new
//! file, nothing restarts.
//!
//! When a refresh fails the old token is used while it is still valid; a
//! pod's entries are dropped when it is torn down, expired ones on the way.
//!
//! The apiserver and the clock are behind small traits ([`TokenRequester`],
//! [`Clock`]) so tests count requests and move time forward.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};
use futures::future::BoxFuture;
use k8s_openapi::api::authentication::v1::{BoundObjectReference, TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::ServiceAccount;
use kube::api::{Api, PostParams};

/// Tokens older than this are renewed whatever their lifetime.
pub const MAX_TTL: Duration = Duration::hours(24);
/// The most a refresh is brought forward by, per token.
pub const MAX_JITTER_MS: i64 = 10_000;

/// What a token is for: the cache key and the TokenRequest's content.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TokenKey {
    /// The pod's (and account's) namespace.
    pub namespace: String,
    /// The ServiceAccount.
    pub service_account: String,
    /// Audiences; empty: the apiserver's own.
    pub audiences: Vec<String>,
    /// Lifetime asked for; `None`: the apiserver's default.
    pub expiration_seconds: Option<i64>,
    /// The pod the token is bound to.
    pub pod_name: String,
    /// Its uid.
    pub pod_uid: String,
}

/// A token the apiserver issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued {
    /// The JWT.
    pub token: String,
    /// When it stops being accepted.
    pub expires: DateTime<Utc>,
    /// Its lifetime in seconds, as granted.
    pub expiration_seconds: i64,
}

/// A TokenRequest failed (the apiserver's message).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct RequestFailed(pub String);

/// Why no token can be had.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// There is no cached token and the request failed.
    #[error("failed to fetch token: {0}")]
    Fetch(#[source] RequestFailed),
    /// The cached token expired and its refresh failed.
    #[error("token of {key} expired and refresh failed: {source}")]
    Expired {
        /// The token's key (never the token).
        key: String,
        /// Why the refresh failed.
        #[source]
        source: RequestFailed,
    },
}

/// Asks the apiserver for a token.
pub trait TokenRequester: Send + Sync {
    /// One TokenRequest.
    fn request<'a>(&'a self, key: &'a TokenKey) -> BoxFuture<'a, Result<Issued, RequestFailed>>;
}

/// The real one: TokenRequest through the kubelet's client.
impl TokenRequester for kube::Client {
    fn request<'a>(&'a self, key: &'a TokenKey) -> BoxFuture<'a, Result<Issued, RequestFailed>> {
        Box::pin(async move {
            let api: Api<ServiceAccount> = Api::namespaced(self.clone(), &key.namespace);
            let req = TokenRequest {
                spec: Some(TokenRequestSpec {
                    audiences: Some(key.audiences.clone()),
                    expiration_seconds: key.expiration_seconds,
                    bound_object_ref: Some(BoundObjectReference {
                        api_version: Some("v1".into()),
                        kind: Some("Pod".into()),
                        name: Some(key.pod_name.clone()),
                        uid: Some(key.pod_uid.clone()),
                    }),
                }),
                ..Default::default()
            };
            let answer = api
                .create_token_request(&key.service_account, &PostParams::default(), &req)
                .await
                .map_err(|e| match e {
                    kube::Error::Api(status) => RequestFailed(status.message.clone()),
                    other => RequestFailed(other.to_string()),
                })?;
            let incomplete = || RequestFailed("the TokenRequest came back without a token".into());
            let status = answer.status.ok_or_else(incomplete)?;
            let token = status
                .token
                .filter(|t| !t.is_empty())
                .ok_or_else(incomplete)?;
            let expires = status
                .expiration_timestamp
                .and_then(|t| DateTime::<Utc>::from_timestamp(t.0.as_second(), 0))
                .ok_or_else(incomplete)?;
            Ok(Issued {
                token,
                expires,
                expiration_seconds: answer
                    .spec
                    .and_then(|s| s.expiration_seconds)
                    .or(key.expiration_seconds)
                    .unwrap_or(3600),
            })
        })
    }
}

/// The time.
pub trait Clock: Send + Sync {
    /// Now.
    fn now(&self) -> DateTime<Utc>;
}

/// The system's clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A cached token and the jitter its refresh is brought forward by.
#[derive(Debug, Clone)]
struct Cached {
    issued: Issued,
    jitter: Duration,
}

/// The kubelet's tokens (one per node, shared by every pod worker).
pub struct TokenManager {
    requester: Arc<dyn TokenRequester>,
    clock: Arc<dyn Clock>,
    cache: Mutex<HashMap<TokenKey, Cached>>,
}

impl std::fmt::Debug for TokenManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the tokens.
        let n = self.cache.lock().map(|c| c.len()).unwrap_or(0);
        f.debug_struct("TokenManager").field("cached", &n).finish()
    }
}

/// A jitter in `[0, MAX_JITTER_MS)`, from a random uuid (the kubelet has
/// no other randomness at hand).
fn jitter() -> Duration {
    let r = (uuid::Uuid::new_v4().as_u128() % MAX_JITTER_MS as u128) as i64;
    Duration::milliseconds(r)
}

impl TokenManager {
    /// A manager asking through `client`, on the system clock.
    pub fn new(client: kube::Client) -> TokenManager {
        TokenManager::with(Arc::new(client), Arc::new(SystemClock))
    }

    /// A manager with its own requester and clock (tests).
    pub fn with(requester: Arc<dyn TokenRequester>, clock: Arc<dyn Clock>) -> TokenManager {
        TokenManager {
            requester,
            clock,
            cache: Mutex::new(HashMap::new()),
        }
    }

    fn cached(&self, key: &TokenKey) -> Option<Cached> {
        self.cache.lock().ok()?.get(key).cloned()
    }

    /// The token for `key`: the cached one while it is fresh, else a new
    /// one (the old one when asking fails and it is still valid).
    pub async fn token(&self, key: &TokenKey) -> Result<String, Error> {
        let cached = self.cached(key);
        if let Some(c) = &cached {
            if !self.requires_refresh(c) {
                return Ok(c.issued.token.clone());
            }
        }
        match self.requester.request(key).await {
            Ok(issued) => {
                let token = issued.token.clone();
                if let Ok(mut cache) = self.cache.lock() {
                    let now = self.clock.now();
                    cache.retain(|_, c| c.issued.expires > now);
                    cache.insert(
                        key.clone(),
                        Cached {
                            issued,
                            jitter: jitter(),
                        },
                    );
                }
                Ok(token)
            }
            Err(e) => match cached {
                None => Err(Error::Fetch(e)),
                Some(c) if self.clock.now() > c.issued.expires => Err(Error::Expired {
                    key: format!(
                        "{}/{} for pod {}",
                        key.namespace, key.service_account, key.pod_name
                    ),
                    source: e,
                }),
                Some(c) => {
                    tracing::warn!(
                        namespace = %key.namespace,
                        service_account = %key.service_account,
                        pod = %key.pod_name,
                        error = %e,
                        "could not refresh a token; the current one is still valid"
                    );
                    Ok(c.issued.token)
                }
            },
        }
    }

    /// Whether a cached token is due: older than 80% of its lifetime or
    /// than [`MAX_TTL`], both less its jitter.
    fn requires_refresh(&self, c: &Cached) -> bool {
        let now = self.clock.now();
        let lifetime = Duration::seconds(c.issued.expiration_seconds);
        let issued_at = c.issued.expires - lifetime;
        if now > issued_at + MAX_TTL - c.jitter {
            return true;
        }
        now > c.issued.expires - lifetime / 5 - c.jitter
    }

    /// Forgets the tokens of the pod `uid` (it is gone).
    pub fn forget_pod(&self, uid: &str) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.retain(|k, _| k.pod_uid != uid);
        }
    }

    /// How many tokens are cached.
    pub fn len(&self) -> usize {
        self.cache.lock().map(|c| c.len()).unwrap_or(0)
    }

    /// Whether no token is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A clock tests move by hand.
#[derive(Debug)]
pub struct ManualClock(Mutex<DateTime<Utc>>);

impl ManualClock {
    /// Starts at the system's now.
    pub fn starting_now() -> ManualClock {
        ManualClock(Mutex::new(Utc::now()))
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: std::time::Duration) {
        let by = Duration::from_std(by).unwrap_or(Duration::MAX);
        if let Ok(mut t) = self.0.lock() {
            *t += by;
        }
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        match self.0.lock() {
            Ok(t) => *t,
            Err(poisoned) => *poisoned.into_inner(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Issues `token-<n>` for the lifetime asked (default 3600 s) from
    /// the clock's now, or fails while `fail` is set.
    struct Fake {
        clock: Arc<ManualClock>,
        calls: AtomicUsize,
        fail: std::sync::atomic::AtomicBool,
    }

    impl TokenRequester for Fake {
        fn request<'a>(
            &'a self,
            key: &'a TokenKey,
        ) -> BoxFuture<'a, Result<Issued, RequestFailed>> {
            Box::pin(async move {
                if self.fail.load(Ordering::SeqCst) {
                    return Err(RequestFailed(
                        "serviceaccounts \"default\" not found".into(),
                    ));
                }
                let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
                let secs = key.expiration_seconds.unwrap_or(3600);
                Ok(Issued {
                    token: format!("token-{n}"),
                    expires: self.clock.now() + Duration::seconds(secs),
                    expiration_seconds: secs,
                })
            })
        }
    }

    fn secs(n: u64) -> std::time::Duration {
        std::time::Duration::from_secs(n)
    }

    fn setup() -> (Arc<Fake>, Arc<ManualClock>, TokenManager) {
        let clock = Arc::new(ManualClock::starting_now());
        let fake = Arc::new(Fake {
            clock: clock.clone(),
            calls: AtomicUsize::new(0),
            fail: Default::default(),
        });
        let m = TokenManager::with(fake.clone(), clock.clone());
        (fake, clock, m)
    }

    fn key(uid: &str, secs: Option<i64>) -> TokenKey {
        TokenKey {
            namespace: "ns".into(),
            service_account: "default".into(),
            audiences: vec![],
            expiration_seconds: secs,
            pod_name: "p".into(),
            pod_uid: uid.into(),
        }
    }

    #[tokio::test]
    async fn a_token_is_reused_until_80_percent_of_its_life() {
        let (fake, clock, m) = setup();
        let k = key("u1", Some(1000));
        assert_eq!(m.token(&k).await.unwrap(), "token-1");
        clock.advance(secs(700));
        assert_eq!(m.token(&k).await.unwrap(), "token-1", "70%: still fresh");
        assert_eq!(fake.calls.load(Ordering::SeqCst), 1);
        // Past 80% (and past any jitter).
        clock.advance(secs(111));
        assert_eq!(m.token(&k).await.unwrap(), "token-2");
        assert_eq!(m.token(&k).await.unwrap(), "token-2");
        assert_eq!(fake.calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn long_lived_tokens_are_renewed_after_a_day() {
        let (_, clock, m) = setup();
        let k = key("u1", Some(7 * 24 * 3600));
        assert_eq!(m.token(&k).await.unwrap(), "token-1");
        clock.advance(secs(23 * 3600));
        assert_eq!(m.token(&k).await.unwrap(), "token-1");
        clock.advance(secs(3601));
        assert_eq!(m.token(&k).await.unwrap(), "token-2");
    }

    #[tokio::test]
    async fn each_key_has_its_own_token_and_pods_are_forgotten() {
        let (_, _, m) = setup();
        assert_eq!(m.token(&key("u1", Some(3600))).await.unwrap(), "token-1");
        assert_eq!(m.token(&key("u1", Some(7200))).await.unwrap(), "token-2");
        assert_eq!(m.token(&key("u2", Some(3600))).await.unwrap(), "token-3");
        assert_eq!(m.len(), 3);
        m.forget_pod("u1");
        assert_eq!(m.len(), 1);
        assert_eq!(m.token(&key("u1", Some(3600))).await.unwrap(), "token-4");
    }

    #[tokio::test]
    async fn a_failed_refresh_keeps_a_valid_token_and_fails_an_expired_one() {
        let (fake, clock, m) = setup();
        let k = key("u1", Some(1000));
        fake.fail.store(true, Ordering::SeqCst);
        let err = m.token(&k).await.expect_err("nothing cached");
        assert_eq!(
            err.to_string(),
            "failed to fetch token: serviceaccounts \"default\" not found"
        );
        fake.fail.store(false, Ordering::SeqCst);
        assert_eq!(m.token(&k).await.unwrap(), "token-1");
        fake.fail.store(true, Ordering::SeqCst);
        clock.advance(secs(900));
        assert_eq!(m.token(&k).await.unwrap(), "token-1", "still valid");
        clock.advance(secs(101));
        let err = m.token(&k).await.expect_err("expired");
        assert!(
            err.to_string().contains("expired and refresh failed"),
            "{err}"
        );
    }
}
