//! ResourceClaimTemplates: the claim a pod gets its own copy of. The
//! template's claim spec follows the ResourceClaim rules and never changes.

use k8s_openapi::api::resource::v1::ResourceClaimTemplate;
use serde_json::Value;

use crate::printers::*;
use crate::registry::generic::Typed;
use crate::validation::rules::unchanged;
use crate::validation::FieldError;

/// The ResourceClaimTemplate strategy.
pub const STRATEGY: Typed<ResourceClaimTemplate> = Typed::new(DEFAULT, default_cells)
    .rules(rules)
    .update_rules(update_rules);

fn rules(obj: &Value, errs: &mut Vec<FieldError>) {
    super::resourceclaim::claim_spec(obj, "/spec/spec", errs);
}

fn update_rules(new: &Value, old: &Value, errs: &mut Vec<FieldError>) {
    unchanged(new, old, &["/spec"], errs);
}
