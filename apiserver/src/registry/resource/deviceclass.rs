//! DeviceClasses: a named set of devices (CEL selectors plus driver
//! configuration) that claims ask for. Every selector has an expression.

use k8s_openapi::api::resource::v1::DeviceClass;
use serde_json::Value;

use crate::printers::*;
use crate::registry::generic::Typed;
use crate::validation::rules::require;
use crate::validation::FieldError;

/// The DeviceClass strategy.
pub const STRATEGY: Typed<DeviceClass> = Typed::new(DEFAULT, default_cells).rules(rules);

fn rules(obj: &Value, errs: &mut Vec<FieldError>) {
    require(obj, "/spec", errs);
    super::resourceclaim::selectors(obj, "/spec/selectors", errs);
}
