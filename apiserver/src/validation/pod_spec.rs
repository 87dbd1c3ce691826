//! PodSpec rules, shared by Pods and every pod template (Deployments,
//! ReplicaSets, StatefulSets, DaemonSets, Jobs, CronJobs): containers with
//! names and images, ports in range, requests within limits, mounts of
//! declared volumes, and the restart policy.

use serde_json::Value;

use super::object_meta::{is_dns1123_label, DNS1123_LABEL_MSG};
use super::{invalid, not_supported, required, FieldError, FieldErrorKind};

use apimachinery::quantity::{self, Quantity};

/// Parses a quantity's text exactly (`100m`, `1Gi`, `2e3`).
pub fn parse_quantity(s: &str) -> Result<Quantity, quantity::Error> {
    Quantity::parse(s)
}

/// A quantity field: its text, or a JSON number read as the same text.
fn quantity_value(v: &Value) -> Option<Quantity> {
    match v {
        Value::String(s) => parse_quantity(s).ok(),
        Value::Number(n) => parse_quantity(&n.to_string()).ok(),
        _ => None,
    }
}

fn validate_container(c: &Value, path: &str, volumes: &[String], errs: &mut Vec<FieldError>) {
    let name = c.get("name").and_then(Value::as_str).unwrap_or("");
    if name.is_empty() {
        errs.push(required(format!("{path}.name")));
    } else if !is_dns1123_label(name) {
        errs.push(invalid(
            format!("{path}.name"),
            &Value::String(name.into()),
            DNS1123_LABEL_MSG,
        ));
    }
    if c.get("image")
        .and_then(Value::as_str)
        .unwrap_or("")
        .trim()
        .is_empty()
    {
        errs.push(required(format!("{path}.image")));
    }
    if let Some(policy) = c.get("imagePullPolicy") {
        if !matches!(policy.as_str(), Some("Always" | "IfNotPresent" | "Never")) {
            errs.push(not_supported(
                format!("{path}.imagePullPolicy"),
                policy,
                &["Always", "IfNotPresent", "Never"],
            ));
        }
    }
    if let Some(ports) = c.get("ports").and_then(Value::as_array) {
        let mut names = Vec::new();
        for (i, p) in ports.iter().enumerate() {
            let pp = format!("{path}.ports[{i}]");
            match p.get("containerPort").and_then(Value::as_i64) {
                Some(n) if (1..=65535).contains(&n) => {}
                Some(n) => errs.push(invalid(
                    format!("{pp}.containerPort"),
                    &Value::from(n),
                    "must be between 1 and 65535, inclusive",
                )),
                None => errs.push(required(format!("{pp}.containerPort"))),
            }
            if let Some(proto) = p.get("protocol") {
                if !matches!(proto.as_str(), Some("TCP" | "UDP" | "SCTP")) {
                    errs.push(not_supported(
                        format!("{pp}.protocol"),
                        proto,
                        &["SCTP", "TCP", "UDP"],
                    ));
                }
            }
            if let Some(n) = p.get("name").and_then(Value::as_str) {
                if names.contains(&n) {
                    errs.push(FieldError {
                        kind: FieldErrorKind::Duplicate,
                        field: format!("{pp}.name"),
                        message: format!("Duplicate value: \"{n}\""),
                    });
                }
                names.push(n);
            }
        }
    }
    if let Some(env) = c.get("env").and_then(Value::as_array) {
        for (i, e) in env.iter().enumerate() {
            let n = e.get("name").and_then(Value::as_str).unwrap_or("");
            let valid = !n.is_empty()
                && !n.as_bytes()[0].is_ascii_digit()
                && n.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b));
            if n.is_empty() {
                errs.push(required(format!("{path}.env[{i}].name")));
            } else if !valid {
                errs.push(invalid(
                    format!("{path}.env[{i}].name"),
                    &Value::String(n.into()),
                    "a valid environment variable name must consist of alphabetic characters, digits, '_', '-', or '.', and must not start with a digit",
                ));
            }
        }
    }
    if let Some(mounts) = c.get("volumeMounts").and_then(Value::as_array) {
        for (i, m) in mounts.iter().enumerate() {
            let n = m.get("name").and_then(Value::as_str).unwrap_or("");
            if n.is_empty() {
                errs.push(required(format!("{path}.volumeMounts[{i}].name")));
            } else if !volumes.iter().any(|v| v == n) {
                errs.push(FieldError {
                    kind: FieldErrorKind::NotFound,
                    field: format!("{path}.volumeMounts[{i}].name"),
                    message: format!("Not found: \"{n}\""),
                });
            }
            if m.get("mountPath")
                .and_then(Value::as_str)
                .unwrap_or("")
                .is_empty()
            {
                errs.push(required(format!("{path}.volumeMounts[{i}].mountPath")));
            }
        }
    }
    let requests = c.pointer("/resources/requests").and_then(Value::as_object);
    let limits = c.pointer("/resources/limits").and_then(Value::as_object);
    for (kind, map) in [("requests", requests), ("limits", limits)] {
        for (res, q) in map.into_iter().flatten() {
            if quantity_value(q).is_none_or(|v| v.signum() < 0) {
                errs.push(invalid(
                    format!("{path}.resources.{kind}[{res}]"),
                    q,
                    "must be a valid non-negative quantity",
                ));
            }
        }
    }
    if let (Some(req), Some(lim)) = (requests, limits) {
        for (res, r) in req {
            if let (Some(rv), Some(lv)) = (quantity_value(r), lim.get(res).and_then(quantity_value))
            {
                if rv > lv {
                    errs.push(invalid(
                        format!("{path}.resources.requests"),
                        r,
                        &format!("must be less than or equal to {res} limit of {}", lim[res]),
                    ));
                }
            }
        }
    }
}

/// Validates a PodSpec found at `path`.
pub fn validate_pod_spec(spec: &Value, path: &str, errs: &mut Vec<FieldError>) {
    let volumes: Vec<String> = spec
        .get("volumes")
        .and_then(Value::as_array)
        .map(|v| {
            v.iter()
                .filter_map(|v| v.get("name").and_then(Value::as_str).map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let mut seen = Vec::new();
    for (i, v) in volumes.iter().enumerate() {
        if seen.contains(v) {
            errs.push(FieldError {
                kind: FieldErrorKind::Duplicate,
                field: format!("{path}.volumes[{i}].name"),
                message: format!("Duplicate value: \"{v}\""),
            });
        }
        seen.push(v.clone());
    }
    let containers = spec.get("containers").and_then(Value::as_array);
    match containers {
        Some(cs) if !cs.is_empty() => {}
        _ => errs.push(required(format!("{path}.containers"))),
    }
    let mut names: Vec<String> = Vec::new();
    for list in ["initContainers", "containers"] {
        for (i, c) in spec
            .get(list)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            let cp = format!("{path}.{list}[{i}]");
            validate_container(c, &cp, &volumes, errs);
            if let Some(n) = c.get("name").and_then(Value::as_str) {
                if names.iter().any(|x| x == n) {
                    errs.push(FieldError {
                        kind: FieldErrorKind::Duplicate,
                        field: format!("{cp}.name"),
                        message: format!("Duplicate value: \"{n}\""),
                    });
                }
                names.push(n.to_string());
            }
        }
    }
    if let Some(rp) = spec.get("restartPolicy") {
        if !matches!(rp.as_str(), Some("Always" | "OnFailure" | "Never")) {
            errs.push(not_supported(
                format!("{path}.restartPolicy"),
                rp,
                &["Always", "OnFailure", "Never"],
            ));
        }
    }
    if let Some(dp) = spec.get("dnsPolicy") {
        if !matches!(
            dp.as_str(),
            Some("ClusterFirst" | "ClusterFirstWithHostNet" | "Default" | "None")
        ) {
            errs.push(not_supported(
                format!("{path}.dnsPolicy"),
                dp,
                &["ClusterFirst", "ClusterFirstWithHostNet", "Default", "None"],
            ));
        }
    }
    if let Some(g) = spec
        .get("terminationGracePeriodSeconds")
        .and_then(Value::as_i64)
    {
        if g < 0 {
            errs.push(invalid(
                format!("{path}.terminationGracePeriodSeconds"),
                &Value::from(g),
                "must be greater than or equal to 0",
            ));
        }
    }
}
