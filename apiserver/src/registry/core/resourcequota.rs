//! ResourceQuotas: limits on what a namespace may use. Every hard limit must
//! be a non-negative quantity and every scope a known one; the quota
//! controller fills `status.hard` and `status.used`, which the printer shows.

use k8s_openapi::api::core::v1::ResourceQuota;
use serde_json::{json, Value};

use crate::printers::*;
use crate::registry::generic::Typed;
use crate::validation::rules::{items, one_of};
use crate::validation::{invalid, parse_quantity, FieldError};

/// The ResourceQuota strategy.
pub const STRATEGY: Typed<ResourceQuota> = Typed::new(COLUMNS, cells).rules(rules).with_status();

const SCOPES: &[&str] = &[
    "Terminating",
    "NotTerminating",
    "BestEffort",
    "NotBestEffort",
    "PriorityClass",
    "CrossNamespacePodAffinity",
    "VolumeAttributesClass",
];

fn rules(obj: &Value, errs: &mut Vec<FieldError>) {
    non_negative_quantities(obj, "/spec/hard", errs);
    for (p, _) in items(obj, "/spec/scopes") {
        one_of(obj, &p, SCOPES, errs);
    }
}

/// Every value of the map at `pointer` is a quantity of at least zero.
pub fn non_negative_quantities(obj: &Value, pointer: &str, errs: &mut Vec<FieldError>) {
    let Some(map) = obj.pointer(pointer).and_then(Value::as_object) else {
        return;
    };
    let path = crate::validation::rules::field_path(pointer);
    for (name, q) in map {
        let value = q.as_str().and_then(parse_quantity);
        if value.is_none_or(|v| v < 0.0) {
            errs.push(invalid(
                format!("{path}[{name}]"),
                q,
                "must be a non-negative quantity",
            ));
        }
    }
}

#[rustfmt::skip]
const COLUMNS: &[Column] = &[
    NAME,
    col("Request", "string", 0, "Request represents a minimum amount of cpu/memory that a container may consume."),
    col("Limit", "string", 0, "Limits control the maximum amount of cpu/memory that a container may use independent of contention on the node."),
    AGE,
];

fn cells(obj: &Value) -> Vec<Value> {
    let (mut requests, mut limits) = (Vec::new(), Vec::new());
    if let Some(hard) = obj.pointer("/status/hard").and_then(Value::as_object) {
        // serde_json's map is sorted by key, as upstream sorts resource names.
        for (name, quantity) in hard {
            let used = obj.pointer(&format!(
                "/status/used/{}",
                name.replace('~', "~0").replace('/', "~1")
            ));
            let line = format!(
                "{name}: {}/{}",
                used.and_then(Value::as_str).unwrap_or("0"),
                quantity.as_str().unwrap_or("")
            );
            if name.starts_with("limits.") {
                limits.push(line);
            } else {
                requests.push(line);
            }
        }
    }
    row(
        obj,
        vec![json!(requests.join(", ")), json!(limits.join(", "))],
    )
}
