//! PodDisruptionBudgets: how many of the selected pods voluntary
//! disruptions (evictions) may take down at once. At most one of
//! `minAvailable` and `maxUnavailable`, neither negative nor above 100%; the
//! disruption controller fills `status`.

use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use serde_json::{json, Value};

use crate::printers::*;
use crate::registry::generic::Typed;
use crate::validation::rules::one_of;
use crate::validation::{invalid, FieldError};

/// The PodDisruptionBudget strategy.
pub const STRATEGY: Typed<PodDisruptionBudget> =
    Typed::new(COLUMNS, cells).rules(rules).with_status();

fn rules(obj: &Value, errs: &mut Vec<FieldError>) {
    let set = |f: &str| {
        obj.pointer(&format!("/spec/{f}"))
            .is_some_and(|v| !v.is_null())
    };
    if set("minAvailable") && set("maxUnavailable") {
        errs.push(invalid(
            "spec",
            &obj["spec"],
            "minAvailable and maxUnavailable cannot be both set",
        ));
    }
    for field in ["minAvailable", "maxUnavailable"] {
        let Some(v) = obj.pointer(&format!("/spec/{field}")) else {
            continue;
        };
        let bad = match v {
            Value::Number(n) => n.as_i64().is_none_or(|n| n < 0),
            Value::String(p) => p
                .strip_suffix('%')
                .and_then(|n| n.parse::<i64>().ok())
                .is_none_or(|n| !(0..=100).contains(&n)),
            _ => false,
        };
        if bad {
            errs.push(invalid(
                format!("spec.{field}"),
                v,
                "must be a non-negative integer or a percentage between 0% and 100%",
            ));
        }
    }
    one_of(
        obj,
        "/spec/unhealthyPodEvictionPolicy",
        &["IfHealthyBudget", "AlwaysAllow"],
        errs,
    );
}

#[rustfmt::skip]
const COLUMNS: &[Column] = &[
    NAME,
    col("Min Available", "string", 0, "The minimum number of pods that must be available."),
    col("Max Unavailable", "string", 0, "The maximum number of pods that may be unavailable."),
    col("Allowed Disruptions", "integer", 0, "Calculated number of pods that may be disrupted at this time."),
    AGE,
];

fn cells(obj: &Value) -> Vec<Value> {
    row(
        obj,
        vec![
            json!(int_or_string(obj.pointer("/spec/minAvailable"), "N/A")),
            json!(int_or_string(obj.pointer("/spec/maxUnavailable"), "N/A")),
            json!(n(obj, "/status/disruptionsAllowed")),
        ],
    )
}
