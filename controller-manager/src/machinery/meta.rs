//! Values of the API's object metadata and specs that every controller
//! reads: times, labels, label selectors and int-or-percent values.

use std::collections::BTreeMap;
use std::fmt::Debug;

use apimachinery::labels::Selector;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, Time};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::jiff::Timestamp;
use k8s_openapi::NamespaceResourceScope;
use kube::Resource;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::controller::{Error, Result};

/// A namespaced built-in kind the controllers read and write through
/// `kube::Api` (every bound that takes, once).
pub trait NamespacedKind:
    Resource<DynamicType = (), Scope = NamespaceResourceScope>
    + Clone
    + Debug
    + Serialize
    + DeserializeOwned
    + Send
    + Sync
    + 'static
{
}

impl<K> NamespacedKind for K where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Clone
        + Debug
        + Serialize
        + DeserializeOwned
        + Send
        + Sync
        + 'static
{
}

/// Now, as an API time.
pub fn now() -> Time {
    Time(Timestamp::now())
}

/// Milliseconds since the epoch of an API time.
pub fn millis(t: &Time) -> i64 {
    t.0.as_millisecond()
}

/// Milliseconds since the epoch, now.
pub fn now_millis() -> i64 {
    Timestamp::now().as_millisecond()
}

/// The selector of a `spec.selector` (`None` selects nothing).
pub fn selector(ls: Option<&LabelSelector>) -> Result<Selector> {
    let v = match ls {
        Some(ls) => serde_json::to_value(ls).map_err(|source| Error::Json {
            context: "selector".into(),
            source,
        })?,
        None => serde_json::Value::Null,
    };
    Selector::from_label_selector_json(&v)
        .map_err(|e| Error::Invalid(format!("invalid selector: {e}")))
}

/// An object's labels (empty when none).
pub fn labels(meta: &ObjectMeta) -> BTreeMap<String, String> {
    meta.labels.clone().unwrap_or_default()
}

/// Resolves an int-or-percent against `total` (percent rounded up or down).
pub fn scaled_value(
    v: Option<&IntOrString>,
    total: i32,
    round_up: bool,
    default: i32,
) -> Result<i32> {
    match v {
        None => Ok(default),
        Some(IntOrString::Int(i)) => Ok(*i),
        Some(IntOrString::String(s)) => {
            let pct: i64 = s
                .strip_suffix('%')
                .and_then(|p| p.trim().parse().ok())
                .ok_or_else(|| {
                    Error::Invalid(format!(
                        "invalid value {s:?}: must be an integer or a percentage"
                    ))
                })?;
            let n = pct * i64::from(total);
            let r = if round_up {
                (n + 99).div_euclid(100)
            } else {
                n.div_euclid(100)
            };
            Ok(r as i32)
        }
    }
}

/// A merge patch that adds (`add`) or removes `finalizer` from an object's
/// finalizers, guarded by its resourceVersion (a stale cache conflicts
/// instead of dropping a finalizer someone else just added); `None` when
/// nothing would change.
pub fn finalizer_patch(meta: &ObjectMeta, finalizer: &str, add: bool) -> Option<serde_json::Value> {
    let mut list = meta.finalizers.clone().unwrap_or_default();
    let has = list.iter().any(|f| f == finalizer);
    match (add, has) {
        (true, false) => list.push(finalizer.to_string()),
        (false, true) => list.retain(|f| f != finalizer),
        _ => return None,
    }
    Some(serde_json::json!({
        "metadata": {"finalizers": list, "resourceVersion": meta.resource_version}
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_round_as_upstream() {
        let p = IntOrString::String("25%".into());
        assert_eq!(scaled_value(Some(&p), 10, true, 0).unwrap(), 3);
        assert_eq!(scaled_value(Some(&p), 10, false, 0).unwrap(), 2);
        assert_eq!(
            scaled_value(Some(&IntOrString::Int(4)), 10, true, 0).unwrap(),
            4
        );
        assert_eq!(scaled_value(None, 10, true, 7).unwrap(), 7);
        assert!(scaled_value(Some(&IntOrString::String("x".into())), 10, true, 0).is_err());
    }

    #[test]
    fn finalizer_patches_change_only_what_is_needed() {
        let meta = ObjectMeta {
            finalizers: Some(vec!["a".into()]),
            resource_version: Some("7".into()),
            ..Default::default()
        };
        let add = super::finalizer_patch(&meta, "b", true).expect("adds");
        assert_eq!(add["metadata"]["finalizers"], serde_json::json!(["a", "b"]));
        assert_eq!(add["metadata"]["resourceVersion"], "7");
        assert!(super::finalizer_patch(&meta, "a", true).is_none());
        let rm = super::finalizer_patch(&meta, "a", false).expect("removes");
        assert_eq!(rm["metadata"]["finalizers"], serde_json::json!([]));
        assert!(super::finalizer_patch(&meta, "b", false).is_none());
    }
}
