//! LimitRanges: per-namespace bounds and defaults for the resources of
//! containers, pods and claims. Each limit needs a known type; a container
//! limit without a default takes its maximum as default, and a default
//! request falls back to the default (upstream's defaulting).

use k8s_openapi::api::core::v1::LimitRange;
use serde_json::Value;

use super::resourcequota::non_negative_quantities;
use crate::printers::*;
use crate::registry::generic::Typed;
use crate::validation::rules::{items, one_of, require_nonempty};
use crate::validation::FieldError;

/// The LimitRange strategy (printed like upstream's default table: name
/// and creation time).
pub const STRATEGY: Typed<LimitRange> = Typed::new(CREATED_AT, created_at_cells)
    .defaults(defaults)
    .rules(rules);

fn defaults(obj: &mut Value) {
    let Some(limits) = obj
        .pointer_mut("/spec/limits")
        .and_then(Value::as_array_mut)
    else {
        return;
    };
    for item in limits
        .iter_mut()
        .filter(|l| l.get("type").and_then(Value::as_str) == Some("Container"))
    {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        let max = item.get("max").cloned().unwrap_or(Value::Null);
        fill_missing(item, "default", &max);
        let default = item.get("default").cloned().unwrap_or(Value::Null);
        fill_missing(item, "defaultRequest", &default);
    }
}

/// Copies into `item[field]` each resource of `from` that it lacks.
fn fill_missing(item: &mut serde_json::Map<String, Value>, field: &str, from: &Value) {
    let Some(from) = from.as_object().filter(|m| !m.is_empty()) else {
        return;
    };
    let target = item
        .entry(field.to_string())
        .or_insert_with(|| Value::Object(Default::default()));
    if target.is_null() {
        *target = Value::Object(Default::default());
    }
    if let Some(target) = target.as_object_mut() {
        for (k, v) in from {
            target.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
}

fn rules(obj: &Value, errs: &mut Vec<FieldError>) {
    for (p, _) in items(obj, "/spec/limits") {
        require_nonempty(obj, &format!("{p}/type"), errs);
        one_of(
            obj,
            &format!("{p}/type"),
            &["Pod", "Container", "PersistentVolumeClaim"],
            errs,
        );
        for field in [
            "max",
            "min",
            "default",
            "defaultRequest",
            "maxLimitRequestRatio",
        ] {
            non_negative_quantities(obj, &format!("{p}/{field}"), errs);
        }
    }
}
