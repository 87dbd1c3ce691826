//! CustomResourceDefinitions. Upstream's key rules: the name is
//! `<plural>.<group>`; group, plural and kind are required; the scope is
//! `Namespaced` or `Cluster` and fixed, as is the group; there is at least
//! one version, exactly one of them the storage version. Printed like
//! upstream's default table.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde_json::{json, Value};

use crate::printers::*;
use crate::registry::generic::Typed;
use crate::validation::rules::{items, one_of, require_nonempty, unchanged};
use crate::validation::{invalid, FieldError};

/// The CustomResourceDefinition strategy.
pub const STRATEGY: Typed<CustomResourceDefinition> = Typed::new(CREATED_AT, created_at_cells)
    .rules(rules)
    .update_rules(update_rules)
    .with_status();

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
