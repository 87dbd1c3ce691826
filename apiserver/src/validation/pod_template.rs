//! Rules of workloads that stamp out pods from a template (Deployment,
//! ReplicaSet, StatefulSet, DaemonSet, ReplicationController): a selector that matches the
//! template's labels, non-negative counts, and a template that restarts
//! `Always`.

use apimachinery::labels::Selector;
use serde_json::Value;

use super::{invalid, not_supported, required, validate_pod_spec, FieldError};

/// A workload's selector must be set, non-empty, and match its template.
pub fn validate_selector_and_template(obj: &Value, errs: &mut Vec<FieldError>) {
    let selector = obj.pointer("/spec/selector");
    let empty = selector.is_none_or(|s| {
        s.get("matchLabels")
            .and_then(Value::as_object)
            .is_none_or(|m| m.is_empty())
            && s.get("matchExpressions")
                .and_then(Value::as_array)
                .is_none_or(|m| m.is_empty())
    });
    if empty {
        errs.push(required("spec.selector"));
        return;
    }
    let Some(selector) = selector else { return };
    match Selector::from_label_selector_json(selector) {
        Err(e) => errs.push(invalid("spec.selector", selector, &e.to_string())),
        Ok(sel) => validate_template_labels(&sel, obj, errs),
    }
}

/// The template's labels must be selected by the workload's selector.
pub fn validate_template_labels(sel: &Selector, obj: &Value, errs: &mut Vec<FieldError>) {
    let labels = obj.pointer("/spec/template/metadata/labels");
    if !sel.matches_json(labels) {
        errs.push(invalid(
            "spec.template.metadata.labels",
            labels.unwrap_or(&Value::Null),
            "`selector` does not match template `labels`",
        ));
    }
}

/// `pointer`, when set, must not be negative.
pub fn non_negative(obj: &Value, pointer: &str, field: &str, errs: &mut Vec<FieldError>) {
    if let Some(v) = obj.pointer(pointer).and_then(Value::as_i64) {
        if v < 0 {
            errs.push(invalid(
                field,
                &Value::from(v),
                "must be greater than or equal to 0",
            ));
        }
    }
}

/// Whether an int-or-percent value is zero (`0` or `"0%"`).
pub fn int_or_percent_zero(v: Option<&Value>) -> bool {
    match v {
        Some(Value::Number(n)) => n.as_i64() == Some(0),
        Some(Value::String(s)) => s.trim_end_matches('%').parse::<f64>().ok() == Some(0.0),
        _ => false,
    }
}

/// The rules every pod-template workload shares.
pub fn validate_workload(obj: &Value, errs: &mut Vec<FieldError>) {
    validate_selector_and_template(obj, errs);
    non_negative(obj, "/spec/replicas", "spec.replicas", errs);
    non_negative(obj, "/spec/minReadySeconds", "spec.minReadySeconds", errs);
    non_negative(
        obj,
        "/spec/revisionHistoryLimit",
        "spec.revisionHistoryLimit",
        errs,
    );
    validate_template(obj, errs);
}

/// `spec.template`: a valid PodSpec that restarts `Always`. A
/// StatefulSet's `volumeClaimTemplates` count as the pod's volumes (each
/// pod gets a claim of that name), so containers may mount them.
pub fn validate_template(obj: &Value, errs: &mut Vec<FieldError>) {
    if let Some(spec) = obj.pointer("/spec/template/spec") {
        let claim_volumes: Vec<Value> = obj
            .pointer("/spec/volumeClaimTemplates")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|t| t.pointer("/metadata/name").and_then(Value::as_str))
            .filter(|name| {
                !spec
                    .get("volumes")
                    .and_then(Value::as_array)
                    .is_some_and(|v| v.iter().any(|v| v.get("name").and_then(Value::as_str) == Some(name)))
            })
            .map(|name| serde_json::json!({"name": name, "persistentVolumeClaim": {"claimName": name}}))
            .collect();
        if claim_volumes.is_empty() {
            validate_pod_spec(spec, "spec.template.spec", errs);
        } else {
            let mut with_claims = spec.clone();
            match with_claims.get_mut("volumes").and_then(Value::as_array_mut) {
                Some(v) => v.extend(claim_volumes),
                None => with_claims["volumes"] = Value::Array(claim_volumes),
            }
            validate_pod_spec(&with_claims, "spec.template.spec", errs);
        }
        if let Some(rp) = spec.get("restartPolicy") {
            if rp.as_str() != Some("Always") {
                errs.push(not_supported(
                    "spec.template.spec.restartPolicy",
                    rp,
                    &["Always"],
                ));
            }
        }
    } else {
        errs.push(required("spec.template"));
    }
}

/// A workload's selector may never change (its pods would be orphaned).
pub fn validate_selector_unchanged(new: &Value, old: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if new.pointer("/spec/selector") != old.pointer("/spec/selector") {
        errs.push(super::immutable(
            "spec.selector",
            new.pointer("/spec/selector").unwrap_or(&Value::Null),
        ));
    }
    errs
}
