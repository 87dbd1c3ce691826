//! IngressClasses: which controller implements Ingresses of a class. The
//! controller is required, fixed and a domain-prefixed path
//! (`minik8s.io/ingress`, at most 250 bytes); parameters are cluster-scoped
//! unless they say `Namespace` (and then name one; a cluster-scoped
//! reference may not). Messages as upstream's.

use k8s_openapi::api::networking::v1::IngressClass;
use serde_json::{json, Value};

use crate::defaults::set_default;
use crate::printers::*;
use crate::registry::generic::Typed;
use crate::validation::rules::{one_of, require_nonempty, unchanged};
use crate::validation::{forbidden, invalid, name_problems, FieldError, FieldErrorKind, NameRule};

/// Upstream's limit on `spec.controller`.
const MAX_CONTROLLER_LEN: usize = 250;

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
    let controller = s(obj, "/spec/controller");
    if controller.len() > MAX_CONTROLLER_LEN {
        errs.push(FieldError {
            kind: FieldErrorKind::TooLong,
            field: "spec.controller".into(),
            message: format!("Too long: may not be more than {MAX_CONTROLLER_LEN} bytes"),
        });
    }
    if !controller.is_empty() {
        domain_prefixed_path(controller, errs);
    }
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
        let namespaced = obj
            .pointer("/spec/parameters/namespace")
            .is_some_and(|n| !n.is_null());
        match s(obj, "/spec/parameters/scope") {
            "Namespace" => require_nonempty(obj, "/spec/parameters/namespace", errs),
            "Cluster" if namespaced => errs.push(forbidden(
                "spec.parameters.namespace",
                "`parameters.scope` is set to 'Cluster'",
            )),
            _ => {}
        }
    }
}

/// Upstream's `IsDomainPrefixedPath`: a DNS subdomain, `/`, and a
/// non-empty path of RFC 3986 path characters.
fn domain_prefixed_path(value: &str, errs: &mut Vec<FieldError>) {
    let field = "spec.controller";
    let Some((host, path)) = value
        .split_once('/')
        .filter(|(h, p)| !h.is_empty() && !p.is_empty())
    else {
        errs.push(invalid(
            field,
            &json!(value),
            "must be a domain-prefixed path (such as \"acme.io/foo\")",
        ));
        return;
    };
    for p in name_problems(NameRule::Dns1123Subdomain, host) {
        errs.push(invalid(field, &json!(host), &p));
    }
    let path_char = |c: char| c.is_ascii_alphanumeric() || "/-._~%!$&'()*+,;=:".contains(c);
    if !path.chars().all(path_char) {
        errs.push(invalid(
            field,
            &json!(path),
            "Invalid path (regex used for validation is '[A-Za-z0-9/\\-._~%!$&'()*+,;=:]+')",
        ));
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

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(spec: Value) -> Vec<String> {
        let mut errs = Vec::new();
        rules(&json!({"metadata": {"name": "c"}, "spec": spec}), &mut errs);
        errs.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn controllers_are_domain_prefixed_paths_and_scopes_are_kept() {
        assert!(problems(json!({"controller": "minik8s.io/ingress"})).is_empty());
        assert_eq!(
            problems(json!({"controller": "ingress"})),
            ["spec.controller: Invalid value: \"ingress\": must be a domain-prefixed path (such as \"acme.io/foo\")"]
        );
        assert_eq!(problems(json!({"controller": "Acme.io/x"})).len(), 1);
        assert_eq!(problems(json!({"controller": "acme.io/a b"})).len(), 1);
        assert_eq!(
            problems(json!({"controller": format!("acme.io/{}", "x".repeat(250))}))[0],
            "spec.controller: Too long: may not be more than 250 bytes"
        );
        assert_eq!(
            problems(json!({"controller": "acme.io/x", "parameters": {
                "kind": "K", "name": "n", "scope": "Cluster", "namespace": "ns"}})),
            ["spec.parameters.namespace: Forbidden: `parameters.scope` is set to 'Cluster'"]
        );
    }
}
