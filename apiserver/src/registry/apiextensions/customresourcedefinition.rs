//! CustomResourceDefinitions. Upstream's key rules: the name is
//! `<plural>.<group>`; group, plural and kind are required; the scope is
//! `Namespaced` or `Cluster` and fixed, as is the group; there is at least
//! one version, exactly one of them the storage version. Printed like
//! upstream's default table.
//!
//! Deleting a CRD deletes its objects first: the first delete adds the
//! `customresourcecleanup.apiextensions.k8s.io` finalizer and the
//! `Terminating` condition, and [`crate::apiextensions::controller`] does
//! the cleanup and drops the finalizer. Serving the kinds is
//! [`crate::apiextensions`]'s job.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde_json::{json, Value};

use crate::apiextensions::CLEANUP_FINALIZER;
use crate::defaults::set_default;
use crate::printers::*;
use crate::registry::generic::Typed;
use crate::registry::Strategy;
use crate::validation::rules::{items, one_of, require_nonempty, unchanged};
use crate::validation::{forbidden, invalid, not_supported, required, FieldError, FieldErrorKind};
use k8s_openapi::schemars::generate::SchemaGenerator;

/// The CustomResourceDefinition strategy.
pub const STRATEGY: CrdStrategy = CrdStrategy;

/// The stored-kind part of the strategy (decoding, rules, printing).
const TYPED: Typed<CustomResourceDefinition> = Typed::new(CREATED_AT, created_at_cells)
    .defaults(defaults)
    .rules(rules)
    .update_rules(update_rules)
    .with_status();

/// The CRD strategy: [`TYPED`] plus the cleanup finalizer on deletion.
pub struct CrdStrategy;

impl Strategy for CrdStrategy {
    fn normalize(&self, obj: &mut Value) -> Result<(), String> {
        TYPED.normalize(obj)
    }

    fn schema(&self, gen: &mut SchemaGenerator) -> Option<String> {
        TYPED.schema(gen)
    }

    fn default(&self, obj: &mut Value) {
        TYPED.default(obj);
    }

    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        TYPED.validate(obj)
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        TYPED.validate_update(new, old)
    }

    fn prepare_for_create(&self, obj: &mut Value, uid: &str) {
        TYPED.prepare_for_create(obj, uid);
    }

    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        TYPED.prepare_for_update(new, old);
    }

    /// The first delete never removes a CRD at once: its objects go first.
    fn removal_blocked(&self, obj: &Value) -> bool {
        obj.pointer("/metadata/deletionTimestamp").is_none()
    }

    fn prepare_for_delete(&self, obj: &mut Value) {
        let mut finalizers = crate::registry::finalizers(obj);
        if finalizers.iter().any(|f| f == CLEANUP_FINALIZER) {
            return;
        }
        finalizers.push(CLEANUP_FINALIZER.into());
        crate::registry::meta_mut(obj).insert("finalizers".into(), json!(finalizers));
        let Some(map) = obj.as_object_mut() else {
            return;
        };
        let status = map.entry("status").or_insert_with(|| json!({}));
        if !status.is_object() {
            *status = json!({});
        }
        let condition = json!({
            "type": "Terminating",
            "status": "True",
            "lastTransitionTime": crate::registry::now(),
            "reason": "InstanceDeletionPending",
            "message": "CustomResourceDefinition marked for deletion; CustomResource deletion will begin soon",
        });
        if let Some(status) = status.as_object_mut() {
            let list = status.entry("conditions").or_insert_with(|| json!([]));
            match list.as_array_mut() {
                Some(list) => {
                    list.retain(|c| c["type"] != "Terminating");
                    list.push(condition);
                }
                None => *list = json!([condition]),
            }
        }
    }

    fn columns(&self) -> &'static [Column] {
        TYPED.columns()
    }

    fn cells(&self, obj: &Value) -> Vec<Value> {
        TYPED.cells(obj)
    }
}

/// Upstream's v1 defaults: conversion `None`, a conversion Service on 443.
fn defaults(obj: &mut Value) {
    if obj.pointer("/spec").is_some_and(Value::is_object) {
        set_default(obj, &["spec", "conversion"], json!({"strategy": "None"}));
    }
    if obj
        .pointer("/spec/conversion/webhook/clientConfig/service")
        .is_some_and(Value::is_object)
    {
        set_default(
            obj,
            &[
                "spec",
                "conversion",
                "webhook",
                "clientConfig",
                "service",
                "port",
            ],
            json!(443),
        );
    }
}

fn rules(obj: &Value, errs: &mut Vec<FieldError>) {
    conversion_rules(obj, errs);
    require_nonempty(obj, "/spec/group", errs);
    require_nonempty(obj, "/spec/names/plural", errs);
    require_nonempty(obj, "/spec/names/kind", errs);
    require_nonempty(obj, "/spec/scope", errs);
    one_of(obj, "/spec/scope", &["Namespaced", "Cluster"], errs);
    let name = s(obj, "/metadata/name");
    let expected = format!("{}.{}", s(obj, "/spec/names/plural"), s(obj, "/spec/group"));
    if name != expected {
        errs.push(invalid(
            "metadata.name",
            &json!(name),
            &format!("must be spec.names.plural+\".\"+spec.group ({expected:?})"),
        ));
    }
    require_nonempty(obj, "/spec/versions", errs);
    let versions = items(obj, "/spec/versions");
    for (p, _) in &versions {
        require_nonempty(obj, &format!("{p}/name"), errs);
    }
    // CEL rules must compile (upstream refuses the CRD otherwise).
    for (i, (_, v)) in versions.iter().enumerate() {
        if let Some(schema) = v.pointer("/schema/openAPIV3Schema") {
            let mut rules = Vec::new();
            let base = format!("spec.versions[{i}].schema.openAPIV3Schema");
            crate::apiextensions::cel::rules_of(schema, &base, &mut rules);
            for (path, rule) in rules {
                if let Some(e) = crate::apiextensions::cel::compile_error(&rule) {
                    errs.push(invalid(
                        &path,
                        &json!(rule),
                        &format!("compilation failed: {e}"),
                    ));
                }
            }
        }
    }
    let storage = versions.iter().filter(|(_, v)| b(v, "/storage")).count();
    if !versions.is_empty() && storage != 1 {
        errs.push(invalid(
            "spec.versions",
            &json!(storage),
            "must have exactly one version marked as storage version",
        ));
    }
}

fn update_rules(new: &Value, old: &Value, errs: &mut Vec<FieldError>) {
    unchanged(new, old, &["/spec/group", "/spec/scope"], errs);
}

/// `spec.conversion`, named as upstream names it (its internal field names:
/// `spec.conversion.webhookClientConfig`): a known strategy; `Webhook`
/// needs a client config and a ConversionReview version this server
/// speaks, `None` takes neither.
fn conversion_rules(obj: &Value, errs: &mut Vec<FieldError>) {
    const CLIENT: &str = "spec.conversion.webhookClientConfig";
    const VERSIONS: &str = "spec.conversion.conversionReviewVersions";
    let Some(conversion) = obj.pointer("/spec/conversion").filter(|c| !c.is_null()) else {
        return;
    };
    let strategy = s(conversion, "/strategy");
    match strategy {
        "" => errs.push(required("spec.conversion.strategy")),
        "None" | "Webhook" => {}
        other => errs.push(not_supported(
            "spec.conversion.strategy",
            &json!(other),
            &["None", "Webhook"],
        )),
    }
    if strategy != "None" && b(obj, "/spec/preserveUnknownFields") {
        errs.push(invalid(
            "spec.conversion.strategy",
            &json!(strategy),
            "must be None if spec.preserveUnknownFields is true",
        ));
    }
    let client = conversion
        .pointer("/webhook/clientConfig")
        .filter(|c| !c.is_null());
    let versions: Vec<&str> = conversion
        .pointer("/webhook/conversionReviewVersions")
        .and_then(Value::as_array)
        .map(|vs| vs.iter().map(|v| v.as_str().unwrap_or("")).collect())
        .unwrap_or_default();
    if strategy != "Webhook" {
        let not_webhook = "should not be set when strategy is not set to Webhook";
        if client.is_some() {
            errs.push(forbidden(CLIENT, not_webhook));
        }
        if !versions.is_empty() {
            errs.push(forbidden(VERSIONS, not_webhook));
        }
        return;
    }
    match client {
        Some(cc) => crate::validation::webhook::validate_client_config(cc, CLIENT, errs),
        None => errs.push(FieldError {
            kind: FieldErrorKind::Required,
            field: CLIENT.into(),
            message: "Required value: required when strategy is set to Webhook".into(),
        }),
    }
    if versions.is_empty() {
        errs.push(required(VERSIONS));
        return;
    }
    for (i, v) in versions.iter().enumerate() {
        let field = format!("{VERSIONS}[{i}]");
        if versions[..i].contains(v) {
            errs.push(invalid(field, &json!(v), "duplicate version"));
            continue;
        }
        for problem in dns1035_label_problems(v) {
            errs.push(invalid(field.clone(), &json!(v), &problem));
        }
    }
    let supported = crate::apiextensions::conversion::webhook::REVIEW_VERSIONS;
    if !versions.iter().any(|v| supported.contains(v)) {
        // Go prints the list as a Go value.
        let listed: Vec<String> = versions.iter().map(|v| format!("{v:?}")).collect();
        errs.push(FieldError {
            kind: FieldErrorKind::Invalid,
            field: VERSIONS.into(),
            message: format!(
                "Invalid value: []string{{{}}}: must include at least one of {}",
                listed.join(", "),
                supported.join(", ")
            ),
        });
    }
}

/// Upstream's `IsDNS1035Label`.
fn dns1035_label_problems(v: &str) -> Vec<String> {
    let mut out = Vec::new();
    if v.len() > 63 {
        out.push("must be no more than 63 characters".into());
    }
    let bytes = v.as_bytes();
    let ok = bytes.first().is_some_and(u8::is_ascii_lowercase)
        && bytes
            .iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && bytes.last().is_some_and(|c| *c != b'-');
    if !ok {
        out.push("a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')".into());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conversion_errors(conversion: Value) -> Vec<String> {
        let crd = json!({"spec": {"conversion": conversion}});
        let mut errs = Vec::new();
        conversion_rules(&crd, &mut errs);
        errs.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn conversion_is_validated_as_upstream() {
        assert!(conversion_errors(json!({"strategy": "None"})).is_empty());
        assert_eq!(
            conversion_errors(json!({"strategy": "Webhook"})),
            vec![
                "spec.conversion.webhookClientConfig: Required value: required when strategy is set to Webhook",
                "spec.conversion.conversionReviewVersions: Required value",
            ]
        );
        assert_eq!(
            conversion_errors(json!({"strategy": "Webhook", "webhook": {
                "clientConfig": {"url": "https://h/c"}, "conversionReviewVersions": ["v3", "v3"]}})),
            vec![
                "spec.conversion.conversionReviewVersions[1]: Invalid value: \"v3\": duplicate version",
                "spec.conversion.conversionReviewVersions: Invalid value: []string{\"v3\", \"v3\"}: must include at least one of v1, v1beta1",
            ]
        );
        assert_eq!(
            conversion_errors(json!({"strategy": "None", "webhook": {
                "clientConfig": {"url": "https://h/c"}, "conversionReviewVersions": ["v1"]}})),
            vec![
                "spec.conversion.webhookClientConfig: Forbidden: should not be set when strategy is not set to Webhook",
                "spec.conversion.conversionReviewVersions: Forbidden: should not be set when strategy is not set to Webhook",
            ]
        );
        assert_eq!(
            conversion_errors(json!({"strategy": "Magic"})),
            vec!["spec.conversion.strategy: Unsupported value: \"Magic\": supported values: \"None\", \"Webhook\""]
        );
    }
}
