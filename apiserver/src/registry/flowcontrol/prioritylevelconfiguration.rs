//! PriorityLevelConfigurations: how much concurrency a priority level gets
//! and how its excess requests queue. The type is `Exempt` or `Limited`, a
//! limited level needs its `limited` section; upstream's defaults fill 30
//! nominal shares and, for queueing, 64 queues, hand size 8 and 50 queued
//! requests per queue.

use k8s_openapi::api::flowcontrol::v1::PriorityLevelConfiguration;
use serde_json::{json, Value};

use crate::defaults::set_default;
use crate::printers::*;
use crate::registry::generic::Typed;
use crate::validation::rules::{at_least, one_of, require, require_nonempty};
use crate::validation::{forbidden, FieldError};

/// The PriorityLevelConfiguration strategy.
pub const STRATEGY: Typed<PriorityLevelConfiguration> = Typed::new(COLUMNS, cells)
    .defaults(defaults)
    .rules(rules)
    .with_status();

fn defaults(obj: &mut Value) {
    if obj.pointer("/spec/limited").is_some_and(Value::is_object) {
        set_default(
            obj,
            &["spec", "limited", "nominalConcurrencyShares"],
            json!(30),
        );
        set_default(obj, &["spec", "limited", "lendablePercent"], json!(0));
        if s(obj, "/spec/limited/limitResponse/type") == "Queue" {
            set_default(
                obj,
                &["spec", "limited", "limitResponse", "queuing", "queues"],
                json!(64),
            );
            set_default(
                obj,
                &["spec", "limited", "limitResponse", "queuing", "handSize"],
                json!(8),
            );
            set_default(
                obj,
                &[
                    "spec",
                    "limited",
                    "limitResponse",
                    "queuing",
                    "queueLengthLimit",
                ],
                json!(50),
            );
        }
    }
    if obj.pointer("/spec/exempt").is_some_and(Value::is_object) {
        set_default(
            obj,
            &["spec", "exempt", "nominalConcurrencyShares"],
            json!(0),
        );
        set_default(obj, &["spec", "exempt", "lendablePercent"], json!(0));
    }
}

fn rules(obj: &Value, errs: &mut Vec<FieldError>) {
    require_nonempty(obj, "/spec/type", errs);
    one_of(obj, "/spec/type", &["Exempt", "Limited"], errs);
    let limited = obj.pointer("/spec/limited").is_some_and(|v| !v.is_null());
    match s(obj, "/spec/type") {
        "Limited" => {
            require(obj, "/spec/limited", errs);
            one_of(
                obj,
                "/spec/limited/limitResponse/type",
                &["Queue", "Reject"],
                errs,
            );
            for field in ["queues", "handSize", "queueLengthLimit"] {
                at_least(
                    obj,
                    &format!("/spec/limited/limitResponse/queuing/{field}"),
                    1,
                    errs,
                );
            }
        }
        "Exempt" if limited => errs.push(forbidden(
            "spec.limited",
            "must be nil if the type is not Limited",
        )),
        _ => {}
    }
}

#[rustfmt::skip]
const COLUMNS: &[Column] = &[
    NAME,
    col("Type", "string", 0, "`type` indicates whether this priority level is subject to limitation on request execution."),
    col("NominalConcurrencyShares", "string", 0, "`nominalConcurrencyShares` (NCS) contributes to the computation of the NominalConcurrencyLimit (NominalCL) of this level."),
    col("Queues", "string", 0, "`queues` is the number of queues for this priority level."),
    col("HandSize", "string", 0, "`handSize` is a small positive number that configures the shuffle sharding of requests into queues."),
    col("QueueLengthLimit", "string", 0, "`queueLengthLimit` is the maximum number of requests allowed to be waiting in a given queue of this priority level at a time."),
    AGE,
];

fn cells(obj: &Value) -> Vec<Value> {
    let none = json!("<none>");
    let read = |p: &str| {
        obj.pointer(p)
            .filter(|v| !v.is_null())
            .cloned()
            .unwrap_or_else(|| none.clone())
    };
    let limited = obj.pointer("/spec/limited").is_some_and(|v| !v.is_null());
    let queuing = obj
        .pointer("/spec/limited/limitResponse/queuing")
        .is_some_and(|v| !v.is_null());
    let q = |f: &str| {
        if queuing {
            read(&format!("/spec/limited/limitResponse/queuing/{f}"))
        } else {
            none.clone()
        }
    };
    row(
        obj,
        vec![
            json!(s(obj, "/spec/type")),
            if limited {
                read("/spec/limited/nominalConcurrencyShares")
            } else {
                none.clone()
            },
            q("queues"),
            q("handSize"),
            q("queueLengthLimit"),
        ],
    )
}
