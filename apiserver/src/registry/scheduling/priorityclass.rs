//! PriorityClasses (`scheduling.k8s.io/v1`): named pod priorities, resolved
//! into pods by priority admission ([`crate::admission::priority`]). A class
//! must have a value; it preempts lower priorities unless told otherwise.
//! Neither the value nor the preemption policy may change once set
//! (pods already carry the value they were admitted with).

use k8s_openapi::api::scheduling::v1::PriorityClass;
use k8s_openapi::schemars::generate::SchemaGenerator;
use serde_json::{json, Value};

use crate::defaults::set_default;
use crate::printers::*;
use crate::registry::strategy::{normalize, schema, Strategy};
use crate::validation::{forbidden, immutable, required, FieldError};

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

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        let mut errs = Vec::new();
        if new.get("value") != old.get("value") {
            errs.push(forbidden("value", "may not be changed in an update."));
        }
        let policy = new.get("preemptionPolicy").unwrap_or(&Value::Null);
        if policy != old.get("preemptionPolicy").unwrap_or(&Value::Null) {
            errs.push(immutable("preemptionPolicy", policy));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_and_preemption_policy_are_fixed() {
        let old = json!({"value": 1000, "preemptionPolicy": "PreemptLowerPriority"});
        let s = PriorityClassStrategy;
        assert!(s.validate_update(&old, &old).is_empty());
        let new = json!({"value": 10000, "preemptionPolicy": "Never"});
        let fields: Vec<String> = s
            .validate_update(&new, &old)
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(fields, ["value", "preemptionPolicy"]);
        let with_description =
            json!({"value": 1000, "preemptionPolicy": "PreemptLowerPriority", "description": "x"});
        assert!(s.validate_update(&with_description, &old).is_empty());
    }
}
