//! The v1 <-> v2 conversion, checked against upstream's behaviour.

use super::*;
use crate::registry::Strategy;

fn v2(spec: Value, status: Value) -> Value {
    json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web", "namespace": "default", "annotations": {"team": "a"}},
        "spec": spec, "status": status})
}

fn target() -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"})
}

fn cpu(percent: i64) -> Value {
    json!({"type": "Resource", "resource": {"name": "cpu",
        "target": {"type": "Utilization", "averageUtilization": percent}}})
}

fn memory() -> Value {
    json!({"type": "Resource", "resource": {"name": "memory",
        "target": {"type": "AverageValue", "averageValue": "100Mi"}}})
}

fn convert(f: Convert, obj: &Value) -> Value {
    f(obj).unwrap_or_else(|e| panic!("{e}"))
}

use crate::registry::versions::Convert;

fn annotations(obj: &Value) -> &Map<String, Value> {
    obj.pointer("/metadata/annotations")
        .and_then(Value::as_object)
        .unwrap_or_else(|| panic!("no annotations: {obj}"))
}

#[test]
fn a_cpu_target_is_the_v1_percentage_and_nothing_else_is_annotated() {
    let obj = v2(
        json!({"scaleTargetRef": target(), "minReplicas": 1, "maxReplicas": 3, "metrics": [cpu(50)]}),
        json!({"currentReplicas": 2, "desiredReplicas": 2, "currentMetrics": [{"type": "Resource",
            "resource": {"name": "cpu", "current": {"averageUtilization": 41, "averageValue": "205m"}}}]}),
    );
    let v1 = convert(to_v1, &obj);
    assert_eq!(v1["apiVersion"], "autoscaling/v1");
    assert_eq!(v1["spec"]["targetCPUUtilizationPercentage"], 50);
    assert_eq!(v1["spec"]["maxReplicas"], 3);
    assert!(v1["spec"].get("metrics").is_none());
    assert_eq!(v1["status"]["currentCPUUtilizationPercentage"], 41);
    let a = annotations(&v1);
    assert_eq!(a["team"], "a");
    assert!(!a.contains_key(METRICS) && !a.contains_key(BEHAVIOR));
    // The raw value of the current metric is kept (upstream saves it even
    // when it maps to the percentage).
    let current: Value =
        serde_json::from_str(a[CURRENT_METRICS].as_str().unwrap_or("")).unwrap_or_default();
    assert_eq!(
        current,
        json!([{"type": "Resource", "resource": {"name": "cpu",
            "currentAverageUtilization": 41, "currentAverageValue": "205m"}}])
    );
    assert_eq!(convert(to_v2, &v1), obj);
}

#[test]
fn what_v1_cannot_say_travels_in_annotations_and_comes_back() {
    let behavior = json!({"scaleDown": {"stabilizationWindowSeconds": 60, "selectPolicy": "Min",
        "policies": [{"type": "Pods", "value": 1, "periodSeconds": 30}]}});
    let conditions = json!([{"type": "AbleToScale", "status": "True",
        "lastTransitionTime": "2026-01-01T00:00:00Z", "reason": "ReadyForNewScale", "message": "ok"}]);
    let pods = json!({"type": "Pods", "pods": {"metric": {"name": "qps"},
        "target": {"type": "AverageValue", "averageValue": "10"}}});
    let obj = v2(
        json!({"scaleTargetRef": target(), "minReplicas": 2, "maxReplicas": 8,
            "metrics": [memory(), pods.clone(), cpu(70)], "behavior": behavior}),
        json!({"currentReplicas": 3, "desiredReplicas": 4, "conditions": conditions,
            "currentMetrics": [{"type": "Resource", "resource": {"name": "memory",
                "current": {"averageValue": "50Mi"}}}]}),
    );
    let v1 = convert(to_v1, &obj);
    assert_eq!(v1["spec"]["targetCPUUtilizationPercentage"], 70);
    assert!(v1["status"]
        .get("currentCPUUtilizationPercentage")
        .is_none());
    let a = annotations(&v1);
    let metrics: Value =
        serde_json::from_str(a[METRICS].as_str().unwrap_or("")).unwrap_or_default();
    assert_eq!(
        metrics,
        json!([{"type": "Resource", "resource": {"name": "memory", "targetAverageValue": "100Mi"}},
               {"type": "Pods", "pods": {"metricName": "qps", "targetAverageValue": "10"}}])
    );
    // Upstream encodes its internal type: Go's field names, unset as null.
    let b: Value = serde_json::from_str(a[BEHAVIOR].as_str().unwrap_or("")).unwrap_or_default();
    assert_eq!(b["ScaleUp"], Value::Null);
    assert_eq!(b["ScaleDown"]["StabilizationWindowSeconds"], 60);
    assert_eq!(b["ScaleDown"]["Policies"][0]["PeriodSeconds"], 30);
    assert_eq!(b["ScaleDown"]["Tolerance"], Value::Null);
    assert!(a.contains_key(CONDITIONS));

    let back = convert(to_v2, &v1);
    // The annotated metrics first, the cpu target last (upstream's order).
    assert_eq!(back["spec"]["metrics"], json!([memory(), pods, cpu(70)]));
    assert_eq!(back["spec"]["behavior"], obj["spec"]["behavior"]);
    assert_eq!(back["status"]["conditions"], conditions);
    // v1's required quantity comes back as the zero it was written as.
    assert_eq!(
        back["status"]["currentMetrics"][0]["resource"]["current"]["averageValue"],
        "50Mi"
    );
    assert_eq!(back["metadata"]["annotations"], json!({"team": "a"}));
    // A second round trip is exact.
    assert_eq!(convert(to_v2, &convert(to_v1, &back)), back);
}

#[test]
fn every_metric_type_survives_the_round_trip() {
    let selector = json!({"matchLabels": {"app": "web"}});
    let metrics = json!([
        {"type": "Object", "object": {"describedObject": {"kind": "Service", "name": "web", "apiVersion": "v1"},
            "metric": {"name": "rps", "selector": selector}, "target": {"type": "Value", "value": "100"}}},
        {"type": "Object", "object": {"describedObject": {"kind": "Service", "name": "web", "apiVersion": "v1"},
            "metric": {"name": "rps"}, "target": {"type": "AverageValue", "averageValue": "5"}}},
        {"type": "External", "external": {"metric": {"name": "queue", "selector": selector},
            "target": {"type": "Value", "value": "30"}}},
        {"type": "External", "external": {"metric": {"name": "queue"},
            "target": {"type": "AverageValue", "averageValue": "3"}}},
        {"type": "ContainerResource", "containerResource": {"name": "cpu", "container": "app",
            "target": {"type": "Utilization", "averageUtilization": 60}}},
    ]);
    let obj = v2(
        json!({"scaleTargetRef": target(), "minReplicas": 1, "maxReplicas": 5, "metrics": metrics}),
        json!({"currentReplicas": 1, "desiredReplicas": 1}),
    );
    let v1 = convert(to_v1, &obj);
    assert!(v1["spec"].get("targetCPUUtilizationPercentage").is_none());
    let back = convert(to_v2, &v1);
    assert_eq!(back["spec"]["metrics"], metrics);
    assert_eq!(back, obj);
}

#[test]
fn v1_objects_become_v2_as_upstream() {
    let v1 = json!({"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web", "annotations": {METRICS: "not json", "keep": "me"}},
        "spec": {"scaleTargetRef": target(), "maxReplicas": 3, "targetCPUUtilizationPercentage": 50},
        "status": {"currentReplicas": 1, "desiredReplicas": 1, "currentCPUUtilizationPercentage": 20}});
    let obj = convert(to_v2, &v1);
    assert_eq!(obj["apiVersion"], "autoscaling/v2");
    // An annotation that does not parse is ignored, and dropped.
    assert_eq!(obj["spec"]["metrics"], json!([cpu(50)]));
    assert_eq!(obj["metadata"]["annotations"], json!({"keep": "me"}));
    assert_eq!(
        obj["status"]["currentMetrics"],
        json!([{"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 20}}}])
    );
    // No metric at all: upstream's 80% CPU.
    let mut bare = v1.clone();
    bare["spec"] = json!({"scaleTargetRef": target(), "maxReplicas": 3});
    bare["metadata"] = json!({"name": "web"});
    let obj = convert(to_v2, &bare);
    assert_eq!(obj["spec"]["metrics"], json!([cpu(80)]));
    assert!(obj["metadata"].get("annotations").is_none());
    // Go's decoder ignores case: a hand-written behavior annotation counts.
    let mut hand = bare.clone();
    hand["metadata"]["annotations"] =
        json!({BEHAVIOR: r#"{"scaleUp":{"selectPolicy":"Disabled"}}"#});
    assert_eq!(
        convert(to_v2, &hand)["spec"]["behavior"],
        json!({"scaleUp": {"selectPolicy": "Disabled"}})
    );
    assert!(to_v2(&json!("x")).is_err());
}

#[test]
fn round_trip_annotations_a_client_sets_are_replaced_on_the_way_to_v1() {
    let mut obj = v2(
        json!({"scaleTargetRef": target(), "maxReplicas": 3, "metrics": [cpu(50)]}),
        json!({}),
    );
    obj["metadata"]["annotations"][METRICS] = json!("[]");
    obj["metadata"]["annotations"][CONDITIONS] = json!("stale");
    let v1 = convert(to_v1, &obj);
    assert_eq!(annotations(&v1).len(), 1, "{v1}");
}

#[test]
fn the_v1_strategy_defaults_validates_and_prints_as_v2() {
    let mut obj = json!({"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web"},
        "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "maxReplicas": 0,
            "targetCPUUtilizationPercentage": 0}});
    STRATEGY.default(&mut obj);
    assert_eq!(obj["spec"]["minReplicas"], 1);
    let errs: Vec<String> = STRATEGY
        .validate(&obj)
        .iter()
        .map(|e| e.to_string())
        .collect();
    assert!(
        errs.contains(
            &"spec.maxReplicas: Required value: must be set and greater than 0".to_string()
        ),
        "{errs:?}"
    );
    assert!(
        errs.iter().any(|e| e
            .starts_with("spec.metrics[0].resource.target.averageUtilization: Invalid value: 0")),
        "{errs:?}"
    );
    obj["spec"]["maxReplicas"] = json!(3);
    obj["spec"]["targetCPUUtilizationPercentage"] = json!(50);
    assert!(STRATEGY.validate(&obj).is_empty());
    assert!(std::ptr::eq(
        STRATEGY.columns(),
        super::super::STRATEGY.columns()
    ));
    let cells = STRATEGY.cells(&obj);
    assert_eq!(cells[1], "Deployment/web");
    assert_eq!(cells[2], "cpu: <unknown>/50%");
    // A Table made of a stored (v2) object prints the same.
    let stored = convert(to_v2, &obj);
    assert_eq!(STRATEGY.cells(&stored)[2], cells[2]);
}
