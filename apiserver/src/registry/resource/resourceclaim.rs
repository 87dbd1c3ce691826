//! ResourceClaims: a request for devices, allocated by the scheduler and
//! reserved for the pods that use it (`status`). Every request has a name
//! and asks for exactly one of a device class or a list of alternatives;
//! selectors have expressions; the spec never changes.

use k8s_openapi::api::resource::v1::ResourceClaim;
use serde_json::{json, Value};

use crate::printers::*;
use crate::registry::generic::Typed;
use crate::validation::rules::{field_path, items, one_of, require_nonempty, unchanged};
use crate::validation::{invalid, FieldError};

/// The ResourceClaim strategy.
pub const STRATEGY: Typed<ResourceClaim> = Typed::new(COLUMNS, cells)
    .status_keeps_metadata()
    .rules(rules)
    .update_rules(update_rules)
    .with_status();

fn rules(obj: &Value, errs: &mut Vec<FieldError>) {
    claim_spec(obj, "/spec", errs);
}

/// The rules of a `ResourceClaimSpec` at `pointer` (shared with templates).
pub fn claim_spec(obj: &Value, pointer: &str, errs: &mut Vec<FieldError>) {
    for (p, request) in items(obj, &format!("{pointer}/devices/requests")) {
        require_nonempty(obj, &format!("{p}/name"), errs);
        let exactly = request.get("exactly").is_some_and(|v| !v.is_null());
        let first = request.get("firstAvailable").is_some_and(|v| !v.is_null());
        if exactly == first {
            errs.push(invalid(
                field_path(&p),
                request,
                "exactly one of `exactly` or `firstAvailable` is required",
            ));
        }
        if exactly {
            require_nonempty(obj, &format!("{p}/exactly/deviceClassName"), errs);
            one_of(
                obj,
                &format!("{p}/exactly/allocationMode"),
                &["ExactCount", "All"],
                errs,
            );
            selectors(obj, &format!("{p}/exactly/selectors"), errs);
        }
        for (sub, _) in items(obj, &format!("{p}/firstAvailable")) {
            require_nonempty(obj, &format!("{sub}/name"), errs);
            require_nonempty(obj, &format!("{sub}/deviceClassName"), errs);
        }
    }
}

/// Every `DeviceSelector` of the list at `pointer` has a CEL expression.
pub fn selectors(obj: &Value, pointer: &str, errs: &mut Vec<FieldError>) {
    for (p, _) in items(obj, pointer) {
        require_nonempty(obj, &format!("{p}/cel/expression"), errs);
    }
}

fn update_rules(new: &Value, old: &Value, errs: &mut Vec<FieldError>) {
    unchanged(new, old, &["/spec"], errs);
}

#[rustfmt::skip]
const COLUMNS: &[Column] = &[
    NAME,
    col("State", "string", 0, "A summary of the current state (allocated, pending, reserved, etc.)."),
    AGE,
];

fn cells(obj: &Value) -> Vec<Value> {
    let deleted = obj
        .pointer("/metadata/deletionTimestamp")
        .is_some_and(|v| !v.is_null());
    let allocated = obj
        .pointer("/status/allocation")
        .is_some_and(|v| !v.is_null());
    let mut states = Vec::new();
    if deleted {
        states.push("deleted");
    }
    if allocated {
        states.push("allocated");
        if !arr(obj, "/status/reservedFor").is_empty() {
            states.push("reserved");
        }
    } else if !deleted {
        states.push("pending");
    }
    row(obj, vec![json!(states.join(","))])
}
