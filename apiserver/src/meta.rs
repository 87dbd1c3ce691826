//! Reading and writing `metadata` on objects held as JSON, and the server's
//! clock as Kubernetes writes timestamps.
//!
//! Every layer touches `metadata` (the handlers set names and namespaces, the
//! registry sets `uid` and `generation`, the field manager records
//! `managedFields`), so these accessors live in a leaf module that depends on
//! nothing else in the crate.

use serde_json::{Map, Value};

/// The current time as Kubernetes writes timestamps (RFC 3339, seconds, UTC).
pub fn now() -> String {
    now_plus(0)
}

/// A timestamp `secs` seconds from now.
pub fn now_plus(secs: i64) -> String {
    let t = chrono::Utc::now() + chrono::Duration::seconds(secs);
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// `metadata` of an object as a mutable map, created if missing.
pub fn meta_mut(obj: &mut Value) -> &mut Map<String, Value> {
    if !obj.get("metadata").is_some_and(Value::is_object) {
        if !obj.is_object() {
            *obj = Value::Object(Map::new());
        }
        obj["metadata"] = Value::Object(Map::new());
    }
    match obj.get_mut("metadata") {
        Some(Value::Object(m)) => m,
        _ => unreachable!("metadata was just made an object"),
    }
}

/// A string field of `metadata`.
pub fn meta_str<'a>(obj: &'a Value, field: &str) -> Option<&'a str> {
    obj.get("metadata")?.get(field)?.as_str()
}

/// `metadata.finalizers` as strings.
pub fn finalizers(obj: &Value) -> Vec<String> {
    obj.pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}
