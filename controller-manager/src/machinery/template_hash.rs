//! The `pod-template-hash`: a short, stable name for one version of a pod
//! template. It names the ReplicaSet (`<deployment>-<hash>`) and labels its
//! pods so two ReplicaSets of one Deployment never select each other's pods.
//!
//! As upstream: a 32-bit FNV-1a hash of the template (plus the Deployment's
//! `collisionCount`, which is bumped when a name is taken by a different
//! template), printed in decimal and spelled with an alphabet without vowels
//! so the name never forms words.

use k8s_openapi::api::core::v1::PodTemplateSpec;

/// The label (and selector key) carrying the hash.
pub const LABEL: &str = "pod-template-hash";

const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

fn fnv1a32(bytes: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in bytes {
        h ^= u32::from(*b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// The hash of `template` with `collision_count`.
pub fn compute(template: &PodTemplateSpec, collision_count: Option<i32>) -> String {
    // serde_json writes object keys sorted, and empty values are pruned as
    // for the template comparison, so equal templates give equal bytes.
    let mut bytes = serde_json::to_vec(&semantic(template)).unwrap_or_default();
    if let Some(c) = collision_count {
        bytes.extend_from_slice(&c.to_le_bytes());
    }
    encode(&fnv1a32(&bytes).to_string())
}

/// Maps each character onto the vowel-free alphabet (upstream
/// `SafeEncodeString`).
pub fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| ALPHABET[usize::from(b) % ALPHABET.len()] as char)
        .collect()
}

/// A template as JSON without empty objects, arrays and nulls: kubectl and
/// Go clients write `resources: {}` where others omit it, and upstream's
/// semantic equality treats both alike.
pub fn semantic<T: serde::Serialize>(v: &T) -> serde_json::Value {
    fn prune(v: &mut serde_json::Value) -> bool {
        match v {
            serde_json::Value::Null => true,
            serde_json::Value::Object(m) => {
                m.retain(|_, x| !prune(x));
                m.is_empty()
            }
            serde_json::Value::Array(a) => {
                for x in a.iter_mut() {
                    prune(x);
                }
                a.is_empty()
            }
            _ => false,
        }
    }
    let mut v = serde_json::to_value(v).unwrap_or_default();
    prune(&mut v);
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn template(app: &str) -> PodTemplateSpec {
        PodTemplateSpec {
            metadata: Some(ObjectMeta {
                labels: Some([("app".to_string(), app.to_string())].into()),
                ..Default::default()
            }),
            spec: None,
        }
    }

    #[test]
    fn stable_distinct_and_vowel_free() {
        let a = compute(&template("a"), None);
        assert_eq!(a, compute(&template("a"), None));
        assert_ne!(a, compute(&template("b"), None));
        assert_ne!(a, compute(&template("a"), Some(1)));
        assert!(a.bytes().all(|b| ALPHABET.contains(&b)));
        assert!((1..=10).contains(&a.len()));
    }
}
