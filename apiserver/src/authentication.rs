//! Who a request comes from: [`UserInfo`], upstream's `user.Info`, and the
//! [`Authenticator`] chain that finds it.
//!
//! Every request on the secure port goes through the chain (called by
//! [`crate::filters`] before authorization), in upstream's order:
//!
//! ```text
//! front proxy's certificate (--requestheader-client-ca-file)
//!   + X-Remote-User and friends                                  -> request_header
//! client certificate (verified against --client-ca-file)         -> x509
//! Authorization: Bearer <token>  -> --token-auth-file          -> token_file
//!                                -> bootstrap token Secret     -> bootstrap_token
//!                                -> ServiceAccount JWT         -> service_account
//! nothing                        -> system:anonymous (--anonymous-auth)
//! ```
//!
//! A bearer token nobody recognises is a 401 even when anonymous requests
//! are allowed: a client that sent credentials wants to be told they are
//! wrong, not be served as somebody else. Every authenticated user is also
//! in `system:authenticated`. Requests on the plain port (only when asked
//! for) are not authenticated: they act as [`UserInfo::unsecured`], an
//! anonymous administrator, as upstream's old insecure port did.

pub mod bootstrap_token;
pub mod impersonation;
pub mod issuer_discovery;
pub mod passed;
pub mod request_header;
pub mod service_account;
pub mod token_file;
pub mod token_request;
pub mod x509;

use std::collections::BTreeMap;
use std::path::PathBuf;

use http::HeaderMap;
use serde_json::{json, Value};

use crate::ApiServer;

/// The anonymous user's name.
pub const ANONYMOUS: &str = "system:anonymous";
/// The group of every unauthenticated request.
pub const UNAUTHENTICATED: &str = "system:unauthenticated";
/// The group of every authenticated request.
pub const AUTHENTICATED: &str = "system:authenticated";
/// The group bound to `cluster-admin` by the bootstrap policy.
pub const MASTERS: &str = "system:masters";

/// An authenticated (or anonymous) identity.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserInfo {
    /// The user name, e.g. `system:anonymous`.
    pub username: String,
    /// A unique id, empty when the authenticator has none.
    pub uid: String,
    /// The groups the user is in.
    pub groups: Vec<String>,
    /// Whatever else the authenticator knows (a ServiceAccount token's pod).
    pub extra: BTreeMap<String, Vec<String>>,
}

impl UserInfo {
    /// The identity of a request nobody authenticated.
    pub fn anonymous() -> UserInfo {
        UserInfo {
            username: ANONYMOUS.into(),
            groups: vec![UNAUTHENTICATED.into()],
            ..Default::default()
        }
    }

    /// The identity of a request on the plain-HTTP port: nobody
    /// authenticated it, so it stays `system:anonymous`, but the port is
    /// trusted as the cluster's administrator (in `system:masters`), as
    /// upstream's old insecure port was. That is why the port is off unless
    /// asked for and should listen on loopback only.
    pub fn unsecured() -> UserInfo {
        UserInfo {
            username: ANONYMOUS.into(),
            groups: vec![UNAUTHENTICATED.into(), MASTERS.into()],
            ..Default::default()
        }
    }

    /// A user with a name and groups (`system:authenticated` added).
    pub fn authenticated(username: impl Into<String>, groups: Vec<String>) -> UserInfo {
        let mut user = UserInfo {
            username: username.into(),
            groups,
            ..Default::default()
        };
        user.add_authenticated();
        user
    }

    /// Adds `system:authenticated` unless the user is anonymous or already
    /// in it.
    pub fn add_authenticated(&mut self) {
        if self.username != ANONYMOUS && !self.groups.iter().any(|g| g == AUTHENTICATED) {
            self.groups.push(AUTHENTICATED.into());
        }
    }

    /// The `authentication.k8s.io/v1` `UserInfo` object.
    pub fn to_json(&self) -> Value {
        let mut v = json!({"username": self.username, "groups": self.groups});
        if !self.uid.is_empty() {
            v["uid"] = json!(self.uid);
        }
        if !self.extra.is_empty() {
            v["extra"] = json!(self.extra);
        }
        v
    }
}

/// The identity of a request, from its extensions: what [`crate::filters`]
/// authenticated, or anonymous when the request never went through them
/// (tests that call a handler directly).
pub fn user_of(extensions: &http::Extensions) -> UserInfo {
    extensions
        .get::<UserInfo>()
        .cloned()
        .unwrap_or_else(UserInfo::anonymous)
}

/// How requests are authenticated (the command line's flags).
#[derive(Debug, Clone)]
pub struct Options {
    /// `--anonymous-auth`: requests with no credentials are
    /// `system:anonymous` (otherwise 401).
    pub anonymous: bool,
    /// `--token-auth-file`: static tokens, upstream's CSV.
    pub token_auth_file: Option<PathBuf>,
    /// `--enable-bootstrap-token-auth`.
    pub bootstrap_tokens: bool,
    /// ServiceAccount token keys, issuers and audiences.
    pub service_accounts: service_account::Options,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            anonymous: true,
            token_auth_file: None,
            bootstrap_tokens: false,
            service_accounts: service_account::Options::default(),
        }
    }
}

/// Why the authenticators cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The token file is unreadable or malformed.
    #[error("--token-auth-file: {0}")]
    TokenFile(#[from] token_file::Error),
    /// A ServiceAccount key is unreadable or unusable.
    #[error("service account keys: {0}")]
    ServiceAccount(#[from] service_account::Error),
    /// A client or request-header CA is unusable.
    #[error("client CA: {0}")]
    ClientCa(String),
}

/// Why a request is refused with 401 (logged, never sent: upstream's body
/// says only `Unauthorized`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Unauthorized(pub String);

/// The chain of authenticators (see the module docs).
#[derive(Debug)]
pub struct Authenticator {
    anonymous: bool,
    tokens: token_file::TokenFile,
    bootstrap_tokens: bool,
    /// ServiceAccount tokens: checking them, and issuing them (TokenRequest).
    pub service_accounts: service_account::ServiceAccounts,
    /// Front proxies' requests, with `--requestheader-client-ca-file`.
    request_header: Option<request_header::RequestHeader>,
    /// `--client-ca-file`, checked here (not only in the handshake) when
    /// front proxies' certificates also pass the handshake.
    client_ca: Option<request_header::ChainVerifier>,
}

impl Authenticator {
    /// Reads the token file and keys the options name.
    pub fn new(opts: &Options) -> Result<Authenticator, Error> {
        let tokens = match &opts.token_auth_file {
            Some(path) => token_file::TokenFile::read(path)?,
            None => token_file::TokenFile::default(),
        };
        Ok(Authenticator {
            anonymous: opts.anonymous,
            tokens,
            bootstrap_tokens: opts.bootstrap_tokens,
            service_accounts: service_account::ServiceAccounts::new(&opts.service_accounts)?,
            request_header: None,
            client_ca: None,
        })
    }

    /// Adds request-header authentication (`--requestheader-*`); the
    /// handshake then also admits front proxies' certificates, so x509
    /// users are checked against `client_ca_file` here.
    pub fn with_request_header(
        mut self,
        client_ca_file: Option<&std::path::Path>,
        opts: &crate::aggregator::RequestHeaderOptions,
    ) -> Result<Authenticator, Error> {
        self.request_header = request_header::RequestHeader::new(opts).map_err(Error::ClientCa)?;
        if self.request_header.is_some() {
            self.client_ca = client_ca_file
                .map(request_header::ChainVerifier::new)
                .transpose()
                .map_err(Error::ClientCa)?;
        }
        Ok(self)
    }

    /// Authenticates a request on the secure port from its client
    /// certificate (already verified by TLS) or its bearer token.
    pub async fn authenticate(
        &self,
        server: &ApiServer,
        headers: &HeaderMap,
        extensions: &http::Extensions,
    ) -> Result<UserInfo, Unauthorized> {
        // What the certificate authenticators refused, for the 401 when no
        // later one authenticates (as upstream's union of authenticators).
        let mut refused = Vec::new();
        if let Some(certs) = extensions.get::<crate::serve::tls::PeerCertificates>() {
            if let Some(leaf) = certs.0.first() {
                let Some(front_proxy) = &self.request_header else {
                    return x509::user_of(leaf).map_err(|e| Unauthorized(e.to_string()));
                };
                match front_proxy.authenticate(&certs.0, headers) {
                    Ok(Some(user)) => return Ok(user),
                    Ok(None) => {}
                    Err(e) => refused.push(e),
                }
                match self.client_ca.as_ref().map(|ca| ca.verify(&certs.0)) {
                    Some(Ok(())) => {
                        return x509::user_of(leaf).map_err(|e| Unauthorized(e.to_string()))
                    }
                    Some(Err(e)) => refused.push(e),
                    None => refused.push("x509: no client CA to verify with".into()),
                }
            }
        }
        if let Some(token) = bearer_token(headers)? {
            let audiences = self.service_accounts.api_audiences().to_vec();
            return match self.authenticate_token(server, token, &audiences).await {
                Ok((user, _)) => Ok(user),
                Err(e) => Err(Unauthorized(e)),
            };
        }
        if !refused.is_empty() {
            return Err(Unauthorized(refused.join(", ")));
        }
        if self.anonymous {
            Ok(UserInfo::anonymous())
        } else {
            Err(Unauthorized(
                "no credentials and anonymous requests are disabled".into(),
            ))
        }
    }

    /// Authenticates a bearer token for one of `audiences` (a TokenReview
    /// asks for its own); returns the user and the audiences the token was
    /// good for, or why it is not good.
    pub async fn authenticate_token(
        &self,
        server: &ApiServer,
        token: &str,
        audiences: &[String],
    ) -> Result<(UserInfo, Vec<String>), String> {
        if let Some(mut user) = self.tokens.lookup(token) {
            user.add_authenticated();
            return Ok((user, audiences.to_vec()));
        }
        if let Some(parsed) = bootstrap_token::parse(token) {
            if !self.bootstrap_tokens {
                return Err("bootstrap token authentication is not enabled".into());
            }
            let mut user = bootstrap_token::authenticate(server, &parsed).await?;
            user.add_authenticated();
            return Ok((user, audiences.to_vec()));
        }
        if service_account::looks_like_jwt(token) {
            let (mut user, good_for) = self
                .service_accounts
                .authenticate(server, token, audiences)
                .await?;
            user.add_authenticated();
            return Ok((user, good_for));
        }
        Err("invalid bearer token".into())
    }
}

/// The token of an `Authorization: Bearer <token>` header, if any.
fn bearer_token(headers: &HeaderMap) -> Result<Option<&str>, Unauthorized> {
    let Some(value) = headers.get(http::header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| Unauthorized("the Authorization header is not text".into()))?;
    let Some((scheme, token)) = value.split_once(' ') else {
        return Ok(None);
    };
    if !scheme.eq_ignore_ascii_case("bearer") {
        // Basic auth and friends are not ours to judge: as upstream, such a
        // request is treated as carrying no token.
        return Ok(None);
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(Unauthorized("an empty bearer token".into()));
    }
    Ok(Some(token))
}

/// The 401 answer: upstream's Status, which never says why.
pub fn unauthorized_response() -> axum::response::Response {
    let body = json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": "Unauthorized",
        "reason": "Unauthorized",
        "code": 401,
    });
    crate::response::json(http::StatusCode::UNAUTHORIZED, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens_are_read_from_the_authorization_header() {
        let mut h = HeaderMap::new();
        assert_eq!(bearer_token(&h), Ok(None));
        h.insert(http::header::AUTHORIZATION, "Bearer abc".parse().unwrap());
        assert_eq!(bearer_token(&h), Ok(Some("abc")));
        h.insert(
            http::header::AUTHORIZATION,
            "bearer   xyz ".parse().unwrap(),
        );
        assert_eq!(bearer_token(&h), Ok(Some("xyz")));
        h.insert(
            http::header::AUTHORIZATION,
            "Basic Zm9vOmJhcg==".parse().unwrap(),
        );
        assert_eq!(bearer_token(&h), Ok(None));
        h.insert(http::header::AUTHORIZATION, "Bearer  ".parse().unwrap());
        assert!(bearer_token(&h).is_err());
    }

    #[test]
    fn authenticated_users_are_in_system_authenticated_once() {
        let u = UserInfo::authenticated("jane", vec![AUTHENTICATED.into(), "dev".into()]);
        assert_eq!(u.groups, vec![AUTHENTICATED.to_string(), "dev".into()]);
        let mut anon = UserInfo::anonymous();
        anon.add_authenticated();
        assert_eq!(anon.groups, vec![UNAUTHENTICATED.to_string()]);
    }
}
