//! FlowSchemas: which requests go to which priority level. The level is
//! required; precedence defaults to 1000 and lies in 1..=10000; flows are
//! distinguished by user or namespace; subjects are users, groups or
//! service accounts.

use k8s_openapi::api::flowcontrol::v1::FlowSchema;
use serde_json::{json, Value};

use crate::defaults::set_default;
use crate::printers::*;
use crate::registry::generic::Typed;
use crate::validation::rules::{at_least, items, one_of, require_nonempty};
use crate::validation::{invalid, FieldError};

/// The FlowSchema strategy.
pub const STRATEGY: Typed<FlowSchema> = Typed::new(COLUMNS, cells)
    .defaults(defaults)
    .rules(rules)
    .with_status();

fn defaults(obj: &mut Value) {
    set_default(obj, &["spec", "matchingPrecedence"], json!(1000));
}

fn rules(obj: &Value, errs: &mut Vec<FieldError>) {
    require_nonempty(obj, "/spec/priorityLevelConfiguration/name", errs);
    at_least(obj, "/spec/matchingPrecedence", 1, errs);
    let precedence = n(obj, "/spec/matchingPrecedence");
    if precedence > 10000 {
        errs.push(invalid(
            "spec.matchingPrecedence",
            &json!(precedence),
            "must not be greater than 10000",
        ));
    }
    one_of(
        obj,
        "/spec/distinguisherMethod/type",
        &["ByUser", "ByNamespace"],
        errs,
    );
    for (rule, _) in items(obj, "/spec/rules") {
        require_nonempty(obj, &format!("{rule}/subjects"), errs);
        for (subject, _) in items(obj, &format!("{rule}/subjects")) {
            one_of(
                obj,
                &format!("{subject}/kind"),
                &["User", "Group", "ServiceAccount"],
                errs,
            );
        }
    }
}

#[rustfmt::skip]
const COLUMNS: &[Column] = &[
    NAME,
    col("PriorityLevel", "string", 0, "`name` is the name of the priority level configuration being referenced Required."),
    col("MatchingPrecedence", "string", 0, "`matchingPrecedence` is used to choose among the FlowSchemas that match a given request."),
    col("DistinguisherMethod", "string", 0, "`distinguisherMethod` defines how to compute the flow distinguisher for requests that match this schema."),
    AGE,
    col("MissingPL", "string", 0, "references a broken or non-existent PriorityLevelConfiguration"),
];

fn cells(obj: &Value) -> Vec<Value> {
    let dangling = arr(obj, "/status/conditions")
        .iter()
        .find(|c| s(c, "/type") == "Dangling")
        .map_or("?", |c| s(c, "/status"));
    vec![
        json!(s(obj, "/metadata/name")),
        json!(s(obj, "/spec/priorityLevelConfiguration/name")),
        json!(n(obj, "/spec/matchingPrecedence")),
        json!(or(s(obj, "/spec/distinguisherMethod/type"), "<none>")),
        json!(age(obj)),
        json!(dangling),
    ]
}
