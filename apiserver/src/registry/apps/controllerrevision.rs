//! ControllerRevisions: immutable snapshots of a DaemonSet's or
//! StatefulSet's template, for rollbacks. The data is required and fixed;
//! the revision number is not negative.

use k8s_openapi::api::apps::v1::ControllerRevision;
use serde_json::{json, Value};

use crate::printers::*;
use crate::registry::generic::Typed;
use crate::validation::rules::{at_least, require, unchanged};
use crate::validation::FieldError;

/// The ControllerRevision strategy.
pub const STRATEGY: Typed<ControllerRevision> = Typed::new(COLUMNS, cells)
    .rules(rules)
    .update_rules(update_rules);

fn rules(obj: &Value, errs: &mut Vec<FieldError>) {
    require(obj, "/data", errs);
    at_least(obj, "/revision", 0, errs);
}

fn update_rules(new: &Value, old: &Value, errs: &mut Vec<FieldError>) {
    unchanged(new, old, &["/data"], errs);
}

#[rustfmt::skip]
const COLUMNS: &[Column] = &[
    NAME,
    col("Controller", "string", 0, "Controller of the object"),
    col("Revision", "string", 0, "Revision indicates the revision of the state represented by Data."),
    AGE,
];

fn cells(obj: &Value) -> Vec<Value> {
    let owner = arr(obj, "/metadata/ownerReferences")
        .iter()
        .find(|o| b(o, "/controller"));
    let controller = match owner {
        None => "<none>".to_string(),
        Some(o) => {
            // Upstream prints `kind.group/name` in lower case (`daemonset.apps/web`).
            let group = s(o, "/apiVersion").rsplit_once('/').map_or("", |(g, _)| g);
            let kind = s(o, "/kind").to_lowercase();
            let kind = if group.is_empty() {
                kind
            } else {
                format!("{kind}.{group}")
            };
            format!("{kind}/{}", s(o, "/name"))
        }
    };
    row(obj, vec![json!(controller), json!(n(obj, "/revision"))])
}
