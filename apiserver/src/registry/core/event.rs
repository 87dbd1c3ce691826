//! Events (`core/v1`): what happened to an object, for `kubectl describe`
//! and `kubectl get events`. An Event must say what it is about
//! (`involvedObject`).

use k8s_openapi::api::core::v1::Event;
use k8s_openapi::schemars::generate::SchemaGenerator;
use serde_json::{json, Value};

use crate::printers::*;
use crate::registry::strategy::{normalize, schema, Strategy};
use crate::validation::{required, FieldError};

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
        let mut errs = Vec::new();
        if obj.pointer("/involvedObject/kind").is_none()
            && obj.pointer("/involvedObject/name").is_none()
        {
            errs.push(required("involvedObject"));
        }
        errs
    }

    fn columns(&self) -> &'static [Column] {
        COLUMNS
    }

    fn cells(&self, obj: &Value) -> Vec<Value> {
        cells(obj)
    }
}

#[rustfmt::skip]
const COLUMNS: &[Column] = &[
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

fn cells(ev: &Value) -> Vec<Value> {
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
