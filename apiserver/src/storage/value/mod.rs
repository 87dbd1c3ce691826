//! Encryption at rest: how a stored value is transformed on its way to and
//! from etcd (upstream's `storage/value` transformers).
//!
//! `--encryption-provider-config` names an `EncryptionConfiguration`
//! ([`config`]): for some resources (typically `secrets`) an ordered list of
//! providers. The **first** provider encrypts every write; **every** provider
//! may decrypt a read, chosen by the value's prefix, so keys can be rotated:
//! put the new key first, keep the old one listed, re-write every object.
//!
//! | provider | stored value | module |
//! | --- | --- | --- |
//! | `aescbc` | `k8s:enc:aescbc:v1:<key>:` IV + AES-CBC (PKCS#7) | [`aescbc`] |
//! | `aesgcm` | `k8s:enc:aesgcm:v1:<key>:` nonce + AES-GCM, etcd key authenticated | [`aesgcm`] |
//! | `secretbox` | `k8s:enc:secretbox:v1:<key>:` nonce + XSalsa20-Poly1305 | [`secretbox`] |
//! | `identity` | the plain JSON | [`identity`] |
//!
//! The formats are upstream's byte for byte, so an upstream apiserver with the
//! same configuration reads our etcd and the other way round. Resources the
//! configuration does not name stay plain JSON, readable with `etcdctl` (a
//! teaching feature). [`super::etcd::Store`] calls [`Transformers`] in its
//! encode and decode, which the watch cache shares, so watches see plain
//! objects too.

pub mod aescbc;
pub mod aesgcm;
pub mod config;
pub mod identity;
pub mod secretbox;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// What can go wrong transforming a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A key of the wrong length reached a cipher (the configuration checks
    /// lengths first, so this is a bug).
    #[error("invalid key length")]
    KeyLength,
    /// The cipher refused to encrypt.
    #[error("encryption failed")]
    Encrypt,
    /// The stored value does not decrypt with the key its prefix names.
    #[error("{0}")]
    Decrypt(&'static str),
    /// The identity provider met encrypted data.
    #[error("identity transformer tried to read encrypted data")]
    EncryptedData,
    /// No provider's prefix matched (the value was written with a key that
    /// is no longer configured).
    #[error("no matching prefix found")]
    NoMatchingPrefix,
    /// Several providers matched but none could decrypt.
    #[error("{}", .0.join(", "))]
    AllFailed(Vec<String>),
}

/// Shorthand for transformation results.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An AES key of one of the sizes AES has.
#[derive(Clone)]
pub enum AesKey {
    /// 16 bytes.
    Aes128(Vec<u8>),
    /// 24 bytes.
    Aes192(Vec<u8>),
    /// 32 bytes.
    Aes256(Vec<u8>),
}

impl AesKey {
    /// The key for `bytes`, if AES has that size.
    pub fn new(bytes: Vec<u8>) -> Option<AesKey> {
        match bytes.len() {
            16 => Some(AesKey::Aes128(bytes)),
            24 => Some(AesKey::Aes192(bytes)),
            32 => Some(AesKey::Aes256(bytes)),
            _ => None,
        }
    }
}

impl std::fmt::Debug for AesKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AesKey(REDACTED)")
    }
}

/// One key of one provider: what it writes after the provider's prefix.
#[derive(Debug, Clone)]
pub enum Cipher {
    /// `aescbc`.
    AesCbc(AesKey),
    /// `aesgcm`.
    AesGcm(AesKey),
    /// `secretbox` (the key redacted from `Debug` by the wrapper).
    Secretbox(SecretboxKey),
}

/// A secretbox key, redacted from `Debug`.
#[derive(Clone)]
pub struct SecretboxKey(pub [u8; 32]);

impl std::fmt::Debug for SecretboxKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretboxKey(REDACTED)")
    }
}

impl Cipher {
    /// The provider's prefix, `k8s:enc:<provider>:v1:`.
    fn provider_prefix(&self) -> &'static str {
        match self {
            Cipher::AesCbc(_) => "k8s:enc:aescbc:v1:",
            Cipher::AesGcm(_) => "k8s:enc:aesgcm:v1:",
            Cipher::Secretbox(_) => "k8s:enc:secretbox:v1:",
        }
    }

    fn encrypt(&self, data: &[u8], key: &[u8]) -> Result<Vec<u8>> {
        match self {
            Cipher::AesCbc(k) => aescbc::encrypt(k, data),
            Cipher::AesGcm(k) => aesgcm::encrypt(k, data, key),
            Cipher::Secretbox(k) => secretbox::encrypt(&k.0, data),
        }
    }

    fn decrypt(&self, stored: &[u8], key: &[u8]) -> Result<Vec<u8>> {
        match self {
            Cipher::AesCbc(k) => aescbc::decrypt(k, stored),
            Cipher::AesGcm(k) => aesgcm::decrypt(k, stored, key),
            Cipher::Secretbox(k) => secretbox::decrypt(&k.0, stored),
        }
    }
}

/// One entry of a provider list after expansion: the identity, or one named
/// key of an encrypting provider (a provider with keys `[a, b]` becomes two
/// entries; the first provider's first key encrypts).
#[derive(Debug, Clone)]
pub enum Provider {
    /// Plain data.
    Identity,
    /// `k8s:enc:<provider>:v1:<name>:` + the cipher's envelope.
    Key {
        /// The full prefix, key name included.
        prefix: String,
        /// The cipher with that key.
        cipher: Cipher,
    },
}

impl Provider {
    /// A named key of an encrypting provider.
    pub fn key(name: &str, cipher: Cipher) -> Provider {
        Provider::Key {
            prefix: format!("{}{}:", cipher.provider_prefix(), name),
            cipher,
        }
    }

    fn prefix(&self) -> &[u8] {
        match self {
            Provider::Identity => b"",
            Provider::Key { prefix, .. } => prefix.as_bytes(),
        }
    }
}

/// The providers of one resource, in configuration order.
#[derive(Debug, Clone)]
pub struct Chain {
    providers: Vec<Provider>,
}

impl Chain {
    /// A chain of providers; the first writes.
    pub fn new(providers: Vec<Provider>) -> Chain {
        Chain { providers }
    }

    /// Transforms a value to store at etcd key `key` with the first provider.
    pub fn to_storage(&self, data: &[u8], key: &[u8]) -> Result<Vec<u8>> {
        match self.providers.first() {
            None | Some(Provider::Identity) => Ok(data.to_vec()),
            Some(Provider::Key { prefix, cipher }) => {
                let sealed = cipher.encrypt(data, key)?;
                let mut out = Vec::with_capacity(prefix.len() + sealed.len());
                out.extend_from_slice(prefix.as_bytes());
                out.extend_from_slice(&sealed);
                Ok(out)
            }
        }
    }

    /// Reads a stored value with whichever provider's prefix it carries. As
    /// upstream, a failing match does not stop the search (two entries may
    /// share a prefix while a key is rotated), and the identity gives way
    /// when it meets encrypted data.
    pub fn from_storage(&self, stored: &[u8], key: &[u8]) -> Result<Vec<u8>> {
        self.read(stored, key).map(|(plain, _)| plain)
    }

    /// [`Chain::from_storage`], also telling whether the value is stale:
    /// read by another provider than the one that writes, so an update
    /// must re-write it even when the object did not change (that is how
    /// `kubectl replace` moves data to a new key).
    pub fn read(&self, stored: &[u8], key: &[u8]) -> Result<(Vec<u8>, bool)> {
        let mut errors = Vec::new();
        for (i, provider) in self.providers.iter().enumerate() {
            let prefix = provider.prefix();
            let Some(rest) = stored.strip_prefix(prefix) else {
                continue;
            };
            let result = match provider {
                Provider::Identity => match identity::from_storage(rest) {
                    Ok(plain) => return Ok((plain.to_vec(), i != 0)),
                    Err(_) => continue,
                },
                Provider::Key { cipher, .. } => cipher.decrypt(rest, key),
            };
            match result {
                Ok(plain) => return Ok((plain, i != 0)),
                Err(e) => errors.push(e.to_string()),
            }
        }
        if errors.is_empty() {
            Err(Error::NoMatchingPrefix)
        } else {
            Err(Error::AllFailed(errors))
        }
    }
}

/// A `(group, resource)` of the configuration, `*` matching any.
pub type Pattern = (String, String);

/// One `resources` entry of the configuration: what it covers, and how.
#[derive(Debug)]
struct Rule {
    patterns: Vec<Pattern>,
    chain: Arc<Chain>,
}

/// The chains of every configured resource, looked up by storage name (the
/// first segment(s) of the etcd key after the prefix).
#[derive(Debug, Default)]
pub struct Transformers {
    /// In configuration order: the first match wins.
    rules: Vec<Rule>,
    /// Storage name -> its chain, filled on first use.
    resolved: RwLock<HashMap<String, Option<Arc<Chain>>>>,
}

impl Transformers {
    /// Transformers from rules of `(group, resource)` patterns and chains.
    pub fn new(rules: Vec<(Vec<Pattern>, Chain)>) -> Transformers {
        Transformers {
            rules: rules
                .into_iter()
                .map(|(patterns, chain)| Rule {
                    patterns,
                    chain: Arc::new(chain),
                })
                .collect(),
            resolved: RwLock::default(),
        }
    }

    /// The chain for the object stored under `storage` (a resource's
    /// storage name: its plural, or `<group>/<plural>` for custom resources);
    /// `None`: stored plain.
    pub fn chain(&self, storage: &str) -> Option<Arc<Chain>> {
        if self.rules.is_empty() {
            return None;
        }
        if let Ok(known) = self.resolved.read() {
            if let Some(chain) = known.get(storage) {
                return chain.clone();
            }
        }
        let (group, resource) = group_resource(storage);
        let chain = self
            .rules
            .iter()
            .find(|rule| {
                rule.patterns
                    .iter()
                    .any(|(g, r)| (g == "*" || *g == group) && (r == "*" || *r == resource))
            })
            .map(|rule| Arc::clone(&rule.chain));
        if let Ok(mut known) = self.resolved.write() {
            known.insert(storage.to_string(), chain.clone());
        }
        chain
    }
}

/// The API group and resource of a storage name.
fn group_resource(storage: &str) -> (String, String) {
    if let Some((group, plural)) = storage.split_once('/') {
        return (group.to_string(), plural.to_string());
    }
    let group = apimachinery::resources::RESOURCES
        .iter()
        .find(|r| r.storage_name() == storage)
        .map(|r| r.storage_group)
        .unwrap_or("");
    (group.to_string(), storage.to_string())
}

/// Hex to bytes, for the tests' known vectors.
#[cfg(test)]
pub(crate) fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap_or_else(|e| panic!("{s}: {e}")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cbc(name: &str, byte: u8) -> Provider {
        Provider::key(name, Cipher::AesCbc(AesKey::Aes256(vec![byte; 32])))
    }

    const KEY: &[u8] = b"/registry/secrets/default/s";

    #[test]
    fn the_first_provider_writes_with_its_prefix() {
        let chain = Chain::new(vec![cbc("key1", 1), Provider::Identity]);
        let stored = chain.to_storage(b"{}", KEY).unwrap_or_default();
        assert!(stored.starts_with(b"k8s:enc:aescbc:v1:key1:"));
        assert_eq!(chain.from_storage(&stored, KEY), Ok(b"{}".to_vec()));
        // Plain data is read through the identity listed later.
        assert_eq!(
            chain.from_storage(b"{\"a\":1}", KEY),
            Ok(b"{\"a\":1}".to_vec())
        );
    }

    #[test]
    fn rotation_reads_old_keys_and_writes_the_new_one() {
        let old = Chain::new(vec![cbc("key1", 1)]);
        let stored = old.to_storage(b"{}", KEY).unwrap_or_default();
        let rotated = Chain::new(vec![cbc("key2", 2), cbc("key1", 1)]);
        assert_eq!(rotated.read(&stored, KEY), Ok((b"{}".to_vec(), true)));
        let rewritten = rotated.to_storage(b"{}", KEY).unwrap_or_default();
        assert!(rewritten.starts_with(b"k8s:enc:aescbc:v1:key2:"));
        assert_eq!(rotated.read(&rewritten, KEY), Ok((b"{}".to_vec(), false)));
        // Without key1 the old value has no matching prefix.
        let only_new = Chain::new(vec![cbc("key2", 2)]);
        assert_eq!(
            only_new.from_storage(&stored, KEY),
            Err(Error::NoMatchingPrefix)
        );
        // Plain data without an identity provider is refused too.
        assert_eq!(
            only_new.from_storage(b"{}", KEY),
            Err(Error::NoMatchingPrefix)
        );
    }

    #[test]
    fn the_same_name_with_another_secret_is_tried_on() {
        let stored = Chain::new(vec![cbc("k", 1)])
            .to_storage(b"{\"x\":true}", KEY)
            .unwrap_or_default();
        let chain = Chain::new(vec![cbc("k", 9), cbc("k", 1)]);
        assert_eq!(
            chain.from_storage(&stored, KEY),
            Ok(b"{\"x\":true}".to_vec())
        );
        assert!(Chain::new(vec![cbc("k", 9)])
            .from_storage(&stored, KEY)
            .is_err());
    }

    #[test]
    fn identity_first_writes_plain_and_still_reads_encrypted() {
        let stored = Chain::new(vec![cbc("key1", 1)])
            .to_storage(b"{}", KEY)
            .unwrap_or_default();
        let chain = Chain::new(vec![Provider::Identity, cbc("key1", 1)]);
        assert_eq!(chain.to_storage(b"{}", KEY), Ok(b"{}".to_vec()));
        assert_eq!(chain.from_storage(&stored, KEY), Ok(b"{}".to_vec()));
        assert_eq!(
            Chain::new(vec![Provider::Identity]).from_storage(&stored, KEY),
            Err(Error::NoMatchingPrefix)
        );
    }

    #[test]
    fn gcm_values_are_bound_to_their_key() {
        let chain = Chain::new(vec![Provider::key(
            "g",
            Cipher::AesGcm(AesKey::Aes128(vec![3; 16])),
        )]);
        let stored = chain.to_storage(b"{}", KEY).unwrap_or_default();
        assert!(stored.starts_with(b"k8s:enc:aesgcm:v1:g:"));
        assert_eq!(chain.from_storage(&stored, KEY), Ok(b"{}".to_vec()));
        assert!(chain
            .from_storage(&stored, b"/registry/secrets/default/other")
            .is_err());
    }

    #[test]
    fn rules_pick_resources_by_group() {
        let t = Transformers::new(vec![
            (
                vec![("".into(), "secrets".into())],
                Chain::new(vec![cbc("a", 1)]),
            ),
            (
                vec![("apps".into(), "*".into())],
                Chain::new(vec![cbc("b", 2)]),
            ),
        ]);
        assert!(t.chain("secrets").is_some());
        assert!(t.chain("configmaps").is_none());
        assert!(t.chain("deployments").is_some());
        assert!(t.chain("example.com/widgets").is_none());
        assert!(Transformers::default().chain("secrets").is_none());
    }
}
