//! Validating and MutatingAdmissionPolicyBindings: apply a policy, with
//! parameters, to matching requests. The policy name is required; a
//! validating binding says what a failure does (deny, warn, audit); a
//! parameter reference names an object or a selector, not both.

use k8s_openapi::api::admissionregistration::v1::{
    MutatingAdmissionPolicyBinding, ValidatingAdmissionPolicyBinding,
};
use serde_json::{json, Value};

use crate::printers::*;
use crate::registry::generic::Typed;
use crate::validation::rules::{items, one_of, require_nonempty};
use crate::validation::{invalid, FieldError};

/// The ValidatingAdmissionPolicyBinding strategy.
pub const VALIDATING: Typed<ValidatingAdmissionPolicyBinding> =
    Typed::new(COLUMNS, cells).rules(validating_rules);
/// The MutatingAdmissionPolicyBinding strategy.
pub const MUTATING: Typed<MutatingAdmissionPolicyBinding> = Typed::new(COLUMNS, cells).rules(rules);

fn rules(obj: &Value, errs: &mut Vec<FieldError>) {
    require_nonempty(obj, "/spec/policyName", errs);
    if let Some(r) = obj.pointer("/spec/paramRef").filter(|r| r.is_object()) {
        let named = !s(r, "/name").is_empty();
        let selected = r.get("selector").is_some_and(|v| !v.is_null());
        if named == selected {
            errs.push(invalid(
                "spec.paramRef",
                r,
                "one of name or selector must be set",
            ));
        }
        one_of(
            obj,
            "/spec/paramRef/parameterNotFoundAction",
            &["Allow", "Deny"],
            errs,
        );
    }
}

fn validating_rules(obj: &Value, errs: &mut Vec<FieldError>) {
    rules(obj, errs);
    require_nonempty(obj, "/spec/validationActions", errs);
    for (p, _) in items(obj, "/spec/validationActions") {
        one_of(obj, &p, &["Deny", "Warn", "Audit"], errs);
    }
}

#[rustfmt::skip]
const COLUMNS: &[Column] = &[
    NAME,
    col("PolicyName", "string", 0, "PolicyName indicates the policy definition which the policy binding binded to"),
    col("ParamRef", "string", 0, "ParamRef indicates the param resource which sets the configuration param"),
    AGE,
];

fn cells(obj: &Value) -> Vec<Value> {
    let param = match obj.pointer("/spec/paramRef").filter(|r| r.is_object()) {
        None => "<unset>".to_string(),
        Some(r) if !s(r, "/name").is_empty() => {
            format!("{}/{}", or(s(r, "/namespace"), "*"), s(r, "/name"))
        }
        Some(r) => format_label_selector(r.get("selector")),
    };
    row(obj, vec![json!(s(obj, "/spec/policyName")), json!(param)])
}
