//! Objects to stored bytes and back.
//!
//! A stored value is the object as JSON without `metadata.resourceVersion`
//! (the version is the key's `mod_revision`, stamped on every read), passed
//! through the encryption providers when the `EncryptionConfiguration`
//! names the object's resource ([`super::value`]). The etcd store and the
//! watch cache decode through the same codec, so a watch delivers the same
//! plain objects a GET does.

use std::sync::Arc;

use serde_json::Value;

use super::etcd::{set_resource_version, StoredObject};
use super::value::{Chain, Transformers};
use super::{Result, StorageError};

/// The codec of one store: its key prefix and encryption configuration.
#[derive(Debug, Clone)]
pub struct Codec {
    prefix: String,
    transformers: Arc<Transformers>,
}

impl Codec {
    /// A codec for keys under `prefix` (no trailing `/`).
    pub fn new(prefix: &str, transformers: Transformers) -> Codec {
        Codec {
            prefix: prefix.to_string(),
            transformers: Arc::new(transformers),
        }
    }

    /// The value transformation of the object at `key`, if it has one.
    fn chain(&self, key: &[u8]) -> Option<Arc<Chain>> {
        let rest = key
            .strip_prefix(self.prefix.as_bytes())?
            .strip_prefix(b"/")?;
        let rest = std::str::from_utf8(rest).ok()?;
        let mut segments = rest.split('/');
        let first = segments.next()?;
        // Custom resources are stored under `<group>/<plural>`; groups
        // have dots, built-in plurals never do.
        let storage = if first.contains('.') {
            &rest[..first.len() + 1 + segments.next()?.len()]
        } else {
            first
        };
        self.transformers.chain(storage)
    }

    /// Decodes (decrypting if need be) a stored value and stamps its
    /// resourceVersion.
    pub fn decode(&self, key: &[u8], value: &[u8], mod_revision: i64) -> Result<StoredObject> {
        let corrupt = |reason: String| StorageError::Corrupt {
            key: String::from_utf8_lossy(key).into_owned(),
            reason,
        };
        let plain;
        let (value, stale) = match self.chain(key) {
            Some(chain) => {
                let stale;
                (plain, stale) = chain.read(value, key).map_err(|e| corrupt(e.to_string()))?;
                (&plain[..], stale)
            }
            None => (value, false),
        };
        let mut object: Value =
            serde_json::from_slice(value).map_err(|e| corrupt(e.to_string()))?;
        set_resource_version(&mut object, mod_revision);
        Ok(StoredObject {
            object,
            mod_revision,
            stale,
        })
    }

    /// Encodes an object for storage at `key`: without `resourceVersion`,
    /// encrypted when the configuration says so.
    pub fn encode(&self, key: &str, object: &Value) -> Result<Vec<u8>> {
        let json = if object.pointer("/metadata/resourceVersion").is_none() {
            serde_json::to_vec(object).unwrap_or_default()
        } else {
            let mut copy = object.clone();
            if let Some(meta) = copy.get_mut("metadata").and_then(Value::as_object_mut) {
                meta.remove("resourceVersion");
            }
            serde_json::to_vec(&copy).unwrap_or_default()
        };
        match self.chain(key.as_bytes()) {
            Some(chain) => {
                chain
                    .to_storage(&json, key.as_bytes())
                    .map_err(|e| StorageError::Transform {
                        key: key.to_string(),
                        reason: e.to_string(),
                    })
            }
            None => Ok(json),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_drops_resource_version() {
        let obj = serde_json::json!({"metadata": {"name": "a", "resourceVersion": "5"}});
        let bytes = Codec::new("/registry", Transformers::default())
            .encode("/registry/pods/a", &obj)
            .unwrap_or_default();
        let back: Value = serde_json::from_slice(&bytes).unwrap_or_default();
        assert!(back["metadata"].get("resourceVersion").is_none());
        let stored = Codec::new("/registry", Transformers::default()).decode(b"k", &bytes, 9);
        assert_eq!(
            stored
                .map(|s| s.object["metadata"]["resourceVersion"].clone())
                .ok(),
            Some(Value::String("9".into()))
        );
    }
}
