//! RuntimeClasses: a container runtime configuration (handler) pods can
//! ask for, with its pod overhead and where it is available. The handler is
//! a DNS label, required and fixed.

use k8s_openapi::api::node::v1::RuntimeClass;
use serde_json::{json, Value};

use crate::printers::*;
use crate::registry::generic::Typed;
use crate::validation::object_meta::DNS1123_LABEL_MSG;
use crate::validation::rules::{require_nonempty, unchanged};
use crate::validation::{invalid, is_dns1123_label, FieldError};

/// The RuntimeClass strategy.
pub const STRATEGY: Typed<RuntimeClass> = Typed::new(COLUMNS, cells)
    .rules(rules)
    .update_rules(update_rules);

fn rules(obj: &Value, errs: &mut Vec<FieldError>) {
    require_nonempty(obj, "/handler", errs);
    let handler = s(obj, "/handler");
    if !handler.is_empty() && !is_dns1123_label(handler) {
        errs.push(invalid("handler", &json!(handler), DNS1123_LABEL_MSG));
    }
}

fn update_rules(new: &Value, old: &Value, errs: &mut Vec<FieldError>) {
    unchanged(new, old, &["/handler"], errs);
}

#[rustfmt::skip]
const COLUMNS: &[Column] = &[
    NAME,
    col("Handler", "string", 0, "handler specifies the underlying runtime and configuration that the CRI implementation will use to handle pods of this class."),
    AGE,
];

fn cells(obj: &Value) -> Vec<Value> {
    row(obj, vec![json!(s(obj, "/handler"))])
}
