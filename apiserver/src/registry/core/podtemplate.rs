//! PodTemplates (`core/v1`): a pod template stored on its own, for tools
//! and controllers that stamp pods out of a named template.
//!
//! Nothing acts on them in the cluster; the API only keeps them valid: the
//! template's PodSpec gets the same defaults and rules as a Pod's (any
//! restart policy), and its labels are checked like an object's.
//! `kubectl get podtemplates` prints upstream's CONTAINERS, IMAGES and POD
//! LABELS columns.

use k8s_openapi::api::core::v1::PodTemplate;
use k8s_openapi::schemars::generate::SchemaGenerator;
use serde_json::{json, Value};

use crate::defaults::template;
use crate::printers::*;
use crate::registry::strategy::{normalize, schema, Strategy};
use crate::validation::object_meta::validate_labels;
use crate::validation::{validate_pod_spec, FieldError};

/// The PodTemplate strategy.
pub struct PodTemplateStrategy;

impl Strategy for PodTemplateStrategy {
    fn normalize(&self, obj: &mut Value) -> Result<(), String> {
        normalize::<PodTemplate>(obj)
    }

    fn schema(&self, gen: &mut SchemaGenerator) -> Option<String> {
        schema::<PodTemplate>(gen)
    }

    fn default(&self, obj: &mut Value) {
        template(obj, &["template", "spec"]);
    }

    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        let mut errs = Vec::new();
        validate_labels(
            obj.pointer("/template/metadata/labels"),
            "template.metadata.labels",
            &mut errs,
        );
        let spec = obj
            .pointer("/template/spec")
            .cloned()
            .unwrap_or_else(|| json!({}));
        validate_pod_spec(&spec, "template.spec", &mut errs);
        errs
    }

    fn columns(&self) -> &'static [Column] {
        COLUMNS
    }

    fn cells(&self, obj: &Value) -> Vec<Value> {
        let (c, i) = container_cells(obj, "/template");
        vec![
            json!(s(obj, "/metadata/name")),
            json!(c),
            json!(i),
            json!(format_labels(obj.pointer("/template/metadata/labels"))),
        ]
    }
}

#[rustfmt::skip]
const COLUMNS: &[Column] = &[
    NAME,
    col("Containers", "string", 0, "Names of each container in the template."),
    col("Images", "string", 0, "Images referenced by each container in the template."),
    col("Pod Labels", "string", 0, "The labels of the pods made from the template."),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_template_is_defaulted_validated_and_printed() {
        let mut obj = json!({"metadata": {"name": "t"}, "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]}}});
        PodTemplateStrategy.default(&mut obj);
        assert_eq!(obj["template"]["spec"]["restartPolicy"], "Always");
        assert!(PodTemplateStrategy.validate(&obj).is_empty());
        assert_eq!(
            PodTemplateStrategy.cells(&obj),
            [
                json!("t"),
                json!("c"),
                json!("busybox:1.36"),
                json!("app=web")
            ]
        );
        let bad = json!({"metadata": {"name": "t"}, "template": {
            "metadata": {"labels": {"-bad": "x"}}, "spec": {}}});
        let fields: Vec<String> = PodTemplateStrategy
            .validate(&bad)
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert!(
            fields
                .iter()
                .any(|f| f.starts_with("template.metadata.labels")),
            "{fields:?}"
        );
        assert!(
            fields.contains(&"template.spec.containers".to_string()),
            "{fields:?}"
        );
    }
}
