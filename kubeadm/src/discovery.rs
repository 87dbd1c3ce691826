//! Token discovery: how a joining node finds and trusts the cluster with
//! nothing but an endpoint, a bootstrap token and the CA's hash.
//!
//! The `cluster-info` ConfigMap in `kube-public` (readable by anyone) holds
//! a kubeconfig with the cluster's server and CA (`kubeconfig`), and, for
//! each valid token with the `signing` usage, the controller-manager's
//! bootstrapsigner adds `jws-kubeconfig-<token id>`: a detached JWS (HS256
//! keyed with the token's secret) of that kubeconfig. The node:
//!
//! 1. fetches `cluster-info` without checking the server's certificate;
//! 2. checks the JWS with its token: only someone who knows the token
//!    could have signed this kubeconfig;
//! 3. hashes the CA's SubjectPublicKeyInfo and compares it with
//!    `--discovery-token-ca-cert-hash sha256:<hex>`: the CA is the one the
//!    admin saw on the control plane;
//! 4. fetches `cluster-info` again, now trusting that CA only, and checks
//!    it is the same.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::Api;
use serde_json::json;

use crate::bootstraptoken::Token;
use crate::{apiclient, kubeconfig, pki};

/// The ConfigMap's namespace and name.
pub const NAMESPACE: &str = "kube-public";
/// The ConfigMap's name.
pub const CLUSTER_INFO: &str = "cluster-info";
/// The key holding the kubeconfig.
pub const KUBECONFIG_KEY: &str = "kubeconfig";
/// The prefix of the signature keys.
pub const JWS_KEY_PREFIX: &str = "jws-kubeconfig-";

/// Why discovery refused the cluster.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The endpoint did not answer with `cluster-info`.
    #[error("failed to request the cluster-info ConfigMap from {endpoint}: {source}")]
    Fetch {
        /// The endpoint.
        endpoint: String,
        /// Why.
        #[source]
        source: kube::Error,
    },
    /// `cluster-info` has no kubeconfig.
    #[error("there is no {KUBECONFIG_KEY:?} key in the {CLUSTER_INFO} ConfigMap")]
    NoKubeconfig,
    /// No signature for this token: unknown, expired or not for signing.
    #[error("token id {0:?} is invalid for this cluster or it has expired. Use \"kubeadm token create\" on the control-plane node to create a new valid token")]
    NoSignature(String),
    /// The signature does not match: the answer was not signed with this
    /// token.
    #[error("failed to verify JWS signature of received cluster info object, can't trust this API Server")]
    BadSignature,
    /// The CA is not the pinned one.
    #[error("cluster CA found in cluster-info ConfigMap is invalid: none of the public keys {found:?} are pinned")]
    NotPinned {
        /// The hash of the CA the cluster showed.
        found: String,
    },
    /// A pin is not `sha256:<64 hex>`.
    #[error("invalid --discovery-token-ca-cert-hash {0:?}: expected \"sha256:\" and 64 hexadecimal characters")]
    BadPin(String),
    /// Neither a pin nor `--discovery-token-unsafe-skip-ca-verification`.
    #[error("none of --discovery-token-ca-cert-hash or --discovery-token-unsafe-skip-ca-verification were given: the cluster CA cannot be trusted")]
    NoPin,
    /// The kubeconfig inside is not usable.
    #[error(transparent)]
    Kubeconfig(#[from] kubeconfig::Error),
    /// The second, verified fetch showed something else.
    #[error("cluster-info changed between the unverified and the verified fetch; refusing it")]
    Changed,
    /// Building a client failed.
    #[error(transparent)]
    Client(#[from] apiclient::Error),
}

/// Shorthand.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// `sha256:<hex>` of the SubjectPublicKeyInfo of the first certificate in
/// `ca_pem` (what `--discovery-token-ca-cert-hash` pins).
pub fn ca_cert_hash(ca_pem: &str) -> Option<String> {
    let facts = pki::facts(&pki::first_der(ca_pem)?)?;
    let digest = ring::digest::digest(&ring::digest::SHA256, &facts.spki_der);
    Some(format!("sha256:{}", hex(digest.as_ref())))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn header(token_id: &str) -> String {
    // The JSON go-jose writes: keys in order, no spaces.
    B64URL.encode(json!({"alg": "HS256", "kid": token_id}).to_string())
}

fn key(token: &Token) -> ring::hmac::Key {
    ring::hmac::Key::new(ring::hmac::HMAC_SHA256, token.secret.as_bytes())
}

/// The detached JWS of `content` with `token` (`<header>..<signature>`),
/// what the bootstrapsigner writes as `jws-kubeconfig-<id>`.
pub fn sign(content: &str, token: &Token) -> String {
    let header = header(&token.id);
    let input = format!("{header}.{}", B64URL.encode(content));
    let tag = ring::hmac::sign(&key(token), input.as_bytes());
    format!("{header}..{}", B64URL.encode(tag.as_ref()))
}

/// Whether `detached` is a valid detached JWS of `content` by `token`:
/// HS256, the token's id as `kid`, and an HMAC made with its secret.
pub fn verify(detached: &str, content: &str, token: &Token) -> bool {
    let mut parts = detached.split('.');
    let (Some(h), Some(""), Some(sig), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let Ok(header) = B64URL.decode(h) else {
        return false;
    };
    let Ok(header) = serde_json::from_slice::<serde_json::Value>(&header) else {
        return false;
    };
    if header["alg"] != "HS256" || header["kid"] != token.id.as_str() {
        return false;
    }
    let Ok(sig) = B64URL.decode(sig) else {
        return false;
    };
    let input = format!("{h}.{}", B64URL.encode(content));
    ring::hmac::verify(&key(token), input.as_bytes(), &sig).is_ok()
}

/// Checks a pin's shape.
pub fn check_pin(pin: &str) -> Result<()> {
    match pin.strip_prefix("sha256:") {
        Some(h) if h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()) => Ok(()),
        _ => Err(Error::BadPin(pin.into())),
    }
}

/// What discovery found: the cluster's server and its CA.
#[derive(Debug, Clone)]
pub struct ClusterInfo {
    /// The server in `cluster-info` (the control-plane endpoint).
    pub server: String,
    /// The CA, PEM.
    pub ca_pem: String,
}

/// Checks a fetched `cluster-info`'s data with `token` and `pins` (steps 2
/// and 3 of the module docs).
pub fn validate(
    data: &std::collections::BTreeMap<String, String>,
    token: &Token,
    pins: &[String],
    skip_ca_verification: bool,
) -> Result<ClusterInfo> {
    let content = data.get(KUBECONFIG_KEY).ok_or(Error::NoKubeconfig)?;
    let detached = data
        .get(&format!("{JWS_KEY_PREFIX}{}", token.id))
        .ok_or_else(|| Error::NoSignature(token.id.clone()))?;
    if !verify(detached, content, token) {
        return Err(Error::BadSignature);
    }
    let parsed = kubeconfig::parse(content, "cluster-info")?;
    if !skip_ca_verification {
        if pins.is_empty() {
            return Err(Error::NoPin);
        }
        let found = ca_cert_hash(&parsed.ca_pem).unwrap_or_default();
        if !pins.iter().any(|p| p.eq_ignore_ascii_case(&found)) {
            return Err(Error::NotPinned { found });
        }
    }
    Ok(ClusterInfo {
        server: parsed.server,
        ca_pem: parsed.ca_pem,
    })
}

async fn fetch(
    endpoint: &str,
    ca_pem: Option<&str>,
) -> Result<std::collections::BTreeMap<String, String>> {
    let server = format!("https://{endpoint}");
    let client = apiclient::anonymous(&server, ca_pem)?;
    let api: Api<ConfigMap> = Api::namespaced(client, NAMESPACE);
    let cm = api.get(CLUSTER_INFO).await.map_err(|source| Error::Fetch {
        endpoint: endpoint.into(),
        source,
    })?;
    Ok(cm.data.unwrap_or_default())
}

/// Discovers the cluster at `endpoint` (`host:port`) as the module docs
/// say. Connection failures, and a `cluster-info` not yet signed for this
/// token (the bootstrapsigner signs shortly after the token is made), are
/// retried until `timeout`, as upstream's join does; any other refusal is
/// final.
pub async fn discover(
    endpoint: &str,
    token: &Token,
    pins: &[String],
    skip_ca_verification: bool,
    timeout: std::time::Duration,
) -> Result<ClusterInfo> {
    for pin in pins {
        check_pin(pin)?;
    }
    let start = std::time::Instant::now();
    let (data, info) = loop {
        let attempt = fetch(endpoint, None)
            .await
            .and_then(|data| validate(&data, token, pins, skip_ca_verification).map(|i| (data, i)));
        match attempt {
            Ok(found) => break found,
            Err(e) if start.elapsed() > timeout => return Err(e),
            Err(Error::Fetch { .. } | Error::NoSignature(_)) => {
                tokio::time::sleep(std::time::Duration::from_millis(500)).await
            }
            Err(e) => return Err(e),
        }
    };
    let again = fetch(endpoint, Some(&info.ca_pem)).await?;
    if again.get(KUBECONFIG_KEY) != data.get(KUBECONFIG_KEY) {
        return Err(Error::Changed);
    }
    Ok(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token() -> Token {
        Token::parse("abcdef.0123456789abcdef").unwrap()
    }

    #[test]
    fn a_signature_verifies_only_with_its_token_and_content() {
        let sig = sign("hello", &token());
        assert!(sig.contains(".."), "detached: {sig}");
        assert!(verify(&sig, "hello", &token()));
        assert!(!verify(&sig, "hello!", &token()));
        let other = Token::parse("abcdef.0123456789abcdeg").unwrap();
        assert!(!verify(&sig, "hello", &other));
        let other_id = Token::parse("bbcdef.0123456789abcdef").unwrap();
        assert!(!verify(&sig, "hello", &other_id));
        assert!(!verify("garbage", "hello", &token()));
    }

    #[test]
    fn the_header_is_what_go_jose_writes() {
        let sig = sign("x", &token());
        let h = sig.split('.').next().unwrap();
        assert_eq!(
            B64URL.decode(h).unwrap(),
            br#"{"alg":"HS256","kid":"abcdef"}"#
        );
    }

    /// A JWS made without our code (openssl's HMAC over RFC 7515's signing
    /// input `<b64 header>.<b64 payload>`) verifies, and ours is the same.
    #[test]
    fn verifies_a_signature_made_independently() {
        let h = B64URL.encode(br#"{"alg":"HS256","kid":"abcdef"}"#);
        let input = format!("{h}.{}", B64URL.encode("kubeconfig"));
        let out = std::process::Command::new("openssl")
            .args(["dgst", "-sha256", "-hmac", "0123456789abcdef", "-binary"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn();
        let Ok(mut child) = out else { return };
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        let mac = child.wait_with_output().unwrap().stdout;
        let detached = format!("{h}..{}", B64URL.encode(mac));
        assert!(verify(&detached, "kubeconfig", &token()));
        assert_eq!(detached, sign("kubeconfig", &token()));
    }

    fn cluster_info(ca_pem: &str) -> std::collections::BTreeMap<String, String> {
        let content = kubeconfig::render("https://10.0.0.1:6443", ca_pem, None);
        let mut data = std::collections::BTreeMap::new();
        data.insert(format!("{JWS_KEY_PREFIX}abcdef"), sign(&content, &token()));
        data.insert(KUBECONFIG_KEY.into(), content);
        data
    }

    #[test]
    fn validation_pins_the_ca_by_its_public_key_hash() {
        let (ca, _) = pki::Ca::generate(pki::Authority::Cluster).unwrap();
        let pin = ca_cert_hash(&ca.cert_pem).unwrap();
        assert!(check_pin(&pin).is_ok());
        let data = cluster_info(&ca.cert_pem);
        let info = validate(&data, &token(), std::slice::from_ref(&pin), false).unwrap();
        assert_eq!(info.server, "https://10.0.0.1:6443");
        let wrong = format!("sha256:{}", "0".repeat(64));
        let err = validate(&data, &token(), &[wrong], false).unwrap_err();
        assert!(
            matches!(err, Error::NotPinned { ref found } if *found == pin),
            "{err}"
        );
        assert!(err.to_string().contains("none of the public keys"));
        assert!(matches!(
            validate(&data, &token(), &[], false),
            Err(Error::NoPin)
        ));
        assert!(validate(&data, &token(), &[], true).is_ok());
    }

    #[test]
    fn validation_refuses_missing_and_forged_signatures() {
        let (ca, _) = pki::Ca::generate(pki::Authority::Cluster).unwrap();
        let pin = ca_cert_hash(&ca.cert_pem).unwrap();
        let mut data = cluster_info(&ca.cert_pem);
        let other = Token::parse("zzzzzz.0123456789abcdef").unwrap();
        assert!(matches!(
            validate(&data, &other, std::slice::from_ref(&pin), false),
            Err(Error::NoSignature(id)) if id == "zzzzzz"
        ));
        // An attacker in the middle swaps the CA but cannot re-sign.
        let (evil, _) = pki::Ca::generate(pki::Authority::Cluster).unwrap();
        data.insert(
            KUBECONFIG_KEY.into(),
            kubeconfig::render("https://10.0.0.1:6443", &evil.cert_pem, None),
        );
        assert!(matches!(
            validate(&data, &token(), &[pin], true),
            Err(Error::BadSignature)
        ));
    }

    #[test]
    fn the_hash_matches_openssls() {
        let dir = tempfile::tempdir().unwrap();
        let (ca, _) = pki::Ca::generate(pki::Authority::Cluster).unwrap();
        let path = dir.path().join("ca.crt");
        std::fs::write(&path, &ca.cert_pem).unwrap();
        // Upstream's documented recipe for the hash.
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "openssl x509 -pubkey -in {} | openssl pkey -pubin -outform der | openssl dgst -sha256 -hex | sed 's/^.* //'",
                path.display()
            ))
            .output();
        let Ok(out) = out else { return };
        let expected = String::from_utf8_lossy(&out.stdout).trim().to_string();
        assert_eq!(
            ca_cert_hash(&ca.cert_pem).unwrap(),
            format!("sha256:{expected}")
        );
    }
}
