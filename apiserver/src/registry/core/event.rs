//! Events (`core/v1`): what happened to an object, for `kubectl describe`
//! and `kubectl get events`.
//!
//! Validation is upstream's lenient one for `core/v1` writers: an old-style
//! Event (no `eventTime`) only needs its `involvedObject.namespace` to agree
//! with its own namespace (an empty one is allowed in `default`); a new-style
//! one (with `eventTime`, as `events.k8s.io` clients write) must also name
//! its reporting controller (a qualified name) and instance, action and
//! reason, within upstream's length limits. Neither needs the object's kind
//! or name.
//!
//! The same objects are served as `events.k8s.io/v1` Events
//! ([`crate::registry::events::event`]: the conversion and that version's
//! stricter rules).

use std::sync::Arc;

use k8s_openapi::api::core::v1::Event;
use k8s_openapi::schemars::generate::SchemaGenerator;
use serde_json::{json, Value};

use crate::printers::*;
use crate::registry::strategy::{normalize, schema, Strategy};
use crate::registry::versions::Version;
use crate::validation::{invalid, required, FieldError};

/// The Event strategy.
pub struct EventStrategy;

impl Strategy for EventStrategy {
    fn normalize(&self, obj: &mut Value) -> Result<(), String> {
        normalize::<Event>(obj)
    }

    fn schema(&self, gen: &mut SchemaGenerator) -> Option<String> {
        schema::<Event>(gen)
    }

    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        legacy_validation(obj, "reportingComponent")
    }

    fn versions(&self) -> Vec<Version> {
        vec![Version {
            group: Some("events.k8s.io"),
            version: "v1",
            strategy: Arc::new(crate::registry::events::event::EventStrategy),
            to_storage: crate::registry::events::event::to_core,
            from_storage: crate::registry::events::event::from_core,
        }]
    }

    fn columns(&self) -> &'static [Column] {
        COLUMNS
    }

    fn cells(&self, obj: &Value) -> Vec<Value> {
        cells(obj)
    }
}

/// Upstream's `legacyValidateEvent` (see the module docs), on an Event in
/// the `core/v1` shape; `reporting_field` names the reporting controller
/// in errors as the request's version calls it (`reportingComponent` in
/// `core/v1`, `reportingController` in `events.k8s.io/v1`).
pub(crate) fn legacy_validation(ev: &Value, reporting_field: &str) -> Vec<FieldError> {
    let text = |p: &str| ev.pointer(p).and_then(Value::as_str).unwrap_or("");
    let ns = text("/metadata/namespace");
    let involved_ns = text("/involvedObject/namespace");
    let mismatch = || {
        invalid(
            "involvedObject.namespace",
            &json!(involved_ns),
            "does not match event.namespace",
        )
    };
    let mut errs = Vec::new();
    if text("/eventTime").is_empty() {
        let agrees = if involved_ns.is_empty() {
            ns.is_empty() || ns == "default"
        } else {
            ns == involved_ns
        };
        if !agrees {
            errs.push(mismatch());
        }
        return errs;
    }
    if involved_ns.is_empty() && ns != "default" && ns != "kube-system" {
        errs.push(mismatch());
    }
    if let Err(problem) = apimachinery::labels::validate_label_key(text("/reportingComponent")) {
        if !text("/reportingComponent").is_empty() {
            errs.push(invalid(
                reporting_field,
                &json!(text("/reportingComponent")),
                &problem,
            ));
        }
    }
    for (path, field, limit) in [
        ("/reportingComponent", reporting_field, usize::MAX),
        ("/reportingInstance", "reportingInstance", 128),
        ("/action", "action", 128),
        ("/reason", "reason", 128),
    ] {
        let v = text(path);
        if v.is_empty() {
            errs.push(required(field));
        } else if v.len() > limit {
            errs.push(invalid(
                field,
                &json!(""),
                &format!("can have at most {limit} characters"),
            ));
        }
    }
    if text("/message").len() > 1024 {
        errs.push(invalid(
            "message",
            &json!(""),
            "can have at most 1024 characters",
        ));
    }
    errs
}

#[rustfmt::skip]
pub(crate) const COLUMNS: &[Column] = &[
    col("Last Seen", "string", 0, "The time at which the most recent occurrence of this event was recorded."),
    col("Type", "string", 0, "Type of this event (Normal, Warning), new types could be added in the future"),
    col("Reason", "string", 0, "This should be a short, machine understandable string that gives the reason for the transition into the object's current status."),
    col("Object", "string", 0, "The object that this event is about."),
    col("Subobject", "string", 1, "If referring to a piece of an object instead of an entire object, this string should contain a valid JSON/Go field access statement."),
    col("Source", "string", 1, "The component reporting this event."),
    col("Message", "string", 0, "A human-readable description of the status of this operation."),
    col("First Seen", "string", 1, "The time at which the event was first recorded."),
    col("Count", "string", 1, "The number of times this event has occurred."),
    Column {
        name: "Name",
        kind: "string",
        format: "name",
        priority: 1,
        description: NAME_DOC,
    },
];

/// The `kubectl get events` columns, for an Event in the `core/v1` shape.
pub(crate) fn cells(ev: &Value) -> Vec<Value> {
    let first = if parse_time(s(ev, "/firstTimestamp")).is_some() {
        since(s(ev, "/firstTimestamp"))
    } else {
        since(s(ev, "/eventTime"))
    };
    let mut last = if parse_time(s(ev, "/lastTimestamp")).is_some() {
        since(s(ev, "/lastTimestamp"))
    } else {
        first.clone()
    };
    let mut count = n(ev, "/count");
    if let Some(series) = ev.get("series").filter(|v| v.is_object()) {
        last = since(s(series, "/lastObservedTime"));
        count = n(series, "/count");
    } else if count == 0 {
        // Singleton events of the new API carry no count.
        count = 1;
    }
    let kind = s(ev, "/involvedObject/kind").to_lowercase();
    let target = match s(ev, "/involvedObject/name") {
        "" => kind,
        name => format!("{kind}/{name}"),
    };
    let component = or(s(ev, "/source/component"), s(ev, "/reportingComponent"));
    let host = or(s(ev, "/source/host"), s(ev, "/reportingInstance"));
    let source = if host.is_empty() {
        component.to_string()
    } else {
        format!("{component}, {host}")
    };
    vec![
        json!(last),
        json!(s(ev, "/type")),
        json!(s(ev, "/reason")),
        json!(target),
        json!(s(ev, "/involvedObject/fieldPath")),
        json!(source),
        json!(s(ev, "/message").trim()),
        json!(first),
        json!(count),
        json!(s(ev, "/metadata/name")),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(ev: Value) -> Vec<String> {
        legacy_validation(&ev, "reportingComponent")
            .into_iter()
            .map(|e| e.field)
            .collect()
    }

    #[test]
    fn old_style_events_need_only_agreeing_namespaces() {
        // The conformance suite's events name no kind and no object.
        let ev = json!({"metadata": {"namespace": "t"}, "involvedObject": {"namespace": "t"},
                        "reason": "Test", "message": "m"});
        assert!(fields(ev).is_empty());
        let ev = json!({"metadata": {"namespace": "default"}, "involvedObject": {}});
        assert!(fields(ev).is_empty());
        let ev = json!({"metadata": {"namespace": "a"}, "involvedObject": {"namespace": "b"}});
        assert_eq!(fields(ev), ["involvedObject.namespace"]);
        let ev = json!({"metadata": {"namespace": "a"}, "involvedObject": {}});
        assert_eq!(fields(ev), ["involvedObject.namespace"]);
    }

    #[test]
    fn new_style_events_name_their_reporter_action_and_reason() {
        let ev = json!({"metadata": {"namespace": "t"}, "involvedObject": {"namespace": "t"},
                        "eventTime": "2026-12-03T10:00:00.000000Z"});
        assert_eq!(
            fields(ev),
            [
                "reportingComponent",
                "reportingInstance",
                "action",
                "reason"
            ]
        );
        let ev = json!({"metadata": {"namespace": "t"}, "involvedObject": {"namespace": "t"},
                        "eventTime": "2026-12-03T10:00:00.000000Z", "reportingComponent": "c",
                        "reportingInstance": "i", "action": "Do", "reason": "Test"});
        assert!(fields(ev).is_empty());
    }
}
