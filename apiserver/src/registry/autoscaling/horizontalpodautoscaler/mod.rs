//! HorizontalPodAutoscalers, stored as `autoscaling/v2` and served at
//! `autoscaling/v2` and `autoscaling/v1` ([`v1`]: its conversion and its
//! strategy): scale a workload between a minimum and a maximum by
//! metrics. Upstream's defaults: at least one replica, and 80% average CPU
//! utilisation when no metric is given. The target reference needs a kind
//! and a name; the bounds must be ordered. Scaling itself belongs to the
//! HPA controller.

use std::sync::Arc;

use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use serde_json::{json, Value};

use crate::defaults::set_default;
use crate::printers::*;
use crate::registry::generic::Typed;
use crate::registry::versions::Version;
use crate::validation::rules::{at_least, items, one_of, require_nonempty};
use crate::validation::{invalid, FieldError, FieldErrorKind};

pub mod v1;

/// The HorizontalPodAutoscaler strategy (`autoscaling/v2`, the storage
/// version).
pub const STRATEGY: Typed<HorizontalPodAutoscaler> = Typed::new(COLUMNS, cells)
    .defaults(defaults)
    .rules(rules)
    .with_status()
    .served_also_at(versions);

/// `autoscaling/v1`, converted from and to v2.
fn versions() -> Vec<Version> {
    vec![Version {
        group: None,
        version: "v1",
        strategy: Arc::new(v1::STRATEGY),
        to_storage: v1::to_v2,
        from_storage: v1::to_v1,
    }]
}

const METRIC_TYPES: &[&str] = &[
    "Object",
    "Pods",
    "Resource",
    "ContainerResource",
    "External",
];

fn defaults(obj: &mut Value) {
    set_default(obj, &["spec", "minReplicas"], json!(1));
    let no_metrics = obj
        .pointer("/spec/metrics")
        .and_then(Value::as_array)
        .is_none_or(Vec::is_empty);
    if no_metrics {
        if let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) {
            spec.insert(
                "metrics".into(),
                json!([{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}]),
            );
        }
    }
}

fn rules(obj: &Value, errs: &mut Vec<FieldError>) {
    require_nonempty(obj, "/spec/scaleTargetRef/kind", errs);
    require_nonempty(obj, "/spec/scaleTargetRef/name", errs);
    at_least(obj, "/spec/minReplicas", 1, errs);
    let min = n(obj, "/spec/minReplicas");
    let max = n(obj, "/spec/maxReplicas");
    if max == 0 {
        errs.push(FieldError {
            kind: FieldErrorKind::Required,
            field: "spec.maxReplicas".into(),
            message: "Required value: must be set and greater than 0".into(),
        });
    } else if max < 0 {
        errs.push(invalid(
            "spec.maxReplicas",
            &json!(max),
            "must be greater than or equal to 1",
        ));
    }
    if max < min {
        errs.push(invalid(
            "spec.maxReplicas",
            &json!(max),
            "must be greater than or equal to `minReplicas`",
        ));
    }
    for (p, _) in items(obj, "/spec/metrics") {
        require_nonempty(obj, &format!("{p}/type"), errs);
        one_of(obj, &format!("{p}/type"), METRIC_TYPES, errs);
        for source in ["resource", "containerResource"] {
            let pointer = format!("{p}/{source}/target/averageUtilization");
            if let Some(u) = obj.pointer(&pointer).and_then(Value::as_i64) {
                if u < 1 {
                    errs.push(invalid(
                        crate::validation::rules::field_path(&pointer),
                        &json!(u),
                        "must be greater than 0",
                    ));
                }
            }
        }
    }
}

#[rustfmt::skip]
const COLUMNS: &[Column] = &[
    NAME,
    col("Reference", "string", 0, "scaleTargetRef points to the target resource to scale, and is used to the pods for which metrics should be collected, as well as to actually change the replica count."),
    col("Targets", "string", 0, "metrics contains the specifications for which to use to calculate the desired replica count."),
    col("MinPods", "string", 0, "minReplicas is the lower limit for the number of replicas to which the autoscaler can scale down."),
    col("MaxPods", "string", 0, "maxReplicas is the upper limit for the number of replicas to which the autoscaler can scale up."),
    col("Replicas", "string", 0, "currentReplicas is current number of replicas of pods managed by this autoscaler, as last seen by the autoscaler."),
    AGE,
];

fn cells(obj: &Value) -> Vec<Value> {
    let min = match obj.pointer("/spec/minReplicas").and_then(Value::as_i64) {
        Some(m) => m.to_string(),
        None => "<unset>".into(),
    };
    row(
        obj,
        vec![
            json!(format!(
                "{}/{}",
                s(obj, "/spec/scaleTargetRef/kind"),
                s(obj, "/spec/scaleTargetRef/name")
            )),
            json!(targets(obj)),
            json!(min),
            json!(n(obj, "/spec/maxReplicas")),
            json!(n(obj, "/status/currentReplicas")),
        ],
    )
}

/// Upstream's `formatHPAMetrics`: `current/target` per metric, two at most.
fn targets(obj: &Value) -> String {
    let specs = arr(obj, "/spec/metrics");
    if specs.is_empty() {
        return "<none>".into();
    }
    let statuses = arr(obj, "/status/currentMetrics");
    let list: Vec<String> = specs
        .iter()
        .enumerate()
        .map(|(i, spec)| metric(spec, statuses.get(i)))
        .collect();
    let shown = list[..list.len().min(2)].join(", ");
    match list.len() {
        0..=2 => shown,
        more => format!("{shown} + {} more...", more - 2),
    }
}

/// One metric: its current value (`<unknown>` until measured) over its target.
fn metric(spec: &Value, status: Option<&Value>) -> String {
    let source = match s(spec, "/type") {
        "Object" => "object",
        "Pods" => "pods",
        "Resource" => "resource",
        "ContainerResource" => "containerResource",
        "External" => "external",
        _ => return "<unknown type>".into(),
    };
    let target = &spec[source]["target"];
    let current = status.map(|st| &st[source]["current"]);
    let prefix = match source {
        "resource" | "containerResource" => format!("{}: ", s(&spec[source], "/name")),
        _ => String::new(),
    };
    let read = |field: &str| current.and_then(|c| c.get(field)).filter(|v| !v.is_null());
    if let Some(avg) = target.get("averageValue").and_then(Value::as_str) {
        let now = read("averageValue")
            .and_then(Value::as_str)
            .unwrap_or("<unknown>");
        let suffix = if matches!(source, "object" | "external") {
            " (avg)"
        } else {
            ""
        };
        return format!("{prefix}{now}/{avg}{suffix}");
    }
    if matches!(source, "resource" | "containerResource") {
        let now = read("averageUtilization")
            .and_then(Value::as_i64)
            .map_or("<unknown>".into(), |u| format!("{u}%"));
        let goal = target
            .get("averageUtilization")
            .and_then(Value::as_i64)
            .map_or("<auto>".into(), |u| format!("{u}%"));
        return format!("{prefix}{now}/{goal}");
    }
    let now = read("value").and_then(Value::as_str).unwrap_or("<unknown>");
    format!("{prefix}{now}/{}", s(target, "/value"))
}
