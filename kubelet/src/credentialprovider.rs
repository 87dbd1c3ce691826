//! Registry credentials from a pod's `imagePullSecrets`: upstream's
//! credential provider keyring (`pkg/credentialprovider`).
//!
//! A pull secret is a Docker client configuration: a Secret of type
//! `kubernetes.io/dockerconfigjson` holds `.dockerconfigjson`
//! (`{"auths": {"<registry>": {...}}}`, what `kubectl create secret
//! docker-registry` writes), one of type `kubernetes.io/dockercfg` holds the
//! older `.dockercfg` (the `auths` map alone). Each entry names a registry
//! as the Docker client does (`registry.example.com`, `host:5000/team`,
//! `https://index.docker.io/v1/`, `*.example.com`) and gives a user name and
//! password, either as `username`/`password` or as `auth`
//! (`base64(user:password)`).
//!
//! [`Keyring::lookup`] answers which of these credentials may go to the
//! registry of an image, as upstream matches them: the entry's host must
//! have as many dot-separated parts as the image's, each matched as a glob
//! (`*.example.com` covers `eu.example.com`, not `a.b.example.com`), the
//! ports must be equal, and the entry's path must be a prefix of the image's
//! repository. The most specific entries come first; an image on Docker Hub
//! also gets the `index.docker.io` entry. The kubelet then tries each
//! credential in turn until a pull succeeds, and pulls anonymously when none
//! applies (see [`crate::pod::images`]).

use std::collections::{BTreeMap, HashMap};

use base64::Engine as _;
use container_runtime::cri::AuthConfig;
use container_runtime::images::Reference;
use k8s_openapi::api::core::v1::Secret;
use serde::Deserialize;

/// The type of a Secret holding a `~/.docker/config.json`.
pub const SECRET_TYPE_DOCKER_CONFIG_JSON: &str = "kubernetes.io/dockerconfigjson";
/// Its key.
pub const DOCKER_CONFIG_JSON_KEY: &str = ".dockerconfigjson";
/// The type of a Secret holding a legacy `~/.dockercfg`.
pub const SECRET_TYPE_DOCKERCFG: &str = "kubernetes.io/dockercfg";
/// Its key.
pub const DOCKERCFG_KEY: &str = ".dockercfg";

/// The key Docker Hub's credentials are filed under.
const DEFAULT_REGISTRY_HOST: &str = "index.docker.io";

/// A pull secret that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Its configuration is not the JSON it should be.
    #[error("error parsing the registry credentials of secret {namespace}/{name}: {source}")]
    Config {
        /// The Secret's namespace.
        namespace: String,
        /// The Secret's name.
        name: String,
        /// Why it does not parse.
        #[source]
        source: serde_json::Error,
    },
}

/// `~/.docker/config.json`: the credentials are under `auths`.
#[derive(Deserialize)]
struct DockerConfigJson {
    #[serde(default)]
    auths: BTreeMap<String, DockerConfigEntry>,
}

/// One registry's entry of a Docker client configuration.
#[derive(Deserialize)]
struct DockerConfigEntry {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    /// `base64(user:password)`; when present it wins over the two above.
    #[serde(default)]
    auth: String,
}

impl DockerConfigEntry {
    fn credentials(&self) -> Result<AuthConfig, String> {
        if self.auth.is_empty() {
            return Ok(AuthConfig {
                username: self.username.clone(),
                password: self.password.clone(),
            });
        }
        let field = self.auth.trim();
        // Go's StdEncoding takes padded text, RawStdEncoding unpadded.
        let decoded = if field.ends_with('=') {
            base64::engine::general_purpose::STANDARD.decode(field)
        } else {
            base64::engine::general_purpose::STANDARD_NO_PAD.decode(field)
        }
        .map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&decoded);
        let (username, password) = text.split_once(':').ok_or_else(|| {
            "unable to parse auth field, must be formatted as base64(username:password)".to_string()
        })?;
        Ok(AuthConfig {
            username: username.to_string(),
            password: password.to_string(),
        })
    }
}

/// Credentials by registry pattern, the most specific pattern first.
#[derive(Debug, Default)]
pub struct Keyring {
    /// The patterns, sorted in reverse so that longer ones of a host come
    /// before its shorter ones.
    index: Vec<String>,
    creds: HashMap<String, Vec<AuthConfig>>,
}

impl Keyring {
    /// The keyring of these pull secrets; Secrets of other types, or
    /// without their key, add nothing.
    pub fn from_secrets(secrets: &[Secret]) -> Result<Keyring, Error> {
        let mut keyring = Keyring::default();
        for secret in secrets {
            let data = |key: &str| secret_value(secret, key);
            let parse_error = |source| Error::Config {
                namespace: secret.metadata.namespace.clone().unwrap_or_default(),
                name: secret.metadata.name.clone().unwrap_or_default(),
                source,
            };
            let auths = match (
                secret.type_.as_deref(),
                data(DOCKER_CONFIG_JSON_KEY),
                data(DOCKERCFG_KEY),
            ) {
                (Some(SECRET_TYPE_DOCKER_CONFIG_JSON), Some(bytes), _) => {
                    serde_json::from_slice::<DockerConfigJson>(bytes)
                        .map_err(parse_error)?
                        .auths
                }
                (Some(SECRET_TYPE_DOCKERCFG), _, Some(bytes)) => {
                    serde_json::from_slice::<BTreeMap<String, DockerConfigEntry>>(bytes)
                        .map_err(parse_error)?
                }
                _ => continue,
            };
            for (location, entry) in auths {
                match entry.credentials() {
                    Ok(creds) => keyring.add(&location, creds),
                    Err(e) => tracing::warn!(
                        secret = ?secret.metadata.name,
                        registry = %location,
                        error = %e,
                        "ignoring a registry entry of a pull secret"
                    ),
                }
            }
        }
        keyring.index.sort_unstable_by(|a, b| b.cmp(a));
        keyring.index.dedup();
        Ok(keyring)
    }

    /// Files credentials under a registry location as a Docker client
    /// writes it: with or without a scheme, `/v1/` or `/v2/` dropped.
    fn add(&mut self, location: &str, creds: AuthConfig) {
        let rest = location
            .strip_prefix("https://")
            .or_else(|| location.strip_prefix("http://"))
            .unwrap_or(location);
        let (host, path) = match rest.find('/') {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        let path = if path.starts_with("/v2/") || path.starts_with("/v1/") {
            &path[3..]
        } else {
            path
        };
        let key = if path.is_empty() || path == "/" {
            host.to_string()
        } else {
            format!("{host}{path}")
        };
        self.creds.entry(key.clone()).or_default().push(creds);
        self.index.push(key);
    }

    /// The credentials that may go to the registry of `image` (a reference
    /// as a pod names it), most specific first; none when nothing matches.
    pub fn lookup(&self, image: &str) -> Vec<AuthConfig> {
        let repo = repo_to_pull(image);
        let mut out = Vec::new();
        for key in &self.index {
            if urls_match(key, &repo) {
                out.extend(self.creds[key].iter().cloned());
            }
        }
        if out.is_empty() && is_default_registry_match(&repo) {
            if let Some(hub) = self.creds.get(DEFAULT_REGISTRY_HOST) {
                out.extend(hub.iter().cloned());
            }
        }
        out
    }
}

/// The bytes of `key` in a Secret's `data`, unless missing or empty (also
/// read by the ingress proxy for `tls.crt`/`tls.key`).
pub fn secret_value<'a>(secret: &'a Secret, key: &str) -> Option<&'a [u8]> {
    secret
        .data
        .as_ref()
        .and_then(|d| d.get(key))
        .map(|b| b.0.as_slice())
        .filter(|b| !b.is_empty())
}

/// The repository an image is pulled from, as `registry/path` with
/// Docker's normalization (`busybox:1.36` -> `docker.io/library/busybox`);
/// an image that does not parse is looked up as written.
pub fn repo_to_pull(image: &str) -> String {
    match Reference::parse(image) {
        Ok(r) => format!("{}/{}", r.registry, r.repository),
        Err(_) => image.to_string(),
    }
}

/// Whether an image (`registry/path`) lives on Docker Hub.
fn is_default_registry_match(image: &str) -> bool {
    let first = image.split('/').next().unwrap_or_default();
    if first.is_empty() {
        return false;
    }
    if !image.contains('/') || first == "docker.io" || first == DEFAULT_REGISTRY_HOST {
        return true;
    }
    !first.contains(['.', ':'])
}

/// Splits `host[:port]/path` into the host's dot-separated parts, the port
/// and the path (with its leading `/`).
fn split_url(url: &str) -> (Vec<&str>, &str, &str) {
    let (authority, path) = match url.find('/') {
        Some(i) => url.split_at(i),
        None => (url, ""),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => (h, p),
        _ => (authority, ""),
    };
    (host.split('.').collect(), port, path)
}

/// Whether the registry pattern `glob` covers the repository `target`.
fn urls_match(glob: &str, target: &str) -> bool {
    let (glob_parts, glob_port, glob_path) = split_url(glob);
    let (target_parts, target_port, target_path) = split_url(target);
    glob_port == target_port
        && glob_parts.len() == target_parts.len()
        && target_path.starts_with(glob_path)
        && glob_parts
            .iter()
            .zip(&target_parts)
            .all(|(g, t)| glob_match(g.as_bytes(), t.as_bytes()))
}

/// Shell-style matching of one host part: `*` any run of characters, `?`
/// one, `[a-z]` / `[^0-9]` a class, `\x` a literal `x`.
fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some((b'*', rest)) => (0..=text.len()).any(|i| glob_match(rest, &text[i..])),
        Some((b'?', rest)) => !text.is_empty() && glob_match(rest, &text[1..]),
        Some((b'[', rest)) => {
            let Some((&c, text_rest)) = text.split_first() else {
                return false;
            };
            let Some(end) = rest.iter().position(|&b| b == b']') else {
                return false;
            };
            let (class, after) = (&rest[..end], &rest[end + 1..]);
            let (negated, class) = match class.split_first() {
                Some((b'^', tail)) => (true, tail),
                _ => (false, class),
            };
            let mut hit = false;
            let mut i = 0;
            while i < class.len() {
                if i + 2 < class.len() && class[i + 1] == b'-' {
                    hit |= class[i] <= c && c <= class[i + 2];
                    i += 3;
                } else {
                    hit |= class[i] == c;
                    i += 1;
                }
            }
            hit != negated && glob_match(after, text_rest)
        }
        Some((b'\\', rest)) if !rest.is_empty() => {
            text.first() == Some(&rest[0]) && glob_match(&rest[1..], &text[1..])
        }
        Some((&p, rest)) => text.first() == Some(&p) && glob_match(rest, &text[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::ByteString;

    fn secret(type_: &str, key: &str, config: &str) -> Secret {
        Secret {
            type_: Some(type_.into()),
            data: Some(BTreeMap::from([(
                key.to_string(),
                ByteString(config.as_bytes().to_vec()),
            )])),
            ..Default::default()
        }
    }

    fn users(creds: &[AuthConfig]) -> Vec<&str> {
        creds.iter().map(|c| c.username.as_str()).collect()
    }

    #[test]
    fn dockerconfigjson_with_auth_or_username_and_password() {
        let keyring = Keyring::from_secrets(&[secret(
            SECRET_TYPE_DOCKER_CONFIG_JSON,
            DOCKER_CONFIG_JSON_KEY,
            // base64("alice:s3:cret"): the password may hold colons.
            r#"{"auths": {"10.0.0.1:5000": {"auth": "YWxpY2U6czM6Y3JldA=="},
                          "https://registry.example.com/v1/": {"username": "bob", "password": "pw"}}}"#,
        )])
        .expect("keyring");
        let alice = keyring.lookup("10.0.0.1:5000/team/app:v1");
        assert_eq!(
            alice,
            vec![AuthConfig {
                username: "alice".into(),
                password: "s3:cret".into()
            }]
        );
        assert_eq!(users(&keyring.lookup("registry.example.com/app")), ["bob"]);
        // Another port, another host, Docker Hub: nothing.
        assert!(keyring.lookup("10.0.0.1:5001/team/app").is_empty());
        assert!(keyring.lookup("10.0.0.2:5000/team/app").is_empty());
        assert!(keyring.lookup("busybox:1.36").is_empty());
    }

    #[test]
    fn dockercfg_and_unrelated_secrets() {
        let keyring = Keyring::from_secrets(&[
            secret(
                SECRET_TYPE_DOCKERCFG,
                DOCKERCFG_KEY,
                r#"{"https://index.docker.io/v1/": {"auth": "aHViOnB3"}}"#,
            ),
            // The right key in a Secret of another type is no pull secret.
            secret("Opaque", DOCKER_CONFIG_JSON_KEY, "not even json"),
        ])
        .expect("keyring");
        for image in ["busybox", "library/busybox:1.36", "docker.io/me/app"] {
            assert_eq!(users(&keyring.lookup(image)), ["hub"], "{image}");
        }
        assert!(keyring.lookup("quay.io/me/app").is_empty());
    }

    #[test]
    fn globs_paths_and_order() {
        let keyring = Keyring::from_secrets(&[secret(
            SECRET_TYPE_DOCKER_CONFIG_JSON,
            DOCKER_CONFIG_JSON_KEY,
            r#"{"auths": {"*.example.com": {"username": "any"},
                          "eu.example.com/team": {"username": "team"},
                          "eu.example.com": {"username": "host"}}}"#,
        )])
        .expect("keyring");
        assert_eq!(
            users(&keyring.lookup("eu.example.com/team/app")),
            ["team", "host", "any"]
        );
        assert_eq!(
            users(&keyring.lookup("eu.example.com/other")),
            ["host", "any"]
        );
        assert_eq!(users(&keyring.lookup("us.example.com/app")), ["any"]);
        // A glob covers one part of the host, no more.
        assert!(keyring.lookup("a.b.example.com/app").is_empty());
    }

    #[test]
    fn a_garbled_configuration_is_an_error() {
        let mut bad = secret(SECRET_TYPE_DOCKER_CONFIG_JSON, DOCKER_CONFIG_JSON_KEY, "{");
        bad.metadata.namespace = Some("ns".into());
        bad.metadata.name = Some("pull".into());
        let err = Keyring::from_secrets(&[bad]).expect_err("garbled");
        assert!(err.to_string().contains("secret ns/pull"), "{err}");
    }

    #[test]
    fn glob_matching_of_host_parts() {
        for (p, t, want) in [
            ("eu", "eu", true),
            ("e?", "eu", true),
            ("*", "anything", true),
            ("reg*", "registry", true),
            ("[a-f]u", "eu", true),
            ("[^a-f]u", "eu", false),
            ("eu", "us", false),
            ("\\*", "*", true),
        ] {
            assert_eq!(glob_match(p.as_bytes(), t.as_bytes()), want, "{p} {t}");
        }
    }
}
