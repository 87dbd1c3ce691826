//! The [`Workload`] trait: what the workload kinds (Deployment, ReplicaSet,
//! DaemonSet, StatefulSet, Job, CronJob) have in common, written once.
//!
//! Each of them decodes into its `k8s-openapi` type, publishes that type's
//! schema, starts with an empty `status` for its controller to fill, and
//! prints NAME, its own columns, AGE, CONTAINERS, IMAGES and (most) SELECTOR; most follow the pod-template workload rules
//! ([`crate::validation::pod_template`]) and keep their selector forever.
//! A kind's file implements [`Workload`] with only what is its own (the type,
//! defaults, printer, and any rule that differs); every [`Workload`] is a
//! [`Strategy`] through the blanket impl below, so its row in
//! [`super::builtin_strategies`] is the same as any other kind's.

use k8s_openapi::schemars::generate::SchemaGenerator;
use k8s_openapi::schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

use crate::printers::{age, container_cells, format_label_selector, s, Column};
use crate::registry::strategy::{normalize, schema, Strategy};
use crate::validation::pod_template::{validate_selector_unchanged, validate_workload};
use crate::validation::FieldError;

/// A kind that runs pods from a template (see the module docs).
pub trait Workload: Send + Sync {
    /// The kind's type: what objects decode into, and the published schema.
    type Object: DeserializeOwned + Serialize + JsonSchema;

    /// The `kubectl get` columns.
    const COLUMNS: &'static [Column];

    /// Fills in upstream's defaults.
    fn defaults(obj: &mut Value);

    /// The kind's rules; by default the pod-template workload rules.
    fn validate(obj: &Value, errs: &mut Vec<FieldError>) {
        validate_workload(obj, errs);
    }

    /// The rules of an update; by default, the selector never changes.
    fn validate_update(new: &Value, old: &Value) -> Vec<FieldError> {
        validate_selector_unchanged(new, old)
    }

    /// What the server sets on a new object besides the empty `status`,
    /// once its uid is known (a Job's selector); nothing by default.
    fn prepare_for_create(obj: &mut Value, uid: &str) {
        let _ = (obj, uid);
    }

    /// Where the pod template is (its containers and images are printed).
    const TEMPLATE: &'static str = "/spec/template";

    /// The kind's own cells, printed between NAME and AGE.
    fn status_cells(obj: &Value) -> Vec<Value>;

    /// The last cell, SELECTOR; by default the selector as upstream's
    /// `FormatLabelSelector` writes it; `None` for a kind without the column.
    fn selector_cell(obj: &Value) -> Option<Value> {
        Some(json!(format_label_selector(obj.pointer("/spec/selector"))))
    }
}

impl<W: Workload> Strategy for W {
    fn normalize(&self, obj: &mut Value) -> Result<(), String> {
        normalize::<W::Object>(obj)
    }

    fn schema(&self, gen: &mut SchemaGenerator) -> Option<String> {
        schema::<W::Object>(gen)
    }

    fn default(&self, obj: &mut Value) {
        W::defaults(obj);
    }

    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        let mut errs = Vec::new();
        <W as Workload>::validate(obj, &mut errs);
        errs
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        <W as Workload>::validate_update(new, old)
    }

    fn prepare_for_create(&self, obj: &mut Value, uid: &str) {
        if let Some(map) = obj.as_object_mut() {
            map.insert("status".into(), json!({}));
        }
        <W as Workload>::prepare_for_create(obj, uid);
    }

    fn columns(&self) -> &'static [Column] {
        W::COLUMNS
    }

    /// NAME, the kind's own cells, AGE, CONTAINERS, IMAGES and SELECTOR:
    /// the order of every workload's columns.
    fn cells(&self, obj: &Value) -> Vec<Value> {
        let (containers, images) = container_cells(obj, W::TEMPLATE);
        let mut row = vec![json!(s(obj, "/metadata/name"))];
        row.extend(W::status_cells(obj));
        row.extend([json!(age(obj)), json!(containers), json!(images)]);
        row.extend(W::selector_cell(obj));
        row
    }
}
