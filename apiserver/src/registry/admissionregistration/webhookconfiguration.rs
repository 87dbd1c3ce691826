//! Mutating and ValidatingWebhookConfigurations: the webhooks called on
//! admission. Each webhook has a unique fully qualified name, exactly one of
//! a URL and a Service to call, declared side effects and the AdmissionReview
//! versions it speaks. Upstream's defaults: fail closed, equivalent
//! matching, empty selectors, a 10 s timeout, Service port 443, any scope,
//! and (mutating) no reinvocation.

use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, ValidatingWebhookConfiguration,
};
use serde_json::{json, Value};

use crate::defaults::set_default;
use crate::printers::*;
use crate::registry::generic::Typed;
use crate::validation::rules::{at_least, field_path, items, one_of, require_nonempty};
use crate::validation::{invalid, FieldError, FieldErrorKind};

/// The MutatingWebhookConfiguration strategy.
pub const MUTATING: Typed<MutatingWebhookConfiguration> = Typed::new(COLUMNS, cells)
    .defaults(mutating_defaults)
    .rules(rules);
/// The ValidatingWebhookConfiguration strategy.
pub const VALIDATING: Typed<ValidatingWebhookConfiguration> =
    Typed::new(COLUMNS, cells).defaults(defaults).rules(rules);

fn each_webhook(obj: &mut Value, f: impl Fn(&mut Value)) {
    for hook in obj
        .get_mut("webhooks")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        f(hook);
    }
}

fn defaults(obj: &mut Value) {
    each_webhook(obj, |hook| {
        set_default(hook, &["failurePolicy"], json!("Fail"));
        set_default(hook, &["matchPolicy"], json!("Equivalent"));
        set_default(hook, &["namespaceSelector"], json!({}));
        set_default(hook, &["objectSelector"], json!({}));
        set_default(hook, &["timeoutSeconds"], json!(10));
        if hook
            .pointer("/clientConfig/service")
            .is_some_and(Value::is_object)
        {
            set_default(hook, &["clientConfig", "service", "port"], json!(443));
        }
        for rule in hook
            .get_mut("rules")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            set_default(rule, &["scope"], json!("*"));
        }
    });
}

fn mutating_defaults(obj: &mut Value) {
    defaults(obj);
    each_webhook(obj, |hook| {
        set_default(hook, &["reinvocationPolicy"], json!("Never"))
    });
}

fn rules(obj: &Value, errs: &mut Vec<FieldError>) {
    let mut seen = Vec::new();
    for (p, hook) in items(obj, "/webhooks") {
        let name = s(hook, "/name");
        require_nonempty(obj, &format!("{p}/name"), errs);
        if !name.is_empty() && name.split('.').filter(|s| !s.is_empty()).count() < 3 {
            errs.push(invalid(
                field_path(&format!("{p}/name")),
                &json!(name),
                "should be a domain with at least three segments separated by dots",
            ));
        }
        if seen.contains(&name) {
            errs.push(FieldError {
                kind: FieldErrorKind::Duplicate,
                field: field_path(&format!("{p}/name")),
                message: format!("Duplicate value: {name:?}"),
            });
        }
        seen.push(name);
        crate::validation::webhook::validate_client_config(
            &hook["clientConfig"],
            &field_path(&format!("{p}/clientConfig")),
            errs,
        );
        let versions = hook
            .get("admissionReviewVersions")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if !versions.is_empty()
            && !versions
                .iter()
                .any(|v| matches!(v.as_str(), Some("v1") | Some("v1beta1")))
        {
            errs.push(invalid(
                field_path(&format!("{p}/admissionReviewVersions")),
                &json!(versions),
                "must include at least one of v1, v1beta1",
            ));
        }
        let mut condition_names = Vec::new();
        for (c, cond) in items(obj, &format!("{p}/matchConditions")) {
            require_nonempty(obj, &format!("{c}/name"), errs);
            let cname = s(cond, "/name");
            if !cname.is_empty() && condition_names.contains(&cname) {
                errs.push(FieldError {
                    kind: FieldErrorKind::Duplicate,
                    field: field_path(&format!("{c}/name")),
                    message: format!("Duplicate value: {cname:?}"),
                });
            }
            condition_names.push(cname);
            require_nonempty(obj, &format!("{c}/expression"), errs);
            let expr = s(cond, "/expression");
            if let Some(e) = (!expr.is_empty())
                .then(|| crate::admission::webhook::predicates::compile_error(expr))
                .flatten()
            {
                errs.push(invalid(
                    field_path(&format!("{c}/expression")),
                    &json!(expr),
                    &format!("compilation failed: {e}"),
                ));
            }
        }
        require_nonempty(obj, &format!("{p}/sideEffects"), errs);
        one_of(
            obj,
            &format!("{p}/sideEffects"),
            &["None", "NoneOnDryRun"],
            errs,
        );
        require_nonempty(obj, &format!("{p}/admissionReviewVersions"), errs);
        one_of(
            obj,
            &format!("{p}/failurePolicy"),
            &["Fail", "Ignore"],
            errs,
        );
        one_of(
            obj,
            &format!("{p}/matchPolicy"),
            &["Exact", "Equivalent"],
            errs,
        );
        one_of(
            obj,
            &format!("{p}/reinvocationPolicy"),
            &["Never", "IfNeeded"],
            errs,
        );
        at_least(obj, &format!("{p}/timeoutSeconds"), 1, errs);
        if n(hook, "/timeoutSeconds") > 30 {
            errs.push(invalid(
                field_path(&format!("{p}/timeoutSeconds")),
                &hook["timeoutSeconds"],
                "the timeout value must be between 1 and 30 seconds",
            ));
        }
        for (rule, _) in items(obj, &format!("{p}/rules")) {
            one_of(
                obj,
                &format!("{rule}/scope"),
                &["Cluster", "Namespaced", "*"],
                errs,
            );
            for (op, _) in items(obj, &format!("{rule}/operations")) {
                one_of(
                    obj,
                    &op,
                    &["*", "CREATE", "UPDATE", "DELETE", "CONNECT"],
                    errs,
                );
            }
        }
    }
}

#[rustfmt::skip]
const COLUMNS: &[Column] = &[
    NAME,
    col("Webhooks", "integer", 0, "Webhooks indicates the number of webhooks registered in this configuration"),
    AGE,
];

fn cells(obj: &Value) -> Vec<Value> {
    row(obj, vec![json!(arr(obj, "/webhooks").len())])
}
