//! `pods/eviction`: a polite delete (`kubectl drain`). The pod is deleted
//! gracefully, with the grace period the Eviction's `deleteOptions` ask for.

use serde_json::Value;

/// The `apiVersion` of an Eviction.
pub const API_VERSION: &str = "policy/v1";
/// The `kind` of an Eviction.
pub const KIND: &str = "Eviction";

/// The grace period an Eviction body asks for, if any.
pub fn grace_period(eviction: &Value) -> Option<i64> {
    eviction
        .pointer("/deleteOptions/gracePeriodSeconds")
        .and_then(Value::as_i64)
}
