//! Validating and MutatingAdmissionPolicies: CEL admission rules. A
//! validating policy needs validations or audit annotations, each with an
//! expression; a mutating policy needs mutations of a known patch type.
//! Upstream's defaults: fail closed, equivalent matching, empty selectors
//! and (mutating) no reinvocation.

use k8s_openapi::api::admissionregistration::v1::{
    MutatingAdmissionPolicy, ValidatingAdmissionPolicy,
};
use serde_json::{json, Value};

use crate::defaults::set_default;
use crate::printers::*;
use crate::registry::generic::Typed;
use crate::validation::rules::{items, one_of, require, require_nonempty};
use crate::validation::{required, FieldError};

/// The ValidatingAdmissionPolicy strategy.
pub const VALIDATING: Typed<ValidatingAdmissionPolicy> =
    Typed::new(VALIDATING_COLUMNS, validating_cells)
        .status_keeps_metadata()
        .defaults(defaults)
        .rules(validating_rules)
        .with_status();
/// The MutatingAdmissionPolicy strategy.
pub const MUTATING: Typed<MutatingAdmissionPolicy> = Typed::new(MUTATING_COLUMNS, mutating_cells)
    .defaults(mutating_defaults)
    .rules(mutating_rules);

fn defaults(obj: &mut Value) {
    set_default(obj, &["spec", "failurePolicy"], json!("Fail"));
    if obj
        .pointer("/spec/matchConstraints")
        .is_some_and(Value::is_object)
    {
        set_default(
            obj,
            &["spec", "matchConstraints", "matchPolicy"],
            json!("Equivalent"),
        );
        set_default(
            obj,
            &["spec", "matchConstraints", "namespaceSelector"],
            json!({}),
        );
        set_default(
            obj,
            &["spec", "matchConstraints", "objectSelector"],
            json!({}),
        );
    }
}

fn mutating_defaults(obj: &mut Value) {
    defaults(obj);
    set_default(obj, &["spec", "reinvocationPolicy"], json!("Never"));
}

fn common_rules(obj: &Value, errs: &mut Vec<FieldError>) {
    require(obj, "/spec/matchConstraints", errs);
    one_of(obj, "/spec/failurePolicy", &["Fail", "Ignore"], errs);
    for (p, _) in items(obj, "/spec/matchConditions") {
        require_nonempty(obj, &format!("{p}/name"), errs);
        require_nonempty(obj, &format!("{p}/expression"), errs);
    }
}

fn validating_rules(obj: &Value, errs: &mut Vec<FieldError>) {
    common_rules(obj, errs);
    let validations = items(obj, "/spec/validations");
    let audits = items(obj, "/spec/auditAnnotations");
    if validations.is_empty() && audits.is_empty() {
        errs.push(FieldError {
            message:
                "Required value: validations or auditAnnotations must contain at least one item"
                    .into(),
            ..required("spec.validations")
        });
    }
    for (p, _) in validations {
        require_nonempty(obj, &format!("{p}/expression"), errs);
    }
    for (p, _) in audits {
        require_nonempty(obj, &format!("{p}/key"), errs);
        require_nonempty(obj, &format!("{p}/valueExpression"), errs);
    }
}

fn mutating_rules(obj: &Value, errs: &mut Vec<FieldError>) {
    common_rules(obj, errs);
    require_nonempty(obj, "/spec/mutations", errs);
    for (p, _) in items(obj, "/spec/mutations") {
        require_nonempty(obj, &format!("{p}/patchType"), errs);
        one_of(
            obj,
            &format!("{p}/patchType"),
            &["ApplyConfiguration", "JSONPatch"],
            errs,
        );
    }
    one_of(
        obj,
        "/spec/reinvocationPolicy",
        &["Never", "IfNeeded"],
        errs,
    );
}

const PARAM_KIND: Column = col(
    "ParamKind",
    "string",
    0,
    "ParamKind specifies the kind of resources used to parameterize this policy",
);

#[rustfmt::skip]
const VALIDATING_COLUMNS: &[Column] = &[
    NAME,
    col("Validations", "integer", 0, "Validations indicates the number of validation rules defined in this configuration"),
    PARAM_KIND,
    AGE,
];

#[rustfmt::skip]
const MUTATING_COLUMNS: &[Column] = &[
    NAME,
    col("Mutations", "integer", 0, "Mutation indicates the number of mutations rules defined in this configuration"),
    PARAM_KIND,
    AGE,
];

/// Name, the number of rules in `list`, the parameter kind, age.
fn policy_cells(obj: &Value, list: &str) -> Vec<Value> {
    let param = match obj.pointer("/spec/paramKind").filter(|p| p.is_object()) {
        Some(p) => format!("{}/{}", s(p, "/apiVersion"), s(p, "/kind")),
        None => "<unset>".into(),
    };
    row(obj, vec![json!(arr(obj, list).len()), json!(param)])
}

fn validating_cells(obj: &Value) -> Vec<Value> {
    policy_cells(obj, "/spec/validations")
}

fn mutating_cells(obj: &Value) -> Vec<Value> {
    policy_cells(obj, "/spec/mutations")
}
