//! HorizontalPodAutoscalers at `autoscaling/v1`: the first shape of the
//! kind, still served (kubectl's `autoscale` posts it) while objects are
//! kept as `autoscaling/v2`.
//!
//! v1 knows one metric, `spec.targetCPUUtilizationPercentage`: the v2
//! Resource metric for `cpu` with a Utilization target. Everything else v2
//! says travels in annotations, as upstream's conversion does, so that
//! v2 -> v1 -> v2 loses nothing:
//!
//! | annotation | holds |
//! | --- | --- |
//! | `autoscaling.alpha.kubernetes.io/metrics` | the other metrics, in v1's `MetricSpec` shape |
//! | `autoscaling.alpha.kubernetes.io/current-metrics` | every current metric, in v1's `MetricStatus` shape |
//! | `autoscaling.alpha.kubernetes.io/behavior` | `spec.behavior`, with upstream's Go field names (`ScaleUp`, `Policies`, ...) |
//! | `autoscaling.alpha.kubernetes.io/conditions` | `status.conditions` |
//!
//! Going to v1 drops whatever of these a client had set and writes them
//! afresh; coming back, an annotation that does not parse is ignored (as
//! upstream), the metrics from the annotation come first and the CPU
//! target last, a v1 object with no metric at all gets upstream's 80%
//! CPU target, and the annotations are removed. `status.currentCPUUtilizationPercentage`
//! is the current average utilization of the `cpu` Resource metric.
//!
//! The v1 strategy decodes the v1 type, defaults `minReplicas` to 1, and
//! validates and prints through the v2 form, so both versions give the
//! same errors (paths of the v2 form, as upstream's internal type) and the
//! same `kubectl get hpa` columns.

use k8s_openapi::api::autoscaling::v1::HorizontalPodAutoscaler;
use serde_json::{json, Map, Value};

use crate::defaults::set_default;
use crate::registry::generic::Typed;
use crate::registry::versions::ConversionError;
use crate::validation::FieldError;

/// The metrics of the v2 spec that v1 cannot say.
pub const METRICS: &str = "autoscaling.alpha.kubernetes.io/metrics";
/// The current metrics of the v2 status.
pub const CURRENT_METRICS: &str = "autoscaling.alpha.kubernetes.io/current-metrics";
/// The v2 `spec.behavior`.
pub const BEHAVIOR: &str = "autoscaling.alpha.kubernetes.io/behavior";
/// The v2 `status.conditions`.
pub const CONDITIONS: &str = "autoscaling.alpha.kubernetes.io/conditions";
/// Every annotation the conversion owns: dropped on the way to v2, and
/// rewritten on the way to v1 (the two tolerance annotations are
/// upstream's too: never written here, always dropped).
const ROUND_TRIP: &[&str] = &[
    METRICS,
    CURRENT_METRICS,
    BEHAVIOR,
    CONDITIONS,
    "autoscaling.alpha.kubernetes.io/scale-down-tolerance",
    "autoscaling.alpha.kubernetes.io/scale-up-tolerance",
];

/// Upstream's CPU target of an autoscaler that names no metric.
const DEFAULT_CPU_UTILIZATION: i64 = 80;

const V1: &str = "autoscaling/v1";
const V2: &str = "autoscaling/v2";
const KIND: &str = "HorizontalPodAutoscaler";

/// The `autoscaling/v1` HorizontalPodAutoscaler strategy.
pub const STRATEGY: Typed<HorizontalPodAutoscaler> = Typed::new(super::COLUMNS, cells)
    .defaults(defaults)
    .rules(rules)
    .with_status();

fn defaults(obj: &mut Value) {
    set_default(obj, &["spec", "minReplicas"], json!(1));
}

/// The v2 rules, on the object as v2 sees it.
fn rules(obj: &Value, errs: &mut Vec<FieldError>) {
    match to_v2(obj) {
        Ok(v2) => super::rules(&v2, errs),
        Err(e) => errs.push(crate::validation::invalid("", &Value::Null, &e.to_string())),
    }
}

/// The v2 columns, of the object as v2 sees it (a Table made of a stored
/// object is already in v2).
fn cells(obj: &Value) -> Vec<Value> {
    if obj.get("apiVersion").and_then(Value::as_str) == Some(V2) {
        return super::cells(obj);
    }
    match to_v2(obj) {
        Ok(v2) => super::cells(&v2),
        Err(_) => super::cells(obj),
    }
}

/// A field's value, `None` when absent or `null`.
fn get<'a>(obj: &'a Value, key: &str) -> Option<&'a Value> {
    obj.get(key).filter(|v| !v.is_null())
}

/// A value at a path of keys, `None` when any is absent or `null`.
fn at<'a>(obj: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(obj, |v, key| get(v, key))
}

/// Builds an object of the fields that have a value.
fn object<'a, K: Into<String>>(fields: impl IntoIterator<Item = (K, Option<&'a Value>)>) -> Value {
    let mut map = Map::new();
    for (key, value) in fields {
        if let Some(v) = value {
            map.insert(key.into(), v.clone());
        }
    }
    Value::Object(map)
}

/// The fields both versions have alike in `spec` and in `status`.
const SAME_SPEC: &[&str] = &["scaleTargetRef", "minReplicas", "maxReplicas"];
const SAME_STATUS: &[&str] = &[
    "observedGeneration",
    "lastScaleTime",
    "currentReplicas",
    "desiredReplicas",
];

/// `from`'s fields named in `same`, then `own` (the version's own fields).
fn part<'a>(from: &'a Value, same: &[&'a str], own: Vec<(&'a str, Option<&'a Value>)>) -> Value {
    object(same.iter().map(|f| (*f, get(from, f))).chain(own))
}

/// Go's zero Quantity, as v1's required quantities carry it when unset.
fn zero() -> Value {
    json!("0")
}

fn is_zero(q: &Value) -> bool {
    q.as_str()
        .and_then(|s| apimachinery::quantity::Quantity::parse(s).ok())
        .is_some_and(|q| q.is_zero())
}

/// Whether a v2 metric is the one v1 holds in `targetCPUUtilizationPercentage`.
fn is_cpu_utilization(metric: &Value) -> bool {
    get(metric, "type").and_then(Value::as_str) == Some("Resource")
        && at(metric, &["resource", "name"]).and_then(Value::as_str) == Some("cpu")
        && at(metric, &["resource", "target", "averageUtilization"]).is_some()
}

/// The object without `spec` and `status`, in `api_version`, with the
/// conversion's annotations removed.
fn base(obj: &Value, api_version: &str) -> Result<Map<String, Value>, ConversionError> {
    let Some(map) = obj.as_object() else {
        return Err(ConversionError::NotAnObject {
            kind: KIND,
            to: api_version.into(),
        });
    };
    let mut out = map.clone();
    out.remove("spec");
    out.remove("status");
    out.insert("apiVersion".into(), json!(api_version));
    out.insert("kind".into(), json!(KIND));
    if let Some(meta) = out.get_mut("metadata").and_then(Value::as_object_mut) {
        if let Some(annotations) = meta.get_mut("annotations").and_then(Value::as_object_mut) {
            for key in ROUND_TRIP {
                annotations.remove(*key);
            }
            if annotations.is_empty() {
                meta.remove("annotations");
            }
        }
    }
    Ok(out)
}

/// Sets annotation `key` to `value` encoded as JSON.
fn annotate(out: &mut Map<String, Value>, key: &str, value: &Value) {
    let meta = out.entry("metadata").or_insert_with(|| json!({}));
    if !meta.is_object() {
        *meta = json!({});
    }
    if let Some(meta) = meta.as_object_mut() {
        let annotations = meta.entry("annotations").or_insert_with(|| json!({}));
        if !annotations.is_object() {
            *annotations = json!({});
        }
        if let Some(annotations) = annotations.as_object_mut() {
            annotations.insert(key.into(), json!(value.to_string()));
        }
    }
}

/// An annotation of `obj` decoded from JSON; `None` when absent or not
/// JSON (upstream ignores an annotation it cannot read).
fn annotation(obj: &Value, key: &str) -> Option<Value> {
    let text = at(obj, &["metadata", "annotations", key])?.as_str()?;
    serde_json::from_str(text).ok()
}

/// A stored `autoscaling/v2` object as `autoscaling/v1` shows it.
pub fn to_v1(v2: &Value) -> Result<Value, ConversionError> {
    let mut out = base(v2, V1)?;
    let spec = get(v2, "spec").cloned().unwrap_or_else(|| json!({}));
    let metrics: &[Value] = get(&spec, "metrics")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice);
    let cpu = metrics
        .iter()
        .find(|m| is_cpu_utilization(m))
        .and_then(|m| at(m, &["resource", "target", "averageUtilization"]));
    let others: Vec<Value> = metrics
        .iter()
        .filter(|m| !is_cpu_utilization(m))
        .map(|m| metric_to_v1(m, Half::Target))
        .collect();
    if !others.is_empty() {
        annotate(&mut out, METRICS, &Value::Array(others));
    }
    if let Some(behavior) = get(&spec, "behavior") {
        annotate(&mut out, BEHAVIOR, &behavior_to_annotation(behavior));
    }
    out.insert(
        "spec".into(),
        part(
            &spec,
            SAME_SPEC,
            vec![("targetCPUUtilizationPercentage", cpu)],
        ),
    );
    if let Some(status) = get(v2, "status") {
        let current: &[Value] = get(status, "currentMetrics")
            .and_then(Value::as_array)
            .map_or(&[], Vec::as_slice);
        // The last cpu Resource metric with a utilization, as upstream.
        let cpu_now = current
            .iter()
            .filter(|m| {
                get(m, "type").and_then(Value::as_str) == Some("Resource")
                    && at(m, &["resource", "name"]).and_then(Value::as_str) == Some("cpu")
            })
            .filter_map(|m| at(m, &["resource", "current", "averageUtilization"]))
            .next_back();
        if !current.is_empty() {
            let v1: Vec<Value> = current
                .iter()
                .map(|m| metric_to_v1(m, Half::Current))
                .collect();
            annotate(&mut out, CURRENT_METRICS, &Value::Array(v1));
        }
        if let Some(conditions) = get(status, "conditions")
            .and_then(Value::as_array)
            .filter(|c| !c.is_empty())
        {
            annotate(&mut out, CONDITIONS, &Value::Array(conditions.clone()));
        }
        out.insert(
            "status".into(),
            part(
                status,
                SAME_STATUS,
                vec![("currentCPUUtilizationPercentage", cpu_now)],
            ),
        );
    }
    Ok(Value::Object(out))
}

/// An `autoscaling/v1` object as it is stored, in `autoscaling/v2`.
pub fn to_v2(v1: &Value) -> Result<Value, ConversionError> {
    let mut out = base(v1, V2)?;
    let spec = get(v1, "spec").cloned().unwrap_or_else(|| json!({}));
    let mut metrics: Vec<Value> = match annotation(v1, METRICS) {
        Some(Value::Array(list)) => list.iter().map(|m| metric_to_v2(m, Half::Target)).collect(),
        _ => Vec::new(),
    };
    if let Some(cpu) = get(&spec, "targetCPUUtilizationPercentage") {
        metrics.push(json!({"type": "Resource", "resource": {"name": "cpu",
            "target": {"type": "Utilization", "averageUtilization": cpu}}}));
    }
    if metrics.is_empty() {
        metrics.push(json!({"type": "Resource", "resource": {"name": "cpu",
            "target": {"type": "Utilization", "averageUtilization": DEFAULT_CPU_UTILIZATION}}}));
    }
    let behavior = annotation(v1, BEHAVIOR).and_then(|b| behavior_from_annotation(&b));
    let metrics = Value::Array(metrics);
    out.insert(
        "spec".into(),
        part(
            &spec,
            SAME_SPEC,
            vec![("metrics", Some(&metrics)), ("behavior", behavior.as_ref())],
        ),
    );
    if let Some(status) = get(v1, "status") {
        let mut current = get(status, "currentCPUUtilizationPercentage").map(|cpu| {
            json!([{"type": "Resource", "resource": {"name": "cpu",
                "current": {"averageUtilization": cpu}}}])
        });
        // The annotation has more than the percentage: it wins.
        if let Some(Value::Array(list)) = annotation(v1, CURRENT_METRICS) {
            current = Some(Value::Array(
                list.iter()
                    .map(|m| metric_to_v2(m, Half::Current))
                    .collect(),
            ));
        }
        let conditions = match annotation(v1, CONDITIONS) {
            Some(Value::Array(list)) => Some(Value::Array(list)),
            _ => None,
        };
        out.insert(
            "status".into(),
            part(
                status,
                SAME_STATUS,
                vec![
                    ("currentMetrics", current.as_ref()),
                    ("conditions", conditions.as_ref()),
                ],
            ),
        );
    }
    Ok(Value::Object(out))
}

/// The source field of each metric type, in both versions.
fn source_of(metric_type: &str) -> Option<&'static str> {
    Some(match metric_type {
        "Object" => "object",
        "Pods" => "pods",
        "Resource" => "resource",
        "ContainerResource" => "containerResource",
        "External" => "external",
        _ => return None,
    })
}

/// The metric's `type` and its source (`{}` when missing).
fn typed_source(metric: &Value) -> (Value, Option<&'static str>, Value) {
    let ty = get(metric, "type").cloned().unwrap_or(Value::Null);
    let source = ty.as_str().and_then(source_of);
    let body = source
        .and_then(|s| get(metric, s))
        .cloned()
        .unwrap_or_else(|| json!({}));
    (ty, source, body)
}

/// `{type, <source>: body}`.
fn metric(ty: Value, source: Option<&str>, body: Value) -> Value {
    let mut map = Map::new();
    if !ty.is_null() {
        map.insert("type".into(), ty);
    }
    if let Some(source) = source {
        map.insert(source.into(), body);
    }
    Value::Object(map)
}

/// Which half of a metric is converted: a `MetricSpec`'s target or a
/// `MetricStatus`'s current value. v2 nests it (`target: {value, ...}`,
/// `current: {value, ...}`); v1 flattens it into the source with a prefix
/// (`targetValue`, `currentValue`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Half {
    Target,
    Current,
}

impl Half {
    /// v2's field, and v1's prefix.
    fn name(self) -> &'static str {
        match self {
            Half::Target => "target",
            Half::Current => "current",
        }
    }

    /// The v1 fields of `source` that are required quantities in Go (not
    /// pointers): written as zero when v2 has no value.
    fn required(self, source: &str) -> &'static [&'static str] {
        match (self, source) {
            (Half::Target, "object") => &["targetValue"],
            (Half::Target, "pods") => &["targetAverageValue"],
            (Half::Current, "object") => &["currentValue"],
            (Half::Current, "pods" | "resource" | "containerResource") => &["currentAverageValue"],
            (Half::Current, "external") => &["currentValue"],
            _ => &[],
        }
    }
}

/// A v2 `MetricSpec` or `MetricStatus` in v1's shape (the half flattened
/// into the source).
fn metric_to_v1(m: &Value, half: Half) -> Value {
    let (ty, source, s) = typed_source(m);
    let nested = get(&s, half.name()).cloned().unwrap_or_else(|| json!({}));
    let p = half.name();
    let value = get(&nested, "value");
    let average = get(&nested, "averageValue");
    let name = at(&s, &["metric", "name"]);
    let selector = at(&s, &["metric", "selector"]);
    let fields: Vec<(String, Option<&Value>)> = match source {
        Some("object") => vec![
            ("target".into(), get(&s, "describedObject")),
            ("metricName".into(), name),
            (format!("{p}Value"), value),
            ("selector".into(), selector),
            ("averageValue".into(), average),
        ],
        Some("pods") => vec![
            ("metricName".into(), name),
            (format!("{p}AverageValue"), average),
            ("selector".into(), selector),
        ],
        Some("resource" | "containerResource") => vec![
            ("name".into(), get(&s, "name")),
            (
                format!("{p}AverageUtilization"),
                get(&nested, "averageUtilization"),
            ),
            (format!("{p}AverageValue"), average),
            ("container".into(), get(&s, "container")),
        ],
        Some(_) => vec![
            ("metricName".into(), name),
            ("metricSelector".into(), selector),
            (format!("{p}Value"), value),
            (format!("{p}AverageValue"), average),
        ],
        None => Vec::new(),
    };
    let mut body = object(fields);
    if let (Some(source), Some(map)) = (source, body.as_object_mut()) {
        for field in half.required(source) {
            map.entry(*field).or_insert_with(zero);
        }
    }
    metric(ty, source, body)
}

/// A v1 `MetricSpec` or `MetricStatus` (from an annotation) in v2's shape.
fn metric_to_v2(m: &Value, half: Half) -> Value {
    let (ty, source, s) = typed_source(m);
    let p = half.name();
    let value = get(&s, &format!("{p}Value"));
    let average = get(&s, &format!("{p}AverageValue"));
    let utilization = get(&s, &format!("{p}AverageUtilization"));
    // A target says its type; a zero targetValue of an object's
    // averageValue target is v1's unset required field, not a target.
    let (kind, nested) = match source {
        Some("object") => {
            let average = get(&s, "averageValue");
            match (half, average) {
                (Half::Target, Some(_)) => (
                    "AverageValue",
                    vec![
                        ("value", value.filter(|v| !is_zero(v))),
                        ("averageValue", average),
                    ],
                ),
                _ => ("Value", vec![("value", value), ("averageValue", average)]),
            }
        }
        Some("pods") => ("AverageValue", vec![("averageValue", average)]),
        Some("resource" | "containerResource") => (
            if utilization.is_some() {
                "Utilization"
            } else {
                "AverageValue"
            },
            vec![
                ("averageUtilization", utilization),
                ("averageValue", average),
            ],
        ),
        _ => (
            if value.is_some() {
                "Value"
            } else {
                "AverageValue"
            },
            vec![("value", value), ("averageValue", average)],
        ),
    };
    let kind = json!(kind);
    let mut nested: Vec<(&str, Option<&Value>)> = nested;
    if half == Half::Target {
        nested.insert(0, ("type", Some(&kind)));
    }
    let nested = object(nested);
    let selector = match source {
        Some("external") => "metricSelector",
        _ => "selector",
    };
    let identifier = metric_identifier(&s, selector);
    let fields: Vec<(&str, Option<&Value>)> = match source {
        Some("object") => vec![
            ("describedObject", get(&s, "target")),
            ("metric", Some(&identifier)),
            (p, Some(&nested)),
        ],
        Some("pods") => vec![("metric", Some(&identifier)), (p, Some(&nested))],
        Some("resource" | "containerResource") => vec![
            ("name", get(&s, "name")),
            ("container", get(&s, "container")),
            (p, Some(&nested)),
        ],
        Some(_) => vec![("metric", Some(&identifier)), (p, Some(&nested))],
        None => Vec::new(),
    };
    metric(ty, source, object(fields))
}

/// v2's `metric: {name, selector}` from v1's `metricName` and selector.
fn metric_identifier(v1: &Value, selector: &str) -> Value {
    object([
        ("name", get(v1, "metricName")),
        ("selector", get(v1, selector)),
    ])
}

/// The scaling rules' fields: v2's name and the Go field name upstream's
/// annotation uses (it encodes its internal type, which has no JSON names).
const RULES: &[(&str, &str)] = &[
    ("stabilizationWindowSeconds", "StabilizationWindowSeconds"),
    ("selectPolicy", "SelectPolicy"),
    ("policies", "Policies"),
    ("tolerance", "Tolerance"),
];
const POLICY: &[(&str, &str)] = &[
    ("type", "Type"),
    ("value", "Value"),
    ("periodSeconds", "PeriodSeconds"),
];
const DIRECTIONS: &[(&str, &str)] = &[("scaleUp", "ScaleUp"), ("scaleDown", "ScaleDown")];

/// Renames the fields of `obj` from one column of `names` to the other,
/// with `nested` applied to each field's value; Go's encoder writes every
/// field, unset ones as `null`.
fn rename(
    obj: &Value,
    names: &[(&str, &str)],
    to_go: bool,
    nested: &dyn Fn(&str, &Value) -> Value,
) -> Value {
    let mut map = Map::new();
    for (json_name, go_name) in names {
        let (from, to) = if to_go {
            (*json_name, *go_name)
        } else {
            (*go_name, *json_name)
        };
        // Go's decoder matches field names without regard to case.
        let value = obj.as_object().and_then(|m| {
            m.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(from))
                .map(|(_, v)| v)
        });
        match value.filter(|v| !v.is_null()) {
            Some(v) => {
                map.insert(to.into(), nested(to, v));
            }
            None if to_go => {
                map.insert(to.into(), Value::Null);
            }
            None => {}
        }
    }
    Value::Object(map)
}

fn rules_renamed(to_go: bool) -> impl Fn(&str, &Value) -> Value {
    move |_: &str, rules: &Value| {
        rename(rules, RULES, to_go, &|field, v| match (field, v) {
            ("Policies" | "policies", Value::Array(list)) => Value::Array(
                list.iter()
                    .map(|p| rename(p, POLICY, to_go, &|_, v| v.clone()))
                    .collect(),
            ),
            _ => v.clone(),
        })
    }
}

/// v2's `spec.behavior` as upstream's annotation holds it.
fn behavior_to_annotation(behavior: &Value) -> Value {
    rename(behavior, DIRECTIONS, true, &rules_renamed(true))
}

/// The annotation's behavior in v2's shape; `None` when it says nothing.
fn behavior_from_annotation(annotation: &Value) -> Option<Value> {
    let behavior = rename(annotation, DIRECTIONS, false, &rules_renamed(false));
    behavior
        .as_object()
        .is_some_and(|m| !m.is_empty())
        .then_some(behavior)
}

#[cfg(test)]
mod tests;
