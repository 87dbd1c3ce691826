//! A client for the registry HTTP API (the "distribution spec").
//!
//! Pulling an image is three kinds of GET on `https://<host>/v2/<repository>/...`:
//! `manifests/<tag-or-digest>` (a small JSON document that lists the layers, or a
//! *manifest list / OCI index* that lists one manifest per platform),
//! `blobs/<digest>` for the config and for every layer. Everything is addressed
//! by digest, so the client checks the sha256 of what it downloaded against the
//! digest it asked for: a registry (or a mirror) can't hand us different bytes.
//!
//! A registry that wants credentials answers `401` with a challenge:
//!
//! - `WWW-Authenticate: Bearer realm=...,service=...,scope=...` (Docker Hub,
//!   most public registries): the client asks the realm for a token, anonymously
//!   or, given an [`AuthConfig`], with the user name and password as HTTP basic
//!   auth, and repeats the request with `Authorization: Bearer <token>`;
//! - `WWW-Authenticate: Basic realm=...` (a registry with an `htpasswd` file):
//!   the client repeats the request with the credentials as HTTP basic auth.
//!
//! Either way the answer is then kept per (endpoint, repository) for the
//! following requests of the pull. Without credentials, a `Basic` challenge is
//! the registry's final word: the pull fails with its `401`.

use base64::Engine as _;
use sha2::{Digest as _, Sha256};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::time::Duration;

/// Media types the client accepts for manifests.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.oci.image.manifest.v1+json, \
application/vnd.docker.distribution.manifest.v2+json";

/// What went wrong talking to a registry.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The registry answered with an HTTP error status.
    #[error("GET {url}: HTTP {status}: {body}")]
    Status {
        /// The URL requested.
        url: String,
        /// HTTP status.
        status: u16,
        /// The start of the response body.
        body: String,
    },
    /// The connection failed.
    #[error("GET {url}: {source}")]
    Transport {
        /// The URL requested.
        url: String,
        /// The transport error.
        #[source]
        source: Box<ureq::Transport>,
    },
    /// Reading the body failed.
    #[error("reading {url}: {source}")]
    Io {
        /// The URL requested.
        url: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The token endpoint answered something unusable.
    #[error("token from {realm}: {reason}")]
    Token {
        /// Token endpoint.
        realm: String,
        /// What was wrong.
        reason: String,
    },
    /// Downloaded bytes do not hash to the digest asked for.
    #[error("digest mismatch for {url}: expected {expected}, got {actual}")]
    DigestMismatch {
        /// The URL requested.
        url: String,
        /// Digest asked for.
        expected: String,
        /// Digest of the bytes received.
        actual: String,
    },
}

type Result<T, E = Error> = std::result::Result<T, E>;

/// One base URL to try, e.g. `http://127.0.0.1:5000` for a mirror.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `scheme://host[:port]` without a trailing slash.
    pub base: String,
}

/// A fetched manifest: its bytes, declared media type and digest.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// Raw bytes (the digest covers exactly these).
    pub bytes: Vec<u8>,
    /// Content-Type of the answer (may be empty; then the `mediaType` field decides).
    pub media_type: String,
    /// `sha256:<hex>` of the bytes.
    pub digest: String,
}

/// Credentials for one pull (CRI's `AuthConfig`): what the kubelet found in
/// the pod's `imagePullSecrets` for the image's registry.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct AuthConfig {
    /// The registry user.
    pub username: String,
    /// Its password (or a token the registry takes as one).
    pub password: String,
}

impl std::fmt::Debug for AuthConfig {
    // Logs and errors may show who pulled, never the password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthConfig")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

impl AuthConfig {
    /// The `Authorization` header value of HTTP basic auth.
    fn basic(&self) -> String {
        let pair = format!("{}:{}", self.username, self.password);
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair)
        )
    }
}

/// A blocking registry client with a per-(host, repository) cache of the
/// `Authorization` header a challenge led to.
pub struct Client {
    agent: ureq::Agent,
    auth: Option<AuthConfig>,
    authorizations: HashMap<String, String>,
}

impl Default for Client {
    fn default() -> Self {
        Self::new()
    }
}

/// `sha256:<hex>` of some bytes.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(bytes))
}

/// Whether a `WWW-Authenticate` challenge asks for HTTP basic auth.
fn is_basic(challenge: &str) -> bool {
    challenge
        .trim()
        .get(..6)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("basic "))
}

/// The error of an HTTP error answer, with the start of its body (the
/// registry's own explanation, as `{"errors":[{"code":"UNAUTHORIZED",...}]}`).
fn status_error(url: &str, status: u16, resp: ureq::Response) -> Error {
    let mut body = String::new();
    let _ = resp.into_reader().take(512).read_to_string(&mut body);
    Error::Status {
        url: url.to_string(),
        status,
        body,
    }
}

/// Parses a `WWW-Authenticate: Bearer k="v",...` challenge into its parameters.
pub fn parse_challenge(header: &str) -> Option<HashMap<String, String>> {
    let rest = header.trim().strip_prefix("Bearer ")?;
    let mut out = HashMap::new();
    let mut s = rest.trim();
    while !s.is_empty() {
        let (key, after) = s.split_once('=')?;
        let key = key
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_ascii_lowercase();
        let (value, remaining) = if let Some(quoted) = after.strip_prefix('"') {
            let end = quoted.find('"')?;
            (&quoted[..end], &quoted[end + 1..])
        } else {
            match after.find(',') {
                Some(i) => (&after[..i], &after[i..]),
                None => (after, ""),
            }
        };
        out.insert(key, value.to_string());
        s = remaining.trim_start_matches([',', ' ']);
    }
    Some(out)
}

impl Client {
    /// A client with sane timeouts that pulls anonymously.
    pub fn new() -> Self {
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(Duration::from_secs(10))
            .timeout_read(Duration::from_secs(60))
            .user_agent(concat!("mini-kubelet/", env!("CARGO_PKG_VERSION")))
            .build();
        Client {
            agent,
            auth: None,
            authorizations: HashMap::new(),
        }
    }

    /// A client that answers challenges with these credentials.
    pub fn with_auth(auth: Option<AuthConfig>) -> Self {
        Client {
            auth,
            ..Client::new()
        }
    }

    fn get(
        &mut self,
        ep: &Endpoint,
        repo: &str,
        url: &str,
        accept: &str,
    ) -> Result<ureq::Response> {
        let key = format!("{}|{}", ep.base, repo);
        let mut retried = false;
        loop {
            let mut req = self.agent.get(url);
            if !accept.is_empty() {
                req = req.set("Accept", accept);
            }
            if let Some(authorization) = self.authorizations.get(&key) {
                req = req.set("Authorization", authorization);
            }
            match req.call() {
                Ok(resp) => return Ok(resp),
                Err(ureq::Error::Status(401, resp)) if !retried => {
                    let challenge = resp.header("www-authenticate").unwrap_or("").to_string();
                    let authorization = match (is_basic(&challenge), &self.auth) {
                        (true, Some(auth)) => auth.basic(),
                        // Nothing to answer a password challenge with.
                        (true, None) => return Err(status_error(url, 401, resp)),
                        (false, _) => format!("Bearer {}", self.fetch_token(&challenge, repo)?),
                    };
                    self.authorizations.insert(key.clone(), authorization);
                    retried = true;
                }
                Err(ureq::Error::Status(status, resp)) => {
                    return Err(status_error(url, status, resp));
                }
                Err(ureq::Error::Transport(t)) => {
                    return Err(Error::Transport {
                        url: url.to_string(),
                        source: Box::new(t),
                    })
                }
            }
        }
    }

    fn fetch_token(&mut self, challenge: &str, repo: &str) -> Result<String> {
        let params = parse_challenge(challenge).ok_or_else(|| Error::Token {
            realm: String::new(),
            reason: format!("unsupported authentication challenge {challenge:?}"),
        })?;
        let realm = params.get("realm").cloned().unwrap_or_default();
        if realm.is_empty() {
            return Err(Error::Token {
                realm,
                reason: "challenge without realm".into(),
            });
        }
        let scope = params
            .get("scope")
            .cloned()
            .unwrap_or_else(|| format!("repository:{repo}:pull"));
        let mut req = self.agent.get(&realm).query("scope", &scope);
        if let Some(service) = params.get("service") {
            req = req.query("service", service);
        }
        // The token server decides from these credentials what the token
        // may pull; without them it hands out an anonymous one (if any).
        if let Some(auth) = &self.auth {
            req = req.set("Authorization", &auth.basic());
        }
        let resp = req.call().map_err(|e| Error::Token {
            realm: realm.clone(),
            reason: e.to_string(),
        })?;
        let mut body = Vec::new();
        resp.into_reader()
            .take(1 << 20)
            .read_to_end(&mut body)
            .map_err(|e| Error::Token {
                realm: realm.clone(),
                reason: e.to_string(),
            })?;
        let v: serde_json::Value = serde_json::from_slice(&body).map_err(|e| Error::Token {
            realm: realm.clone(),
            reason: e.to_string(),
        })?;
        v.get("token")
            .or_else(|| v.get("access_token"))
            .and_then(|t| t.as_str())
            .map(str::to_string)
            .ok_or(Error::Token {
                realm,
                reason: "no token in answer".into(),
            })
    }

    /// GETs a manifest (by tag or digest). When `reference` is a digest, the bytes
    /// are verified against it.
    pub fn manifest(&mut self, ep: &Endpoint, repo: &str, reference: &str) -> Result<Fetched> {
        let url = format!("{}/v2/{}/manifests/{}", ep.base, repo, reference);
        let resp = self.get(ep, repo, &url, MANIFEST_ACCEPT)?;
        let media_type = resp.content_type().to_string();
        let mut bytes = Vec::new();
        resp.into_reader()
            .take(8 << 20)
            .read_to_end(&mut bytes)
            .map_err(|source| Error::Io {
                url: url.clone(),
                source,
            })?;
        let digest = sha256_digest(&bytes);
        if reference.starts_with("sha256:") && reference != digest {
            return Err(Error::DigestMismatch {
                url,
                expected: reference.to_string(),
                actual: digest,
            });
        }
        Ok(Fetched {
            bytes,
            media_type,
            digest,
        })
    }

    /// Streams a blob into `out`, verifying its digest; returns its size.
    pub fn blob(
        &mut self,
        ep: &Endpoint,
        repo: &str,
        digest: &str,
        out: &mut dyn Write,
    ) -> Result<u64> {
        let url = format!("{}/v2/{}/blobs/{}", ep.base, repo, digest);
        let resp = self.get(ep, repo, &url, "")?;
        let mut reader = resp.into_reader();
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 256 * 1024];
        let mut total = 0u64;
        loop {
            let n = reader.read(&mut buf).map_err(|source| Error::Io {
                url: url.clone(),
                source,
            })?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            out.write_all(&buf[..n]).map_err(|source| Error::Io {
                url: url.clone(),
                source,
            })?;
            total += n as u64;
        }
        let actual = format!("sha256:{:x}", hasher.finalize());
        if actual != digest {
            return Err(Error::DigestMismatch {
                url,
                expected: digest.to_string(),
                actual,
            });
        }
        Ok(total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_docker_hub_challenge() {
        let c = parse_challenge(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull""#,
        )
        .unwrap();
        assert_eq!(c["realm"], "https://auth.docker.io/token");
        assert_eq!(c["service"], "registry.docker.io");
        assert_eq!(c["scope"], "repository:library/busybox:pull");
        assert!(parse_challenge("Basic realm=x").is_none());
    }

    /// One request as the fake registry saw it: its path and `Authorization`.
    type Seen = std::sync::Arc<std::sync::Mutex<Vec<(String, Option<String>)>>>;

    /// A registry on 127.0.0.1 answering each request (path, Authorization)
    /// with `answer`'s (status, WWW-Authenticate, body); one connection per
    /// request, served until the test process ends.
    fn fake_registry(
        answer: impl Fn(&str, Option<&str>, u16) -> (u16, Option<String>, String) + Send + 'static,
    ) -> (String, Seen) {
        use std::io::{BufRead, BufReader};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let seen: Seen = Default::default();
        let log = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                let mut first = String::new();
                let _ = reader.read_line(&mut first);
                let path = first.split(' ').nth(1).unwrap_or_default().to_string();
                let mut authorization = None;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some((k, v)) = line.split_once(':') {
                        if k.eq_ignore_ascii_case("authorization") {
                            authorization = Some(v.trim().to_string());
                        }
                    }
                }
                log.lock()
                    .expect("log")
                    .push((path.clone(), authorization.clone()));
                let (status, challenge, body) = answer(&path, authorization.as_deref(), port);
                let challenge = challenge
                    .map(|c| format!("WWW-Authenticate: {c}\r\n"))
                    .unwrap_or_default();
                let mut stream = stream;
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\n{challenge}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        (format!("http://127.0.0.1:{port}"), seen)
    }

    fn alice() -> AuthConfig {
        AuthConfig {
            username: "alice".into(),
            password: "s3cret".into(),
        }
    }

    const MANIFEST: &str = r#"{"schemaVersion":2}"#;

    #[test]
    fn basic_challenge_is_answered_with_the_credentials() {
        let (base, seen) = fake_registry(|_, auth, _| match auth {
            Some("Basic YWxpY2U6czNjcmV0") => (200, None, MANIFEST.into()),
            _ => (
                401,
                Some(r#"Basic realm="private""#.into()),
                r#"{"errors":[{"code":"UNAUTHORIZED"}]}"#.into(),
            ),
        });
        let ep = Endpoint { base };
        let mut client = Client::with_auth(Some(alice()));
        let got = client.manifest(&ep, "team/app", "v1").expect("pull");
        assert_eq!(got.bytes, MANIFEST.as_bytes());
        // The second request of the pull goes authorized at once.
        client.manifest(&ep, "team/app", "v1").expect("again");
        assert_eq!(seen.lock().expect("seen").len(), 3);

        let err = Client::new()
            .manifest(&ep, "team/app", "v1")
            .expect_err("anonymous");
        assert!(
            matches!(&err, Error::Status { status: 401, body, .. } if body.contains("UNAUTHORIZED")),
            "{err}"
        );
        let wrong = AuthConfig {
            password: "nope".into(),
            ..alice()
        };
        let err = Client::with_auth(Some(wrong))
            .manifest(&ep, "team/app", "v1")
            .expect_err("wrong password");
        assert!(matches!(err, Error::Status { status: 401, .. }), "{err}");
    }

    #[test]
    fn bearer_token_is_requested_with_the_credentials() {
        let (base, seen) = fake_registry(|path, auth, port| {
            if path.starts_with("/token?") {
                // The token server hands a pull token to alice only.
                return match auth {
                    Some("Basic YWxpY2U6czNjcmV0") => (200, None, r#"{"token":"t-alice"}"#.into()),
                    _ => (401, None, "{}".into()),
                };
            }
            match auth {
                Some("Bearer t-alice") => (200, None, MANIFEST.into()),
                _ => (
                    401,
                    Some(format!(
                        r#"Bearer realm="http://127.0.0.1:{port}/token",service="fake",scope="repository:team/app:pull""#
                    )),
                    "{}".into(),
                ),
            }
        });
        let ep = Endpoint { base };
        let got = Client::with_auth(Some(alice()))
            .manifest(&ep, "team/app", "v1")
            .expect("pull");
        assert_eq!(got.bytes, MANIFEST.as_bytes());
        let seen = seen.lock().expect("seen").clone();
        assert_eq!(seen.len(), 3, "{seen:?}");
        assert_eq!(
            seen[1].0,
            "/token?scope=repository%3Ateam%2Fapp%3Apull&service=fake"
        );
        assert_eq!(seen[2].1.as_deref(), Some("Bearer t-alice"));

        // Anonymously the token server refuses, and so does the pull.
        let err = Client::new()
            .manifest(&ep, "team/app", "v1")
            .expect_err("anonymous");
        assert!(matches!(err, Error::Token { .. }), "{err}");
    }

    #[test]
    fn credentials_never_show_in_debug_output() {
        let shown = format!("{:?}", alice());
        assert!(
            shown.contains("alice") && !shown.contains("s3cret"),
            "{shown}"
        );
    }

    #[test]
    fn digest_of_bytes() {
        assert_eq!(
            sha256_digest(b""),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
