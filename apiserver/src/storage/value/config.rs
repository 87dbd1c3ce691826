//! The `EncryptionConfiguration` file (`apiserver.config.k8s.io/v1`) that
//! `--encryption-provider-config` names, read once at start.
//!
//! ```yaml
//! apiVersion: apiserver.config.k8s.io/v1
//! kind: EncryptionConfiguration
//! resources:
//!   - resources: [secrets]
//!     providers:
//!       - aescbc:
//!           keys:
//!             - name: key1
//!               secret: <32 random bytes, base64>
//!       - identity: {}
//! ```
//!
//! It is checked with upstream's rules and messages (one provider per list
//! element, keys named and base64 of an AES or secretbox size, resources
//! lower-case and not a bare `*`); any problem stops the apiserver from
//! starting, since serving with the wrong keys would write data nobody can
//! read later. `kms` providers are not supported (there is no KMS plugin
//! here) and are refused with a clear message.

use base64::Engine;
use serde::Deserialize;

use super::{AesKey, Chain, Cipher, Provider, SecretboxKey, Transformers};

const API_VERSION: &str = "apiserver.config.k8s.io/v1";
const KIND: &str = "EncryptionConfiguration";
const AES_KEY_SIZES: &[usize] = &[16, 24, 32];
const SECRETBOX_KEY_SIZES: &[usize] = &[32];

/// Why the configuration file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file cannot be read.
    #[error("error reading encryption provider configuration file {path:?}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is empty.
    #[error("encryption provider configuration file {0:?} is empty")]
    Empty(String),
    /// The file is not YAML/JSON of the expected shape.
    #[error("error decoding encryption provider configuration file {path:?}: {reason}")]
    Decode {
        /// The file.
        path: String,
        /// The parser's complaint.
        reason: String,
    },
    /// Another kind or version.
    #[error("got unexpected config type: {0}")]
    UnexpectedType(String),
    /// The content breaks the rules; each entry is one field error.
    #[error("error while parsing file: {}", join(.0))]
    Invalid(Vec<String>),
}

fn join(errors: &[String]) -> String {
    if errors.len() == 1 {
        errors[0].clone()
    } else {
        format!("[{}]", errors.join(", "))
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct EncryptionConfiguration {
    #[serde(default)]
    api_version: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    resources: Vec<ResourceConfiguration>,
}

#[derive(Debug, Deserialize)]
struct ResourceConfiguration {
    #[serde(default)]
    resources: Vec<String>,
    #[serde(default)]
    providers: Vec<ProviderConfiguration>,
}

#[derive(Debug, Deserialize)]
struct ProviderConfiguration {
    aescbc: Option<KeysConfiguration>,
    aesgcm: Option<KeysConfiguration>,
    secretbox: Option<KeysConfiguration>,
    identity: Option<serde_json::Value>,
    kms: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
struct KeysConfiguration {
    #[serde(default)]
    keys: Vec<Key>,
}

#[derive(Debug, Deserialize)]
struct Key {
    #[serde(default)]
    name: String,
    #[serde(default)]
    secret: String,
}

/// Reads and checks the file, building the transformers it describes.
pub fn load(path: &str) -> Result<Transformers, Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_string(),
        source,
    })?;
    if text.trim().is_empty() {
        return Err(Error::Empty(path.to_string()));
    }
    parse(&text).map_err(|e| match e {
        Error::Decode { reason, .. } => Error::Decode {
            path: path.to_string(),
            reason,
        },
        other => other,
    })
}

/// Checks a configuration's text and builds its transformers.
pub fn parse(text: &str) -> Result<Transformers, Error> {
    let config: EncryptionConfiguration =
        serde_yaml_ng::from_str(text).map_err(|e| Error::Decode {
            path: String::new(),
            reason: e.to_string(),
        })?;
    if config.api_version != API_VERSION || config.kind != KIND {
        return Err(Error::UnexpectedType(format!(
            "{}, Kind={}",
            config.api_version, config.kind
        )));
    }
    let mut errors = Vec::new();
    let mut rules = Vec::new();
    if config.resources.is_empty() {
        errors.push("resources: Required value: at least one resources is required".into());
    }
    for (i, rc) in config.resources.iter().enumerate() {
        let r_path = format!("resources[{i}].resources");
        let p_path = format!("resources[{i}].providers");
        if rc.resources.is_empty() {
            errors.push(format!(
                "{r_path}: Required value: at least one {r_path} is required"
            ));
        }
        if rc.providers.is_empty() {
            errors.push(format!(
                "{p_path}: Required value: at least one {p_path} is required"
            ));
        }
        let mut patterns = Vec::new();
        for (j, resource) in rc.resources.iter().enumerate() {
            match pattern(resource) {
                Ok(p) => patterns.push(p),
                Err(why) => {
                    errors.push(format!("{r_path}[{j}]: Invalid value: {resource:?}: {why}"))
                }
            }
        }
        let mut providers = Vec::new();
        for (j, pc) in rc.providers.iter().enumerate() {
            providers.extend(provider(pc, &format!("{p_path}[{j}]"), &mut errors));
        }
        rules.push((patterns, Chain::new(providers)));
    }
    if !errors.is_empty() {
        return Err(Error::Invalid(errors));
    }
    Ok(Transformers::new(rules))
}

/// `secrets` -> `("", "secrets")`, `deployments.apps` -> `("apps",
/// "deployments")`, `*.` -> every core resource, `*.*` -> everything.
fn pattern(resource: &str) -> Result<(String, String), &'static str> {
    if resource == "*" {
        return Err("use '*.' to encrypt all the resources from core API group or *.* to encrypt all resources");
    }
    if resource.chars().any(|c| c.is_ascii_uppercase()) {
        return Err("resource name should not contain capital letters");
    }
    let (name, group) = resource.split_once('.').unwrap_or((resource, ""));
    if group == "extensions" {
        return Err("'extensions' group has been removed and cannot be used for encryption");
    }
    if group == "*" && name != "*" {
        return Err("encrypting the same resource across groups is not supported");
    }
    Ok((group.to_string(), name.to_string()))
}

/// One provider element: exactly one kind, its keys valid.
fn provider(pc: &ProviderConfiguration, path: &str, errors: &mut Vec<String>) -> Vec<Provider> {
    let found = [
        pc.aescbc.is_some(),
        pc.aesgcm.is_some(),
        pc.secretbox.is_some(),
        pc.identity.is_some(),
        pc.kms.is_some(),
    ]
    .iter()
    .filter(|f| **f)
    .count();
    if found == 0 {
        errors.push(format!("{path}: Invalid value: provider does not contain any of the expected providers: KMS, AESGCM, AESCBC, Secretbox, Identity"));
        return Vec::new();
    }
    if found > 1 {
        errors.push(format!("{path}: Invalid value: more than one provider specified in a single element, should split into different list elements"));
        return Vec::new();
    }
    if pc.kms.is_some() {
        errors.push(format!(
            "{path}.kms: Unsupported value: this apiserver has no KMS plugin support; use aescbc, aesgcm or secretbox"
        ));
        return Vec::new();
    }
    if pc.identity.is_some() {
        return vec![Provider::Identity];
    }
    let (name, keys, sizes) = if let Some(k) = &pc.aescbc {
        ("aescbc", k, AES_KEY_SIZES)
    } else if let Some(k) = &pc.aesgcm {
        ("aesgcm", k, AES_KEY_SIZES)
    } else if let Some(k) = &pc.secretbox {
        ("secretbox", k, SECRETBOX_KEY_SIZES)
    } else {
        return Vec::new();
    };
    let keys_path = format!("{path}.{name}.keys");
    if keys.keys.is_empty() {
        errors.push(format!(
            "{keys_path}: Required value: at least one keys is required"
        ));
        return Vec::new();
    }
    let mut out = Vec::new();
    for (k, key) in keys.keys.iter().enumerate() {
        let key_path = format!("{keys_path}[{k}]");
        if let Some(secret) = check_key(key, &key_path, sizes, errors) {
            let cipher = match name {
                "aescbc" => AesKey::new(secret).map(Cipher::AesCbc),
                "aesgcm" => AesKey::new(secret).map(Cipher::AesGcm),
                _ => <[u8; 32]>::try_from(secret)
                    .ok()
                    .map(|k| Cipher::Secretbox(SecretboxKey(k))),
            };
            if let Some(cipher) = cipher {
                out.push(Provider::key(&key.name, cipher));
            }
        }
    }
    out
}

/// The decoded secret of a valid key; errors pushed otherwise.
fn check_key(key: &Key, path: &str, sizes: &[usize], errors: &mut Vec<String>) -> Option<Vec<u8>> {
    let mut ok = true;
    if key.name.is_empty() {
        errors.push(format!(
            "{path}.name: Required value: name is a mandatory field for a key"
        ));
        ok = false;
    }
    if key.secret.is_empty() {
        errors.push(format!(
            "{path}.secret: Required value: secret is a mandatory field for a key"
        ));
        return None;
    }
    let Ok(secret) = base64::engine::general_purpose::STANDARD.decode(&key.secret) else {
        errors.push(format!(
            "{path}.secret: Invalid value: \"REDACTED\": secrets must be base64 encoded"
        ));
        return None;
    };
    if !sizes.contains(&secret.len()) {
        let sizes: Vec<String> = sizes.iter().map(|s| s.to_string()).collect();
        errors.push(format!(
            "{path}.secret: Invalid value: \"REDACTED\": secret is not of the expected length, got {}, expected one of [{}]",
            secret.len(),
            sizes.join(" ")
        ));
        return None;
    }
    ok.then_some(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(providers: &str) -> String {
        format!(
            "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n  - resources: [secrets, deployments.apps]\n    providers:\n{providers}"
        )
    }

    const KEY32: &str = "c2VjcmV0IGlzIHNlY3VyZSwgSSB0aGluayBzby4uLi4=";

    #[test]
    fn a_valid_configuration_builds_its_chains() {
        let t = parse(&config(&format!(
            "      - aesgcm:\n          keys: [{{name: k1, secret: {KEY32}}}]\n      - secretbox:\n          keys: [{{name: k2, secret: {KEY32}}}]\n      - identity: {{}}\n"
        )))
        .unwrap_or_else(|e| panic!("{e}"));
        let chain = t.chain("secrets").unwrap_or_else(|| panic!("secrets"));
        let stored = chain.to_storage(b"{}", b"k").unwrap_or_default();
        assert!(stored.starts_with(b"k8s:enc:aesgcm:v1:k1:"));
        assert!(t.chain("deployments").is_some());
        assert!(t.chain("configmaps").is_none());
    }

    #[test]
    fn bad_keys_are_refused_with_upstreams_messages() {
        let short = parse(&config(
            "      - aescbc:\n          keys: [{name: key1, secret: c2hvcnQ=}]\n",
        ));
        assert_eq!(
            short.err().map(|e| e.to_string()).as_deref(),
            Some("error while parsing file: resources[0].providers[0].aescbc.keys[0].secret: Invalid value: \"REDACTED\": secret is not of the expected length, got 5, expected one of [16 24 32]")
        );
        let not_b64 = parse(&config(
            "      - secretbox:\n          keys: [{name: k, secret: '%%%'}]\n",
        ));
        assert!(not_b64
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
            .contains("secrets must be base64 encoded"));
        let two = parse(&config(&format!("      - identity: {{}}\n        aescbc:\n          keys: [{{name: k, secret: {KEY32}}}]\n")));
        assert!(two
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
            .contains("more than one provider specified in a single element"));
        let kms = parse(&config("      - kms:\n          name: vault\n"));
        assert!(kms
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
            .contains("no KMS plugin"));
        let star = parse("apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n  - resources: ['*']\n    providers: [{identity: {}}]\n");
        assert!(star
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
            .contains("use '*.' to encrypt"));
        let kind = parse("apiVersion: v1\nkind: ConfigMap\n");
        assert!(matches!(kind, Err(Error::UnexpectedType(_))));
    }
}
