//! Namespaces (`core/v1`): the scope of most objects, and how they are
//! deleted together.
//!
//! Names are DNS labels. A new Namespace is `Active` with the `kubernetes`
//! finalizer in `spec.finalizers`, which only the `/finalize` subresource
//! changes. Deleting one makes it `Terminating` and keeps it until the
//! namespace controller has emptied it and removed that finalizer. Every
//! write refreshes the namespace lifecycle admission's view
//! ([`crate::admission::NamespaceLifecycle`]). Every namespace carries the
//! label `kubernetes.io/metadata.name` with its own name, set by the server
//! on every write, so selectors can pick namespaces by name.

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::schemars::generate::SchemaGenerator;
use serde_json::{json, Value};

use crate::defaults::set_default;
use crate::printers::*;
use crate::registry::strategy::{normalize, schema, Strategy};
use crate::validation::NameRule;

/// The Namespace strategy.
pub struct NamespaceStrategy;

impl Strategy for NamespaceStrategy {
    fn normalize(&self, obj: &mut Value) -> Result<(), String> {
        normalize::<Namespace>(obj)
    }

    fn schema(&self, gen: &mut SchemaGenerator) -> Option<String> {
        schema::<Namespace>(gen)
    }

    fn default(&self, obj: &mut Value) {
        set_default(obj, &["spec", "finalizers"], json!(["kubernetes"]));
        name_label(obj);
    }

    fn name_rule(&self) -> NameRule {
        NameRule::Dns1123Label
    }

    fn prepare_for_create(&self, obj: &mut Value, _uid: &str) {
        // The name is final here (after generateName).
        name_label(obj);
        if let Some(map) = obj.as_object_mut() {
            map.insert("status".into(), json!({"phase": "Active"}));
        }
    }

    /// `spec.finalizers` only change through `/finalize`.
    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        name_label(new);
        match old.pointer("/spec/finalizers") {
            Some(f) => {
                if let Some(spec) = new
                    .as_object_mut()
                    .map(|m| m.entry("spec").or_insert_with(|| json!({})))
                {
                    if let Some(spec) = spec.as_object_mut() {
                        spec.insert("finalizers".into(), f.clone());
                    }
                }
            }
            None => {
                if let Some(spec) = new.get_mut("spec").and_then(Value::as_object_mut) {
                    spec.remove("finalizers");
                }
            }
        }
    }

    /// A namespace is only removed once `spec.finalizers` is empty too.
    fn removal_blocked(&self, obj: &Value) -> bool {
        obj.pointer("/spec/finalizers")
            .and_then(Value::as_array)
            .is_some_and(|f| !f.is_empty())
    }

    fn prepare_for_delete(&self, obj: &mut Value) {
        if let Some(status) = obj.get_mut("status").and_then(Value::as_object_mut) {
            status.insert("phase".into(), json!("Terminating"));
        } else if let Some(map) = obj.as_object_mut() {
            map.insert("status".into(), json!({"phase": "Terminating"}));
        }
    }

    fn columns(&self) -> &'static [Column] {
        COLUMNS
    }

    fn cells(&self, obj: &Value) -> Vec<Value> {
        cells(obj)
    }
}

#[rustfmt::skip]
const COLUMNS: &[Column] = &[
    NAME,
    col("Status", "string", 0, "The status of the namespace"),
    AGE,
];

/// The label every namespace carries: its own name.
pub const NAME_LABEL: &str = "kubernetes.io/metadata.name";

fn name_label(obj: &mut Value) {
    let Some(name) = obj.pointer("/metadata/name").and_then(Value::as_str) else {
        return;
    };
    let name = Value::String(name.to_string());
    let meta = crate::registry::meta_mut(obj);
    let labels = meta.entry("labels").or_insert_with(|| json!({}));
    if !labels.is_object() {
        *labels = json!({});
    }
    if let Some(l) = labels.as_object_mut() {
        l.insert(NAME_LABEL.into(), name);
    }
}

fn cells(obj: &Value) -> Vec<Value> {
    let name = json!(s(obj, "/metadata/name"));
    vec![name, json!(s(obj, "/status/phase")), json!(age(obj))]
}

/// For `/finalize` writes on namespaces: only `spec.finalizers` changes.
pub fn prepare_for_finalize(new: &Value, old: &Value) -> Value {
    let mut merged = old.clone();
    let finalizers = new
        .pointer("/spec/finalizers")
        .cloned()
        .unwrap_or_else(|| json!([]));
    if let Some(map) = merged.as_object_mut() {
        let spec = map.entry("spec").or_insert_with(|| json!({}));
        if let Some(spec) = spec.as_object_mut() {
            spec.insert("finalizers".into(), finalizers);
        }
    }
    merged
}
