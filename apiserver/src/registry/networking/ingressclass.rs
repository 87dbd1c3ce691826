//! IngressClasses: which controller implements Ingresses of a class. The
//! controller is required and fixed; parameters are cluster-scoped unless
//! they name a namespace.

use k8s_openapi::api::networking::v1::IngressClass;
use serde_json::{json, Value};

use crate::defaults::set_default;
use crate::printers::*;
use crate::registry::generic::Typed;
use crate::validation::rules::{one_of, require_nonempty, unchanged};
use crate::validation::FieldError;

/// The IngressClass strategy.
pub const STRATEGY: Typed<IngressClass> = Typed::new(COLUMNS, cells)
    .defaults(defaults)
    .rules(rules)
    .update_rules(update_rules);

fn defaults(obj: &mut Value) {
    if obj
        .pointer("/spec/parameters")
        .is_some_and(Value::is_object)
    {
        set_default(obj, &["spec", "parameters", "scope"], json!("Cluster"));
    }
}

fn rules(obj: &Value, errs: &mut Vec<FieldError>) {
    require_nonempty(obj, "/spec/controller", errs);
    if obj
        .pointer("/spec/parameters")
        .is_some_and(Value::is_object)
    {
        require_nonempty(obj, "/spec/parameters/kind", errs);
        require_nonempty(obj, "/spec/parameters/name", errs);
        one_of(
            obj,
            "/spec/parameters/scope",
            &["Cluster", "Namespace"],
            errs,
        );
        if s(obj, "/spec/parameters/scope") == "Namespace" {
            require_nonempty(obj, "/spec/parameters/namespace", errs);
        }
    }
}

fn update_rules(new: &Value, old: &Value, errs: &mut Vec<FieldError>) {
    unchanged(new, old, &["/spec/controller"], errs);
}

#[rustfmt::skip]
const COLUMNS: &[Column] = &[
    NAME,
    col("Controller", "string", 0, "Controller that is responsible for handling this class"),
    col("Parameters", "string", 0, "A reference to a resource with additional parameters"),
    AGE,
];

fn cells(obj: &Value) -> Vec<Value> {
    let mut name = s(obj, "/metadata/name").to_string();
    if obj
        .pointer("/metadata/annotations/ingressclass.kubernetes.io~1is-default-class")
        .and_then(Value::as_str)
        == Some("true")
    {
        name.push_str(" (default)");
    }
    let parameters = match obj.pointer("/spec/parameters").filter(|p| p.is_object()) {
        None => "<none>".to_string(),
        Some(p) => {
            let group = s(p, "/apiGroup");
            let kind = if group.is_empty() {
                s(p, "/kind").to_string()
            } else {
                format!("{}.{group}", s(p, "/kind"))
            };
            format!("{kind}/{}", s(p, "/name"))
        }
    };
    vec![
        json!(name),
        json!(s(obj, "/spec/controller")),
        json!(parameters),
        json!(age(obj)),
    ]
}
