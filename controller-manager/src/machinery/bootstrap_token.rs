//! Bootstrap token Secrets as the controllers read them (upstream's
//! `k8s.io/cluster-bootstrap/token`): Secrets of type
//! `bootstrap.kubernetes.io/token` named `bootstrap-token-<id>` in
//! `kube-system`, holding `token-id`, `token-secret`, an optional RFC 3339
//! `expiration` and `usage-bootstrap-*` flags. The apiserver authenticates
//! with them; the bootstrap signer signs `cluster-info` with them; the token
//! cleaner deletes them once expired.

use k8s_openapi::api::core::v1::Secret;

/// Where bootstrap token Secrets live.
pub const NAMESPACE: &str = "kube-system";
/// Their type.
pub const SECRET_TYPE: &str = "bootstrap.kubernetes.io/token";
/// Their name prefix.
pub const NAME_PREFIX: &str = "bootstrap-token-";

/// A bootstrap token read from its Secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// The public id (6 characters).
    pub id: String,
    /// The secret part (16 characters).
    pub secret: String,
    /// `expiration`, when set and readable.
    pub expiration: Option<chrono::DateTime<chrono::Utc>>,
    /// `usage-bootstrap-signing: "true"`.
    pub signing: bool,
}

fn field(secret: &Secret, key: &str) -> Option<String> {
    if let Some(v) = secret.data.as_ref().and_then(|d| d.get(key)) {
        return String::from_utf8(v.0.clone()).ok();
    }
    secret
        .string_data
        .as_ref()
        .and_then(|d| d.get(key))
        .cloned()
}

/// The token of a bootstrap token Secret; `None` for any other Secret or
/// one whose id does not match its name (upstream ignores those).
pub fn parse(secret: &Secret) -> Option<Token> {
    if secret.type_.as_deref() != Some(SECRET_TYPE) {
        return None;
    }
    let name = secret.metadata.name.as_deref()?;
    let id = field(secret, "token-id")?;
    if name != format!("{NAME_PREFIX}{id}") {
        return None;
    }
    let secret_part = field(secret, "token-secret")?;
    let expiration = field(secret, "expiration").and_then(|e| {
        chrono::DateTime::parse_from_rfc3339(&e)
            .ok()
            .map(|t| t.with_timezone(&chrono::Utc))
    });
    let signing = field(secret, "usage-bootstrap-signing").as_deref() == Some("true");
    Some(Token {
        id,
        secret: secret_part,
        expiration,
        signing,
    })
}

/// Whether the Secret has an `expiration` that is not readable (upstream
/// treats it as expired).
pub fn has_bad_expiration(secret: &Secret) -> bool {
    field(secret, "expiration").is_some_and(|e| chrono::DateTime::parse_from_rfc3339(&e).is_err())
}

impl Token {
    /// Whether it has expired at `now`.
    pub fn expired(&self, now: chrono::DateTime<chrono::Utc>) -> bool {
        self.expiration.is_some_and(|e| e <= now)
    }
}
