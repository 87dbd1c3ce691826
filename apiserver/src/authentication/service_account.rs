//! ServiceAccount tokens: JWTs the apiserver signs with
//! `--service-account-signing-key-file` (through TokenRequest,
//! [`super::token_request`]) and checks with `--service-account-key-file`,
//! for `--service-account-issuer` and the API audiences.
//!
//! A token names its ServiceAccount (`sub:
//! system:serviceaccount:<ns>:<name>` and the `kubernetes.io` claim with the
//! account's uid) and, when bound, the Pod it was made for. It is good while
//! its signature, issuer, audience and expiry check out *and* the account
//! (and the bound pod, same uid) still exist: deleting the pod revokes its
//! tokens. The user is the account in `system:serviceaccounts` and
//! `system:serviceaccounts:<ns>`.
//!
//! Keys are ECDSA P-256 (ES256) or RSA (RS256), PEM (PKCS#8 private keys,
//! SPKI public keys). `alg: none` and HMAC tokens are refused: only the
//! algorithms of the configured keys are accepted.

use std::path::{Path, PathBuf};

use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::Digest;

use super::passed::{self, Passed};
use super::UserInfo;
use crate::ApiServer;

/// The issuer when `--service-account-issuer` is not given.
pub const DEFAULT_ISSUER: &str = "https://kubernetes.default.svc.cluster.local";
/// The group of every ServiceAccount.
pub const SERVICE_ACCOUNTS: &str = "system:serviceaccounts";

/// The command line's ServiceAccount token flags.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `--service-account-signing-key-file`: the private key tokens are
    /// signed with (TokenRequest is served only with one).
    pub signing_key_file: Option<PathBuf>,
    /// `--service-account-key-file` (repeatable): keys tokens are checked
    /// with; the signing key's public half is always among them.
    pub key_files: Vec<PathBuf>,
    /// `--service-account-issuer` (repeatable): the first is written into
    /// new tokens, any is accepted.
    pub issuers: Vec<String>,
    /// `--api-audiences`: what a token must be for to authenticate a request
    /// (default: the issuers).
    pub api_audiences: Vec<String>,
    /// `--service-account-jwks-uri`: where the issuer discovery document
    /// says the keys are (default: this server's `/openid/v1/jwks` at its
    /// advertised address).
    pub jwks_uri: Option<String>,
}

/// Why the keys cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A key file cannot be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A key file holds no key we can use.
    #[error("{path}: {message}")]
    BadKey {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// A token's claims: the registered ones and upstream's private
/// `kubernetes.io` claim.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// Issuer.
    pub iss: String,
    /// `system:serviceaccount:<ns>:<name>`.
    pub sub: String,
    /// Audiences.
    pub aud: Vec<String>,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
    /// Issued at.
    pub iat: i64,
    /// Not before.
    pub nbf: i64,
    /// Unique id of the token.
    #[serde(default)]
    pub jti: String,
    /// What the token is bound to.
    #[serde(rename = "kubernetes.io")]
    pub kubernetes: KubernetesClaims,
}

/// The `kubernetes.io` claim.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KubernetesClaims {
    /// The account's namespace.
    pub namespace: String,
    /// The account.
    pub serviceaccount: ObjectRef,
    /// The Pod the token is bound to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<ObjectRef>,
    /// The Node that Pod ran on when the token was issued (upstream's
    /// `ServiceAccountTokenPodNodeInfo`): lets a relying party tell which
    /// node a workload's token came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<ObjectRef>,
}

/// What a token is bound to: a Pod, and the Node it is on (if scheduled).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoundPod {
    /// The Pod.
    pub pod: ObjectRef,
    /// Its Node.
    pub node: Option<ObjectRef>,
}

/// A name and uid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectRef {
    /// Name.
    pub name: String,
    /// Uid.
    pub uid: String,
}

/// A key tokens are checked with.
struct VerifyingKey {
    algorithm: Algorithm,
    key: DecodingKey,
    /// The key as a JSON Web Key, published by
    /// [`super::issuer_discovery`].
    jwk: Value,
}

/// The signing key.
struct SigningKey {
    algorithm: Algorithm,
    key: EncodingKey,
    kid: String,
}

/// Checks (and, with a signing key, issues) ServiceAccount tokens.
pub struct ServiceAccounts {
    signing: Option<SigningKey>,
    verifying: Vec<VerifyingKey>,
    issuers: Vec<String>,
    api_audiences: Vec<String>,
    jwks_uri: Option<String>,
    /// Tokens whose signature and issuer were checked: their claims. See
    /// [`Self::verify`].
    verified: Passed<std::sync::Arc<Claims>>,
}

/// The clock skew `exp` and `nbf` are checked with (jsonwebtoken's default,
/// and upstream's `jwt.DefaultLeeway`).
const LEEWAY_SECONDS: i64 = 60;

impl std::fmt::Debug for ServiceAccounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceAccounts")
            .field("signing", &self.signing.is_some())
            .field("verifying", &self.verifying.len())
            .field("issuers", &self.issuers)
            .finish()
    }
}

impl ServiceAccounts {
    /// Loads the keys the options name.
    pub fn new(opts: &Options) -> Result<ServiceAccounts, Error> {
        let mut verifying = Vec::new();
        let signing = match &opts.signing_key_file {
            Some(path) => {
                let (signing, public) = load_private(path)?;
                verifying.push(public);
                Some(signing)
            }
            None => None,
        };
        for path in &opts.key_files {
            verifying.extend(load_verifying(path)?);
        }
        let issuers = if opts.issuers.is_empty() {
            vec![DEFAULT_ISSUER.to_string()]
        } else {
            opts.issuers.clone()
        };
        let api_audiences = if opts.api_audiences.is_empty() {
            issuers.clone()
        } else {
            opts.api_audiences.clone()
        };
        Ok(ServiceAccounts {
            signing,
            verifying,
            issuers,
            api_audiences,
            jwks_uri: opts.jwks_uri.clone(),
            verified: Default::default(),
        })
    }

    /// What a token must be for to authenticate a request.
    pub fn api_audiences(&self) -> &[String] {
        &self.api_audiences
    }

    /// The first `--service-account-issuer`: what new tokens name as `iss`.
    pub fn issuer(&self) -> &str {
        &self.issuers[0]
    }

    /// `--service-account-jwks-uri`, if given.
    pub fn jwks_uri(&self) -> Option<&str> {
        self.jwks_uri.as_deref()
    }

    /// The public keys tokens are checked with, as JSON Web Keys.
    pub fn public_jwks(&self) -> impl Iterator<Item = &Value> {
        self.verifying.iter().map(|k| &k.jwk)
    }

    /// Whether tokens can be issued (a signing key is configured).
    pub fn can_issue(&self) -> bool {
        self.signing.is_some()
    }

    /// Signs a token for the account, good for `audiences` until
    /// `expires` (seconds since the epoch), bound to `pod` if given.
    pub fn issue(
        &self,
        namespace: &str,
        account: ObjectRef,
        bound: Option<BoundPod>,
        audiences: Vec<String>,
        now: i64,
        expires: i64,
    ) -> Result<String, String> {
        let signing = self
            .signing
            .as_ref()
            .ok_or("no --service-account-signing-key-file is configured")?;
        let claims = Claims {
            iss: self.issuers[0].clone(),
            sub: format!("system:serviceaccount:{namespace}:{}", account.name),
            aud: audiences,
            exp: expires,
            iat: now,
            nbf: now,
            jti: uuid::Uuid::new_v4().to_string(),
            kubernetes: KubernetesClaims {
                namespace: namespace.into(),
                serviceaccount: account,
                node: bound.as_ref().and_then(|b| b.node.clone()),
                pod: bound.map(|b| b.pod),
            },
        };
        let mut header = Header::new(signing.algorithm);
        header.kid = Some(signing.kid.clone());
        jsonwebtoken::encode(&header, &claims, &signing.key).map_err(|e| e.to_string())
    }

    /// Checks the signature, issuer, expiry and audience of a token; the
    /// claims and the audiences (of `audiences`) it is good for.
    ///
    /// The signature is checked once per token: a controller sends the same
    /// token with every request, and an ECDSA verification was a tenth of
    /// the apiserver's CPU while a hundred pods started. A token seen before
    /// is taken from memory while its times and audiences still pass the
    /// checks below (anything else goes through the full check again, for
    /// its exact error); whether its account and pod still exist is asked
    /// on every request ([`Self::authenticate`]), so revoking stays
    /// immediate, unlike upstream's 10 s cache of whole authentications.
    pub fn verify(
        &self,
        token: &str,
        audiences: &[String],
    ) -> Result<(Claims, Vec<String>), String> {
        let key = passed::digest([token.as_bytes()]);
        let now = passed::now();
        if let Some(claims) = self.verified.get(&key, now) {
            let good_for: Vec<String> = audiences
                .iter()
                .filter(|a| claims.aud.contains(a))
                .cloned()
                .collect();
            let not_before = u64::try_from(claims.nbf.saturating_sub(LEEWAY_SECONDS)).unwrap_or(0);
            if now >= not_before && !good_for.is_empty() {
                return Ok((Claims::clone(&claims), good_for));
            }
        }
        let (claims, good_for) = self.verify_signature(token, audiences)?;
        self.verified.insert(
            key,
            good_until(&claims),
            std::sync::Arc::new(claims.clone()),
        );
        Ok((claims, good_for))
    }

    /// The full check of [`Self::verify`]: signature, issuer, times and
    /// audiences.
    fn verify_signature(
        &self,
        token: &str,
        audiences: &[String],
    ) -> Result<(Claims, Vec<String>), String> {
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| format!("invalid token: {e}"))?;
        let mut last = String::from("no key can check this token");
        for key in self.verifying.iter().filter(|k| k.algorithm == header.alg) {
            let mut validation = Validation::new(key.algorithm);
            validation.set_issuer(&self.issuers);
            validation.set_audience(audiences);
            validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
            validation.validate_nbf = true;
            match jsonwebtoken::decode::<Claims>(token, &key.key, &validation) {
                Ok(data) => {
                    let good_for = audiences
                        .iter()
                        .filter(|a| data.claims.aud.contains(a))
                        .cloned()
                        .collect();
                    return Ok((data.claims, good_for));
                }
                Err(e) => last = format!("invalid token: {e}"),
            }
        }
        Err(last)
    }

    /// Authenticates a token: [`Self::verify`], then the account (and the
    /// bound pod) must still exist with the uids the token names.
    pub async fn authenticate(
        &self,
        server: &ApiServer,
        token: &str,
        audiences: &[String],
    ) -> Result<(UserInfo, Vec<String>), String> {
        let (claims, good_for) = self.verify(token, audiences)?;
        let k = &claims.kubernetes;
        let expected_sub = format!(
            "system:serviceaccount:{}:{}",
            k.namespace, k.serviceaccount.name
        );
        if claims.sub != expected_sub {
            return Err("the token's subject does not match its service account".into());
        }
        let account_uid = current_uid(
            server,
            "serviceaccounts",
            &k.namespace,
            &k.serviceaccount.name,
            &k.serviceaccount.uid,
        )
        .await?;
        match account_uid.as_deref() {
            None => {
                return Err(format!(
                    "service account {}/{} has been deleted",
                    k.namespace, k.serviceaccount.name
                ))
            }
            Some(uid) if !k.serviceaccount.uid.is_empty() && uid != k.serviceaccount.uid => {
                return Err(format!(
                    "service account {}/{} was recreated (uid {uid}, token for {})",
                    k.namespace, k.serviceaccount.name, k.serviceaccount.uid
                ))
            }
            Some(_) => {}
        }
        let mut user = UserInfo {
            username: expected_sub,
            uid: k.serviceaccount.uid.clone(),
            groups: vec![
                SERVICE_ACCOUNTS.into(),
                format!("{SERVICE_ACCOUNTS}:{}", k.namespace),
            ],
            ..Default::default()
        };
        if let Some(pod) = &k.pod {
            let uid = current_uid(server, "pods", &k.namespace, &pod.name, &pod.uid).await?;
            if uid.as_deref() != Some(pod.uid.as_str()) {
                return Err(format!(
                    "the token is bound to pod {}/{} (uid {}), which no longer exists",
                    k.namespace, pod.name, pod.uid
                ));
            }
            user.extra.insert(
                "authentication.kubernetes.io/pod-name".into(),
                vec![pod.name.clone()],
            );
            user.extra.insert(
                "authentication.kubernetes.io/pod-uid".into(),
                vec![pod.uid.clone()],
            );
        }
        if let Some(node) = &k.node {
            user.extra.insert(
                "authentication.kubernetes.io/node-name".into(),
                vec![node.name.clone()],
            );
            user.extra.insert(
                "authentication.kubernetes.io/node-uid".into(),
                vec![node.uid.clone()],
            );
        }
        if !claims.jti.is_empty() {
            user.extra.insert(
                "authentication.kubernetes.io/credential-id".into(),
                vec![format!("JTI={}", claims.jti)],
            );
        }
        Ok((user, good_for))
    }
}

/// Whether a token has the three dot-separated parts of a JWT.
pub fn looks_like_jwt(token: &str) -> bool {
    token.split('.').count() == 3
}

/// The first second (since the epoch) at which a token with these claims
/// has expired, allowing for the clock skew: `exp + leeway` is its last good one.
fn good_until(claims: &Claims) -> u64 {
    u64::try_from(claims.exp.saturating_add(LEEWAY_SECONDS + 1)).unwrap_or(0)
}

/// The uid of the core/v1 object `resource` `ns/name` (`None`: it does
/// not exist), through [`lookup`]: every request a controller makes with its
/// token asks this.
async fn current_uid(
    server: &ApiServer,
    resource: &str,
    ns: &str,
    name: &str,
    expected: &str,
) -> Result<Option<String>, String> {
    let found = lookup(
        server,
        resource,
        ns,
        name,
        Some(expected).filter(|e| !e.is_empty()),
    )
    .await
    .map_err(|e| format!("checking the token's {resource}: {e}"))?;
    Ok(found.and_then(|o| {
        o.pointer("/metadata/uid")
            .and_then(Value::as_str)
            .map(str::to_string)
    }))
}

/// The core/v1 object `resource` `ns/name` a token names or is asked for
/// (`None`: it does not exist). The apiserver's informer answers once it has
/// applied this apiserver's own writes to the resource (so a pod or account
/// deleted through this apiserver refuses its tokens at once, not a watch
/// delay later) when it holds the object with the uid `expected` (when one
/// is given). Anything else (not there yet, another uid) is read from etcd.
pub(super) async fn lookup(
    server: &ApiServer,
    resource: &str,
    ns: &str,
    name: &str,
    expected: Option<&str>,
) -> crate::storage::Result<Option<std::sync::Arc<Value>>> {
    if let Some(info) = apimachinery::resources::find("", "v1", resource) {
        // `get` waits for the informer to catch up with our writes and
        // reads etcd itself when the object is not there.
        match server.informer(info).get(ns, name).await? {
            None => return Ok(None),
            Some(hit) => {
                let uid = hit.object.pointer("/metadata/uid").and_then(Value::as_str);
                if expected.is_none_or(|want| uid == Some(want)) {
                    return Ok(Some(hit.object));
                }
            }
        }
    }
    let key = server
        .store
        .key(resource, Some(ns).filter(|n| !n.is_empty()), name);
    Ok(server
        .store
        .get(&key)
        .await?
        .map(|s| std::sync::Arc::new(s.object)))
}

fn read(path: &Path) -> Result<String, Error> {
    std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn bad(path: &Path, message: impl std::fmt::Display) -> Error {
    Error::BadKey {
        path: path.to_path_buf(),
        message: message.to_string(),
    }
}

/// The algorithm of a key rcgen read.
fn algorithm_of(key: &rcgen::KeyPair) -> Option<Algorithm> {
    let alg = key.algorithm();
    if alg == &rcgen::PKCS_ECDSA_P256_SHA256 {
        Some(Algorithm::ES256)
    } else if alg == &rcgen::PKCS_RSA_SHA256 {
        Some(Algorithm::RS256)
    } else {
        None
    }
}

/// A private key file: the signing key and its public half.
fn load_private(path: &Path) -> Result<(SigningKey, VerifyingKey), Error> {
    let text = read(path)?;
    let pair = rcgen::KeyPair::from_pem(&text)
        .map_err(|e| bad(path, format!("not a PKCS#8 private key: {e}")))?;
    let algorithm =
        algorithm_of(&pair).ok_or_else(|| bad(path, "only ECDSA and RSA keys are supported"))?;
    let key = match algorithm {
        Algorithm::RS256 => EncodingKey::from_rsa_pem(text.as_bytes()),
        _ => EncodingKey::from_ec_pem(text.as_bytes()),
    }
    .map_err(|e| bad(path, e))?;
    use rcgen::PublicKeyData;
    let spki = pair.subject_public_key_info();
    let verifying = verifying_from_spki(path, &spki)?;
    let kid = key_id(&spki);
    Ok((
        SigningKey {
            algorithm,
            key,
            kid,
        },
        verifying,
    ))
}

/// Upstream's key id: the SHA-256 of the public key's DER, base64url.
fn key_id(spki: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(spki))
}

/// A verifying key from the DER of a SubjectPublicKeyInfo: a P-256 or RSA
/// key, with its JSON Web Key form (RFC 7517/7518).
fn verifying_from_spki(path: &Path, spki: &[u8]) -> Result<VerifyingKey, Error> {
    use x509_parser::prelude::FromDer;
    use x509_parser::public_key::PublicKey;
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let (_, info) = x509_parser::x509::SubjectPublicKeyInfo::from_der(spki)
        .map_err(|e| bad(path, format!("not a public key: {e}")))?;
    let kid = key_id(spki);
    match info.parsed() {
        Ok(PublicKey::RSA(rsa)) => {
            let key = DecodingKey::from_rsa_raw_components(rsa.modulus, rsa.exponent);
            let trim = |b: &[u8]| b64(&b[b.iter().take_while(|&&x| x == 0).count()..]);
            Ok(VerifyingKey {
                algorithm: Algorithm::RS256,
                key,
                jwk: serde_json::json!({
                    "use": "sig", "kty": "RSA", "kid": kid, "alg": "RS256",
                    "n": trim(rsa.modulus), "e": trim(rsa.exponent),
                }),
            })
        }
        Ok(PublicKey::EC(point)) => {
            // Only P-256 (ES256): its uncompressed point is 0x04 || x || y.
            let data = point.data();
            if info
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                != Some(x509_parser::oid_registry::OID_EC_P256)
                || data.len() != 65
                || data[0] != 4
            {
                return Err(bad(path, "only P-256 ECDSA keys are supported"));
            }
            let key = DecodingKey::from_ec_components(&b64(&data[1..33]), &b64(&data[33..]))
                .map_err(|e| bad(path, e))?;
            Ok(VerifyingKey {
                algorithm: Algorithm::ES256,
                key,
                jwk: serde_json::json!({
                    "use": "sig", "kty": "EC", "kid": kid, "crv": "P-256", "alg": "ES256",
                    "x": b64(&data[1..33]), "y": b64(&data[33..]),
                }),
            })
        }
        _ => Err(bad(path, "not an ECDSA or RSA public key")),
    }
}

/// The public keys of a PEM text (`PUBLIC KEY` blocks).
fn verifying_from_public(path: &Path, text: &str) -> Result<Vec<VerifyingKey>, Error> {
    let mut keys = Vec::new();
    for pem in x509_parser::pem::Pem::iter_from_buffer(text.as_bytes()) {
        let pem = pem.map_err(|e| bad(path, format!("not PEM: {e}")))?;
        if pem.label == "PUBLIC KEY" {
            keys.push(verifying_from_spki(path, &pem.contents)?);
        }
    }
    if keys.is_empty() {
        return Err(bad(path, "holds no PUBLIC KEY block"));
    }
    Ok(keys)
}

/// A verifying key file: public keys, or private keys (their public half).
fn load_verifying(path: &Path) -> Result<Vec<VerifyingKey>, Error> {
    let text = read(path)?;
    if text.contains("PRIVATE KEY") {
        return Ok(vec![load_private(path)?.1]);
    }
    verifying_from_public(path, &text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(dir: &Path, name: &str) -> PathBuf {
        let key = rcgen::KeyPair::generate().expect("key");
        let path = dir.join(name);
        std::fs::write(&path, key.serialize_pem()).expect("write");
        path
    }

    fn accounts(signing: &Path, verifying: &[PathBuf]) -> ServiceAccounts {
        ServiceAccounts::new(&Options {
            signing_key_file: Some(signing.to_path_buf()),
            key_files: verifying.to_vec(),
            ..Options::default()
        })
        .expect("keys load")
    }

    fn robot() -> ObjectRef {
        ObjectRef {
            name: "robot".into(),
            uid: "u-1".into(),
        }
    }

    fn now() -> i64 {
        chrono::Utc::now().timestamp()
    }

    /// Accounts with a new key, their API audiences, and a token of `dev/robot`
    /// for them, good for ten minutes.
    fn issued_for_ten_minutes() -> (tempfile::TempDir, ServiceAccounts, Vec<String>, String) {
        let dir = tempfile::tempdir().expect("dir");
        let sa = accounts(&keys(dir.path(), "sa.key"), &[]);
        let aud = sa.api_audiences().to_vec();
        let token = sa
            .issue("dev", robot(), None, aud.clone(), now(), now() + 600)
            .expect("issued");
        (dir, sa, aud, token)
    }

    #[test]
    fn issued_tokens_verify_for_their_audience() {
        let (_dir, sa, aud, token) = issued_for_ten_minutes();
        let (claims, good_for) = sa.verify(&token, &aud).expect("valid");
        assert_eq!(claims.sub, "system:serviceaccount:dev:robot");
        assert_eq!(claims.kubernetes.serviceaccount, robot());
        assert_eq!(good_for, aud);
        // Another audience's verifier refuses it.
        assert!(sa.verify(&token, &["vault".to_string()]).is_err());
    }

    #[test]
    fn a_token_is_checked_once_while_its_times_and_audiences_hold() {
        let (_dir, sa, aud, token) = issued_for_ten_minutes();
        sa.verify(&token, &aud).expect("valid");
        let key = passed::digest([token.as_bytes()]);
        // What the first check found is what later ones answer (a marked
        // copy shows it was not decoded again) ...
        let mark = |sub: &str, exp: i64| {
            let found = sa.verified.get(&key, passed::now());
            let mut marked = Claims::clone(&found.expect("remembered"));
            marked.sub = sub.into();
            marked.exp = exp;
            sa.verified
                .insert(key, good_until(&marked), std::sync::Arc::new(marked));
        };
        mark("remembered", now() + 600);
        assert_eq!(sa.verify(&token, &aud).expect("valid").0.sub, "remembered");
        // ... while the remembered claims pass; past their expiry (or for
        // an audience they do not name) the token is checked in full.
        mark("remembered", now() - 2 * LEEWAY_SECONDS);
        assert_eq!(
            sa.verify(&token, &aud).expect("valid").0.sub,
            "system:serviceaccount:dev:robot"
        );
        assert!(sa.verify(&token, &["vault".to_string()]).is_err());
    }

    #[test]
    fn expired_foreign_garbled_and_unsigned_tokens_are_refused() {
        let dir = tempfile::tempdir().expect("dir");
        let sa = accounts(&keys(dir.path(), "sa.key"), &[]);
        let aud = sa.api_audiences().to_vec();
        let expired = sa
            .issue(
                "dev",
                robot(),
                None,
                aud.clone(),
                now() - 7200,
                now() - 3600,
            )
            .expect("issued");
        assert!(sa.verify(&expired, &aud).unwrap_err().contains("Expired"));
        // Signed by a key the server does not know.
        let other = accounts(&keys(dir.path(), "other.key"), &[]);
        let foreign = other
            .issue("dev", robot(), None, aud.clone(), now(), now() + 600)
            .expect("issued");
        assert!(sa.verify(&foreign, &aud).is_err());
        // The same claims with `alg: none` and no signature.
        let payload = foreign.split('.').nth(1).expect("payload");
        let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(r#"{"alg":"none","typ":"JWT"}"#);
        assert!(sa.verify(&format!("{header}.{payload}."), &aud).is_err());
        // A tampered payload breaks the signature.
        let parts: Vec<&str> = foreign.split('.').collect();
        let mine_token = sa
            .issue("dev", robot(), None, aud.clone(), now(), now() + 600)
            .expect("issued");
        let mine: Vec<&str> = mine_token.split('.').collect();
        assert!(sa
            .verify(&format!("{}.{}.{}", mine[0], parts[1], mine[2]), &aud)
            .is_err());
        for garbage in ["a.b.c", "..", "x", "ey.ey.ey"] {
            assert!(sa.verify(garbage, &aud).is_err(), "{garbage}");
        }
    }

    #[test]
    fn a_key_file_may_hold_the_public_or_the_private_half() {
        let dir = tempfile::tempdir().expect("dir");
        let signing = keys(dir.path(), "sa.key");
        let public = dir.path().join("sa.pub");
        let pair = rcgen::KeyPair::from_pem(&std::fs::read_to_string(&signing).expect("read"))
            .expect("parse");
        std::fs::write(&public, pair.public_key_pem()).expect("write");
        let issuer = accounts(&signing, &[]);
        let aud = issuer.api_audiences().to_vec();
        let token = issuer
            .issue("dev", robot(), None, aud.clone(), now(), now() + 600)
            .expect("issued");
        for file in [public, signing] {
            let checker = ServiceAccounts::new(&Options {
                key_files: vec![file],
                ..Options::default()
            })
            .expect("keys load");
            assert!(!checker.can_issue());
            assert!(checker.verify(&token, &aud).is_ok());
        }
        let bad = dir.path().join("bad.pem");
        std::fs::write(
            &bad,
            "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
        )
        .expect("write");
        assert!(ServiceAccounts::new(&Options {
            key_files: vec![bad],
            ..Options::default()
        })
        .is_err());
    }
}
