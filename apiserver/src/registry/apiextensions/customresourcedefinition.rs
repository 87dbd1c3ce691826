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
use crate::printers::*;
use crate::registry::generic::Typed;
use crate::registry::Strategy;
use crate::validation::rules::{items, one_of, require_nonempty, unchanged};
use crate::validation::{invalid, FieldError};
use k8s_openapi::schemars::generate::SchemaGenerator;

/// The CustomResourceDefinition strategy.
pub const STRATEGY: CrdStrategy = CrdStrategy;

/// The stored-kind part of the strategy (decoding, rules, printing).
const TYPED: Typed<CustomResourceDefinition> = Typed::new(CREATED_AT, created_at_cells)
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

fn rules(obj: &Value, errs: &mut Vec<FieldError>) {
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
