//! IPAddresses: one allocated cluster IP, named by the address itself in
//! canonical form, pointing at what holds it (usually a Service). The
//! parent reference is required and fixed.

use k8s_openapi::api::networking::v1::IPAddress;
use serde_json::{json, Value};

use crate::printers::*;
use crate::registry::generic::Typed;
use crate::validation::rules::{require, require_nonempty, unchanged};
use crate::validation::{invalid, FieldError, NameRule::PathSegment};

/// The IPAddress strategy.
pub const STRATEGY: Typed<IPAddress> = Typed::new(COLUMNS, cells)
    .names(PathSegment)
    .rules(rules)
    .update_rules(update_rules);

fn rules(obj: &Value, errs: &mut Vec<FieldError>) {
    let name = s(obj, "/metadata/name");
    let canonical = name.parse::<std::net::IpAddr>().map(|ip| ip.to_string());
    if canonical.as_deref() != Ok(name) {
        errs.push(invalid(
            "metadata.name",
            &json!(name),
            "must be a valid IP address in canonical form",
        ));
    }
    require(obj, "/spec/parentRef", errs);
    if obj.pointer("/spec/parentRef").is_some_and(|r| !r.is_null()) {
        require_nonempty(obj, "/spec/parentRef/resource", errs);
        require_nonempty(obj, "/spec/parentRef/name", errs);
    }
}

fn update_rules(new: &Value, old: &Value, errs: &mut Vec<FieldError>) {
    unchanged(new, old, &["/spec/parentRef"], errs);
}

#[rustfmt::skip]
const COLUMNS: &[Column] = &[
    NAME,
    col("ParentRef", "string", 0, "ParentRef references the resource that an IPAddress is attached to."),
];

fn cells(obj: &Value) -> Vec<Value> {
    let parent = match obj.pointer("/spec/parentRef").filter(|r| r.is_object()) {
        None => "<none>".to_string(),
        Some(r) => {
            let group = s(r, "/group");
            let mut gr = s(r, "/resource").to_lowercase();
            if !group.is_empty() {
                gr = format!("{gr}.{}", group.to_lowercase());
            }
            let ns = s(r, "/namespace");
            if ns.is_empty() {
                format!("{gr}/{}", s(r, "/name"))
            } else {
                format!("{gr}/{ns}/{}", s(r, "/name"))
            }
        }
    };
    vec![json!(s(obj, "/metadata/name")), json!(parent)]
}
