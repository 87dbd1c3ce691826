//! PriorityClasses (`scheduling.k8s.io/v1`): named pod priorities, resolved
//! into pods by priority admission ([`crate::admission::priority`]). A class
//! must have a value; it preempts lower priorities unless told otherwise.

use k8s_openapi::api::scheduling::v1::PriorityClass;
use k8s_openapi::schemars::generate::SchemaGenerator;
use serde_json::{json, Value};

use crate::defaults::set_default;
use crate::printers::*;
use crate::registry::strategy::{normalize, schema, Strategy};
use crate::validation::{required, FieldError};

/// The PriorityClass strategy.
pub struct PriorityClassStrategy;

impl Strategy for PriorityClassStrategy {
    fn normalize(&self, obj: &mut Value) -> Result<(), String> {
        normalize::<PriorityClass>(obj)
    }

    fn schema(&self, gen: &mut SchemaGenerator) -> Option<String> {
        schema::<PriorityClass>(gen)
    }

    fn default(&self, obj: &mut Value) {
        set_default(obj, &["preemptionPolicy"], json!("PreemptLowerPriority"));
    }

    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        let mut errs = Vec::new();
        if obj.get("value").and_then(Value::as_i64).is_none() {
            errs.push(required("value"));
        }
        errs
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
    col("Value", "integer", 0, "value represents the integer value of this priority class."),
    col("Global-Default", "boolean", 0, "globalDefault specifies whether this PriorityClass should be considered as the default priority for pods that do not have any priority class."),
    AGE,
    col("PreemptionPolicy", "string", 0, "preemptionPolicy is the Policy for preempting pods with lower priority."),
];

fn cells(obj: &Value) -> Vec<Value> {
    let name = json!(s(obj, "/metadata/name"));
    vec![
        name,
        json!(n(obj, "/value")),
        json!(obj
            .get("globalDefault")
            .and_then(Value::as_bool)
            .unwrap_or(false)),
        json!(age(obj)),
        json!(s(obj, "/preemptionPolicy")),
    ]
}
