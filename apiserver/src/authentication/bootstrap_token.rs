//! Bootstrap tokens (`--enable-bootstrap-token-auth`): `<id>.<secret>`
//! tokens kept as Secrets of type `bootstrap.kubernetes.io/token` named
//! `bootstrap-token-<id>` in `kube-system`, what `kubeadm join` presents
//! before a node has a certificate.
//!
//! A token is good while its Secret exists, is not being deleted, allows
//! authentication (`usage-bootstrap-authentication: "true"`), holds the same
//! secret and has not passed its `expiration`. The user is
//! `system:bootstrap:<id>` in `system:bootstrappers` plus the Secret's
//! `auth-extra-groups` (each must start with `system:bootstrappers:`).

use base64::Engine;
use serde_json::Value;

use super::UserInfo;
use crate::ApiServer;

/// The Secret type of bootstrap tokens.
pub const SECRET_TYPE: &str = "bootstrap.kubernetes.io/token";
/// The group every bootstrap token user is in.
pub const BOOTSTRAPPERS: &str = "system:bootstrappers";

/// A token of the bootstrap shape: 6 and 16 characters of `[a-z0-9]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootstrapToken {
    /// The public id (the Secret's name suffix).
    pub id: String,
    /// The secret part.
    pub secret: String,
}

/// Splits a token of the bootstrap shape; `None` for any other token.
pub fn parse(token: &str) -> Option<BootstrapToken> {
    let (id, secret) = token.split_once('.')?;
    let ok = |s: &str, len: usize| {
        s.len() == len
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    };
    (ok(id, 6) && ok(secret, 16)).then(|| BootstrapToken {
        id: id.into(),
        secret: secret.into(),
    })
}

/// Checks a bootstrap token against its Secret.
pub async fn authenticate(server: &ApiServer, token: &BootstrapToken) -> Result<UserInfo, String> {
    let key = server.store.key(
        "secrets",
        Some("kube-system"),
        &format!("bootstrap-token-{}", token.id),
    );
    let secret = match server.store.get(&key).await {
        Ok(Some(s)) => s.object,
        Ok(None) => return Err(format!("no bootstrap token with id {:?}", token.id)),
        Err(e) => return Err(format!("reading the bootstrap token: {e}")),
    };
    check(&secret, token, chrono::Utc::now())
}

/// The user of `token` if `secret` is a valid bootstrap token Secret for it
/// at `now`.
pub fn check(
    secret: &Value,
    token: &BootstrapToken,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<UserInfo, String> {
    if secret.get("type").and_then(Value::as_str) != Some(SECRET_TYPE) {
        return Err("the token's Secret is not of type bootstrap.kubernetes.io/token".into());
    }
    if secret.pointer("/metadata/deletionTimestamp").is_some() {
        return Err("the bootstrap token is being deleted".into());
    }
    let field = |name: &str| data_field(secret, name);
    if field("token-id").as_deref() != Some(token.id.as_str()) {
        return Err("the Secret's token-id does not match".into());
    }
    if field("token-secret").as_deref() != Some(token.secret.as_str()) {
        return Err("the bootstrap token's secret does not match".into());
    }
    if field("usage-bootstrap-authentication").as_deref() != Some("true") {
        return Err("the bootstrap token may not be used for authentication".into());
    }
    if let Some(expiration) = field("expiration") {
        let at = chrono::DateTime::parse_from_rfc3339(&expiration).map_err(|_| {
            format!("the bootstrap token's expiration {expiration:?} is unreadable")
        })?;
        if at <= now {
            return Err(format!("the bootstrap token expired at {expiration}"));
        }
    }
    let mut groups = vec![BOOTSTRAPPERS.to_string()];
    if let Some(extra) = field("auth-extra-groups") {
        for g in extra.split(',').map(str::trim).filter(|g| !g.is_empty()) {
            if !g.starts_with("system:bootstrappers:") {
                return Err(format!(
                    "auth-extra-groups {g:?} does not start with system:bootstrappers:"
                ));
            }
            if !groups.iter().any(|x| x == g) {
                groups.push(g.to_string());
            }
        }
    }
    Ok(UserInfo {
        username: format!("system:bootstrap:{}", token.id),
        groups,
        ..Default::default()
    })
}

/// A field of a Secret's `data` (base64), or of `stringData`.
fn data_field(secret: &Value, name: &str) -> Option<String> {
    if let Some(b64) = secret
        .pointer(&format!("/data/{name}"))
        .and_then(Value::as_str)
    {
        let bytes = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
        return String::from_utf8(bytes).ok();
    }
    secret
        .pointer(&format!("/stringData/{name}"))
        .and_then(Value::as_str)
        .map(String::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    fn secret(expiration: &str) -> Value {
        json!({
            "type": SECRET_TYPE,
            "metadata": {"name": "bootstrap-token-abcdef", "namespace": "kube-system"},
            "data": {
                "token-id": b64("abcdef"),
                "token-secret": b64("0123456789abcdef"),
                "usage-bootstrap-authentication": b64("true"),
                "expiration": b64(expiration),
                "auth-extra-groups": b64("system:bootstrappers:kubeadm:default-node-token"),
            }
        })
    }

    #[test]
    fn only_the_bootstrap_shape_parses() {
        assert!(parse("abcdef.0123456789abcdef").is_some());
        assert!(parse("ABCDEF.0123456789abcdef").is_none());
        assert!(parse("abcdef.0123456789abcde").is_none());
        assert!(parse("eyJhbGciOi.x.y").is_none());
    }

    #[test]
    fn a_valid_token_names_its_user_and_groups() {
        let token = parse("abcdef.0123456789abcdef").expect("token");
        let now = chrono::Utc::now();
        let later = (now + chrono::Duration::hours(1)).to_rfc3339();
        let user = check(&secret(&later), &token, now).expect("valid");
        assert_eq!(user.username, "system:bootstrap:abcdef");
        assert_eq!(
            user.groups,
            vec![
                "system:bootstrappers",
                "system:bootstrappers:kubeadm:default-node-token"
            ]
        );
    }

    #[test]
    fn expired_wrong_or_unusable_tokens_are_refused() {
        let now = chrono::Utc::now();
        let later = (now + chrono::Duration::hours(1)).to_rfc3339();
        let earlier = (now - chrono::Duration::seconds(1)).to_rfc3339();
        let token = parse("abcdef.0123456789abcdef").expect("token");
        assert!(check(&secret(&earlier), &token, now)
            .unwrap_err()
            .contains("expired"));
        let wrong = parse("abcdef.ffffffffffffffff").expect("token");
        assert!(check(&secret(&later), &wrong, now).is_err());
        let mut s = secret(&later);
        s["data"]["usage-bootstrap-authentication"] = json!(b64("false"));
        assert!(check(&s, &token, now).is_err());
        let mut s = secret(&later);
        s["type"] = json!("Opaque");
        assert!(check(&s, &token, now).is_err());
    }
}
