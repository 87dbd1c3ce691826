//! Events at `events.k8s.io/v1`: the newer shape of the Events kept as
//! `core/v1` (upstream serves both groups from one storage, so an Event
//! written in one shape reads in the other, and both lists hold the same
//! objects).
//!
//! The shapes differ in names only:
//!
//! | `events.k8s.io/v1` | `core/v1` |
//! | --- | --- |
//! | `regarding` | `involvedObject` |
//! | `note` | `message` |
//! | `reportingController` | `reportingComponent` |
//! | `deprecatedSource` | `source` |
//! | `deprecatedFirstTimestamp` | `firstTimestamp` |
//! | `deprecatedLastTimestamp` | `lastTimestamp` |
//! | `deprecatedCount` | `count` |
//!
//! and the field selectors use the new names (`regarding.kind`,
//! `reportingController`), translated to the stored ones.
//!
//! Validation is upstream's: the rules of every Event (the `core/v1`
//! ones, [`crate::registry::core::event`]), and for writes in this version
//! the strict ones of the new API. A new Event has an `eventTime`, a `type`
//! of `Normal` or `Warning`, a `series` of at least two occurrences when it
//! has one, and none of the deprecated fields; an update may change only
//! the `series` (and metadata). Errors name fields as upstream's do, by
//! their `core/v1` names.

use k8s_openapi::api::events::v1::Event;
use k8s_openapi::schemars::generate::SchemaGenerator;
use serde_json::{json, Map, Value};

use crate::printers::Column;
use crate::registry::core::event as core_event;
use crate::registry::strategy::{normalize, schema, Strategy};
use crate::registry::versions::ConversionError;
use crate::validation::{immutable, invalid, required, FieldError};

/// The `events.k8s.io/v1` Event strategy.
pub struct EventStrategy;

/// Field names of this version and of `core/v1`.
const RENAMED: &[(&str, &str)] = &[
    ("regarding", "involvedObject"),
    ("note", "message"),
    ("reportingController", "reportingComponent"),
    ("deprecatedSource", "source"),
    ("deprecatedFirstTimestamp", "firstTimestamp"),
    ("deprecatedLastTimestamp", "lastTimestamp"),
    ("deprecatedCount", "count"),
];

/// The field selectors of this version and the stored fields they read
/// (upstream's `AddFieldLabelConversionsForEvent`).
const FIELD_LABELS: &[(&str, &str)] = &[
    ("metadata.name", "metadata.name"),
    ("metadata.namespace", "metadata.namespace"),
    ("reason", "reason"),
    ("type", "type"),
    ("reportingController", "reportingComponent"),
    ("regarding.kind", "involvedObject.kind"),
    ("regarding.namespace", "involvedObject.namespace"),
    ("regarding.name", "involvedObject.name"),
    ("regarding.uid", "involvedObject.uid"),
    ("regarding.apiVersion", "involvedObject.apiVersion"),
    (
        "regarding.resourceVersion",
        "involvedObject.resourceVersion",
    ),
    ("regarding.fieldPath", "involvedObject.fieldPath"),
];

/// `obj` with its fields renamed by `pairs` (from the first name to the
/// second) and the `apiVersion` set; every other field is kept.
fn rename(
    obj: &Value,
    pairs: &[(&str, &str)],
    api_version: &str,
    forward: bool,
) -> Result<Value, ConversionError> {
    let Some(fields) = obj.as_object() else {
        return Err(ConversionError::NotAnObject {
            kind: "Event",
            to: api_version.to_string(),
        });
    };
    let mut out = Map::with_capacity(fields.len());
    for (name, value) in fields {
        let renamed = pairs.iter().find_map(|(a, b)| {
            let (from, to) = if forward { (a, b) } else { (b, a) };
            (*from == name.as_str()).then_some(*to)
        });
        out.insert(renamed.unwrap_or(name).to_string(), value.clone());
    }
    out.insert("apiVersion".into(), json!(api_version));
    out.insert("kind".into(), json!("Event"));
    Ok(Value::Object(out))
}

/// An `events.k8s.io/v1` Event in the `core/v1` shape it is stored in.
pub fn to_core(obj: &Value) -> Result<Value, ConversionError> {
    rename(obj, RENAMED, "v1", true)
}

/// A stored `core/v1` Event in the `events.k8s.io/v1` shape.
pub fn from_core(obj: &Value) -> Result<Value, ConversionError> {
    rename(obj, RENAMED, "events.k8s.io/v1", false)
}

/// `obj` in the `core/v1` shape, for the rules and the printer, which are
/// written for it; an object that is not one converts to nothing.
fn core_shape(obj: &Value) -> Value {
    to_core(obj).unwrap_or(Value::Null)
}

/// Whether the time at `pointer` is set (upstream compares with Go's
/// zero time, which JSON leaves out).
fn is_set(obj: &Value, pointer: &str) -> bool {
    obj.pointer(pointer).is_some_and(|v| !v.is_null())
}

/// Upstream's `validateV1EventSeries`.
fn series_rules(ev: &Value, errs: &mut Vec<FieldError>) {
    let Some(series) = ev.get("series").filter(|s| s.is_object()) else {
        return;
    };
    if series.get("count").and_then(Value::as_i64).unwrap_or(0) < 2 {
        errs.push(invalid("series.count", &json!(""), "should be at least 2"));
    }
    if !is_set(series, "/lastObservedTime") {
        errs.push(required("series.lastObservedTime"));
    }
}

/// The strict rules of a new Event written in this version (upstream's
/// `ValidateEventCreate` past the legacy rules), on the `core/v1` shape.
fn create_rules(ev: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    series_rules(ev, &mut errs);
    if !is_set(ev, "/eventTime") {
        errs.push(required("eventTime"));
    }
    let kind = ev.get("type").and_then(Value::as_str).unwrap_or("");
    if kind != "Normal" && kind != "Warning" {
        errs.push(invalid(
            "type",
            &json!(""),
            &format!("has invalid value: {kind}"),
        ));
    }
    for field in ["firstTimestamp", "lastTimestamp"] {
        if is_set(ev, &format!("/{field}")) {
            errs.push(invalid(field, &json!(""), "needs to be unset"));
        }
    }
    if ev.get("count").and_then(Value::as_i64).unwrap_or(0) != 0 {
        errs.push(invalid("count", &json!(""), "needs to be unset"));
    }
    let source_set = ["/source/component", "/source/host"].iter().any(|p| {
        ev.pointer(p)
            .and_then(Value::as_str)
            .is_some_and(|s| !s.is_empty())
    });
    if source_set {
        errs.push(invalid("source", &json!(""), "needs to be unset"));
    }
    errs
}

/// What an update in this version may not change (upstream's
/// `ValidateEventUpdate`): everything but the series, on the `core/v1`
/// shape.
fn update_rules(new: &Value, old: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if new.get("series") != old.get("series") {
        series_rules(new, &mut errs);
    }
    for field in [
        "involvedObject",
        "reason",
        "message",
        "source",
        "firstTimestamp",
        "lastTimestamp",
        "count",
        "type",
        "action",
        "related",
        "reportingComponent",
        "reportingInstance",
    ] {
        let value = new.get(field).unwrap_or(&Value::Null);
        if value != old.get(field).unwrap_or(&Value::Null) {
            let name = if field == "reportingComponent" {
                "reportingController"
            } else {
                field
            };
            errs.push(immutable(name, value));
        }
    }
    // Upstream tolerates changes below a microsecond, which a MicroTime
    // cannot carry: the written forms compare as they are.
    let event_time = new.get("eventTime").unwrap_or(&Value::Null);
    if event_time != old.get("eventTime").unwrap_or(&Value::Null) {
        errs.push(immutable("eventTime", event_time));
    }
    errs
}

impl Strategy for EventStrategy {
    fn normalize(&self, obj: &mut Value) -> Result<(), String> {
        normalize::<Event>(obj)
    }

    fn schema(&self, gen: &mut SchemaGenerator) -> Option<String> {
        schema::<Event>(gen)
    }

    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        core_event::legacy_validation(&core_shape(obj), "reportingController")
    }

    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        create_rules(&core_shape(obj))
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        update_rules(&core_shape(new), &core_shape(old))
    }

    fn field_label(&self, label: &str) -> Result<String, String> {
        FIELD_LABELS
            .iter()
            .find(|(mine, _)| *mine == label)
            .map(|(_, stored)| stored.to_string())
            .ok_or_else(|| format!("field label not supported: {label}"))
    }

    fn columns(&self) -> &'static [Column] {
        core_event::COLUMNS
    }

    fn cells(&self, obj: &Value) -> Vec<Value> {
        core_event::cells(&core_shape(obj))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_style() -> Value {
        json!({"apiVersion": "events.k8s.io/v1", "kind": "Event",
               "metadata": {"name": "e", "namespace": "t"},
               "regarding": {"namespace": "t", "kind": "Pod", "name": "p"},
               "eventTime": "2017-09-19T13:49:16.000000Z", "note": "This is e",
               "action": "Do", "reason": "Test", "type": "Normal",
               "reportingController": "test-controller", "reportingInstance": "test-node"})
    }

    fn fields(errs: Vec<FieldError>) -> Vec<String> {
        errs.into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn converts_both_ways_without_loss() {
        let ev = new_style();
        let core = to_core(&ev).expect("to core");
        assert_eq!(core["apiVersion"], "v1");
        assert_eq!(core["involvedObject"]["name"], "p");
        assert_eq!(core["message"], "This is e");
        assert_eq!(core["reportingComponent"], "test-controller");
        assert!(core.get("regarding").is_none() && core.get("note").is_none());
        assert_eq!(from_core(&core).expect("back"), ev);

        let old = json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "o"},
                         "involvedObject": {"kind": "Pod"}, "source": {"component": "kubelet"},
                         "firstTimestamp": "2026-01-01T00:00:00Z", "count": 3});
        let new = from_core(&old).expect("from core");
        assert_eq!(new["deprecatedSource"]["component"], "kubelet");
        assert_eq!(new["deprecatedFirstTimestamp"], "2026-01-01T00:00:00Z");
        assert_eq!(new["deprecatedCount"], 3);
        assert_eq!(to_core(&new).expect("round trip"), old);
        assert!(to_core(&json!([])).is_err());
    }

    #[test]
    fn new_events_follow_the_strict_rules() {
        let s = EventStrategy;
        let ev = new_style();
        assert!(s.validate(&ev).is_empty() && s.validate_create(&ev).is_empty());

        let mut bad = new_style();
        bad["type"] = json!("Odd");
        bad["deprecatedCount"] = json!(2);
        bad["deprecatedSource"] = json!({"component": "x"});
        bad["series"] = json!({"count": 1});
        bad["reportingController"] = json!("not a qualified name!");
        assert_eq!(
            fields(s.validate_create(&bad)),
            [
                "series.count",
                "series.lastObservedTime",
                "type",
                "count",
                "source"
            ]
        );
        assert_eq!(fields(s.validate(&bad)), ["reportingController"]);
        let mut timeless = new_style();
        timeless.as_object_mut().map(|m| m.remove("eventTime"));
        assert_eq!(fields(s.validate_create(&timeless)), ["eventTime"]);
    }

    #[test]
    fn updates_may_change_only_the_series() {
        let s = EventStrategy;
        let old = new_style();
        let mut new = new_style();
        new["series"] = json!({"count": 2, "lastObservedTime": "2017-09-19T13:49:11.000000Z"});
        assert!(s.validate_update(&new, &old).is_empty());
        new["note"] = json!("changed");
        new["reportingController"] = json!("other");
        assert_eq!(
            fields(s.validate_update(&new, &old)),
            ["message", "reportingController"]
        );
    }

    #[test]
    fn field_selectors_use_the_new_names() {
        let s = EventStrategy;
        assert_eq!(
            s.field_label("regarding.kind").as_deref(),
            Ok("involvedObject.kind")
        );
        assert_eq!(
            s.field_label("reportingController").as_deref(),
            Ok("reportingComponent")
        );
        assert!(s.field_label("involvedObject.kind").is_err());
        assert!(s.field_label("source").is_err());
    }
}
