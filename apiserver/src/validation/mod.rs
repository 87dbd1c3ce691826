//! Validation: the rules an object must satisfy before it is stored.
//!
//! Every failure names the field (`spec.template.spec.containers[0].image`)
//! and the kind of failure, exactly what a 422 `Invalid` Status carries in
//! `details.causes`, so `kubectl` can print
//! `The Deployment "web" is invalid: spec.template.spec.containers[0].image: Required value`.
//!
//! Checks run on the defaulted object: names (DNS-1123), labels and
//! annotations, required fields, value ranges and enums, the cross-field rules
//! that keep controllers sane (a workload's selector must match its template's
//! labels), and on updates the fields that may never change.

use std::fmt;

use apimachinery::labels::{validate_label_key, validate_label_value, Selector};
use apimachinery::resources::ResourceInfo;
use serde_json::Value;

/// What kind of rule a field broke (the `reason` of a Status cause).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldErrorKind {
    /// A required field is missing.
    Required,
    /// The value is not allowed.
    Invalid,
    /// The value appears twice where it must be unique.
    Duplicate,
    /// The value is not one of the supported ones.
    NotSupported,
    /// The field may not be set (or changed).
    Forbidden,
    /// The value is too long.
    TooLong,
    /// Too many items.
    TooMany,
    /// A reference to something that does not exist.
    NotFound,
}

impl FieldErrorKind {
    /// The `reason` string upstream uses.
    pub fn reason(&self) -> &'static str {
        match self {
            FieldErrorKind::Required => "FieldValueRequired",
            FieldErrorKind::Invalid => "FieldValueInvalid",
            FieldErrorKind::Duplicate => "FieldValueDuplicate",
            FieldErrorKind::NotSupported => "FieldValueNotSupported",
            FieldErrorKind::Forbidden => "FieldValueForbidden",
            FieldErrorKind::TooLong => "FieldValueTooLong",
            FieldErrorKind::TooMany => "FieldValueTooMany",
            FieldErrorKind::NotFound => "FieldValueNotFound",
        }
    }
}

/// One broken rule.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    /// What kind of rule.
    pub kind: FieldErrorKind,
    /// The field path.
    pub field: String,
    /// The human-readable detail, e.g. `Required value` or
    /// `Invalid value: "Web": a lowercase RFC 1123 label must ...`.
    pub message: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.field, self.message)
        }
    }
}

fn required(field: impl Into<String>) -> FieldError {
    FieldError {
        kind: FieldErrorKind::Required,
        field: field.into(),
        message: "Required value".into(),
    }
}

fn invalid(field: impl Into<String>, value: &Value, detail: &str) -> FieldError {
    FieldError {
        kind: FieldErrorKind::Invalid,
        field: field.into(),
        message: format!("Invalid value: {value}: {detail}"),
    }
}

fn not_supported(field: impl Into<String>, value: &Value, allowed: &[&str]) -> FieldError {
    let allowed: Vec<String> = allowed.iter().map(|a| format!("\"{a}\"")).collect();
    FieldError {
        kind: FieldErrorKind::NotSupported,
        field: field.into(),
        message: format!(
            "Unsupported value: {value}: supported values: {}",
            allowed.join(", ")
        ),
    }
}

fn forbidden(field: impl Into<String>, detail: &str) -> FieldError {
    FieldError {
        kind: FieldErrorKind::Forbidden,
        field: field.into(),
        message: format!("Forbidden: {detail}"),
    }
}

fn immutable(field: impl Into<String>, value: &Value) -> FieldError {
    invalid(field, value, "field is immutable")
}

const DNS1123_LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const DNS1123_SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";

/// `[a-z0-9]([-a-z0-9]*[a-z0-9])?`, at most 63 characters.
pub fn is_dns1123_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// DNS-1123 labels joined by dots, at most 253 characters.
pub fn is_dns1123_subdomain(s: &str) -> bool {
    !s.is_empty() && s.len() <= 253 && s.split('.').all(is_dns1123_label)
}

/// Object name rules per resource: namespaces and services are DNS labels
/// (they become DNS names), most others DNS subdomains. Returns the problems.
pub fn validate_name(resource: &ResourceInfo, name: &str) -> Vec<String> {
    let label = matches!(resource.kind, "Namespace" | "Service");
    if label {
        if is_dns1123_label(name) {
            vec![]
        } else if name.len() > 63 {
            vec!["must be no more than 63 characters".into()]
        } else {
            vec![DNS1123_LABEL_MSG.into()]
        }
    } else if is_dns1123_subdomain(name) {
        vec![]
    } else if name.len() > 253 {
        vec!["must be no more than 253 characters".into()]
    } else {
        vec![DNS1123_SUBDOMAIN_MSG.into()]
    }
}

fn validate_meta(resource: &ResourceInfo, obj: &Value, errs: &mut Vec<FieldError>) {
    let meta = obj.get("metadata");
    let name = meta
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("");
    if name.is_empty() {
        errs.push(required("metadata.name"));
    } else {
        for problem in validate_name(resource, name) {
            errs.push(invalid(
                "metadata.name",
                &Value::String(name.into()),
                &problem,
            ));
        }
    }
    if let Some(labels) = meta
        .and_then(|m| m.get("labels"))
        .and_then(Value::as_object)
    {
        for (k, v) in labels {
            if let Err(e) = validate_label_key(k) {
                errs.push(invalid("metadata.labels", &Value::String(k.clone()), &e));
            }
            match v.as_str() {
                Some(s) => {
                    if let Err(e) = validate_label_value(s) {
                        errs.push(invalid(format!("metadata.labels.{k}"), v, &e));
                    }
                }
                None => errs.push(invalid(
                    format!("metadata.labels.{k}"),
                    v,
                    "must be a string",
                )),
            }
        }
    }
    if let Some(ann) = meta
        .and_then(|m| m.get("annotations"))
        .and_then(Value::as_object)
    {
        let total: usize = ann
            .iter()
            .map(|(k, v)| k.len() + v.as_str().map_or(0, str::len))
            .sum();
        if total > 256 * 1024 {
            errs.push(FieldError {
                kind: FieldErrorKind::TooLong,
                field: "metadata.annotations".into(),
                message: "Too long: must have at most 262144 bytes".into(),
            });
        }
        for k in ann.keys() {
            if let Err(e) = validate_label_key(k) {
                errs.push(invalid(
                    "metadata.annotations",
                    &Value::String(k.clone()),
                    &e,
                ));
            }
        }
    }
}

pub use apimachinery::quantity::parse as parse_quantity;

fn quantity_value(v: &Value) -> Option<f64> {
    match v {
        Value::String(s) => parse_quantity(s),
        Value::Number(n) => n.as_f64(),
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
            if quantity_value(q).is_none_or(|v| v < 0.0) {
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

/// A workload's selector must be set, non-empty, and match its template.
fn validate_selector_and_template(obj: &Value, errs: &mut Vec<FieldError>) {
    let selector = obj.pointer("/spec/selector");
    let empty = selector.is_none_or(|s| {
        s.get("matchLabels")
            .and_then(Value::as_object)
            .is_none_or(|m| m.is_empty())
            && s.get("matchExpressions")
                .and_then(Value::as_array)
                .is_none_or(|m| m.is_empty())
    });
    if empty {
        errs.push(required("spec.selector"));
        return;
    }
    let Some(selector) = selector else { return };
    match Selector::from_label_selector_json(selector) {
        Err(e) => errs.push(invalid("spec.selector", selector, &e.to_string())),
        Ok(sel) => {
            let labels = obj.pointer("/spec/template/metadata/labels");
            if !sel.matches_json(labels) {
                errs.push(invalid(
                    "spec.template.metadata.labels",
                    labels.unwrap_or(&Value::Null),
                    "`selector` does not match template `labels`",
                ));
            }
        }
    }
}

fn non_negative(obj: &Value, pointer: &str, field: &str, errs: &mut Vec<FieldError>) {
    if let Some(v) = obj.pointer(pointer).and_then(Value::as_i64) {
        if v < 0 {
            errs.push(invalid(
                field,
                &Value::from(v),
                "must be greater than or equal to 0",
            ));
        }
    }
}

fn int_or_percent_zero(v: Option<&Value>) -> bool {
    match v {
        Some(Value::Number(n)) => n.as_i64() == Some(0),
        Some(Value::String(s)) => s.trim_end_matches('%').parse::<f64>().ok() == Some(0.0),
        _ => false,
    }
}

fn validate_workload(obj: &Value, errs: &mut Vec<FieldError>) {
    validate_selector_and_template(obj, errs);
    non_negative(obj, "/spec/replicas", "spec.replicas", errs);
    non_negative(obj, "/spec/minReadySeconds", "spec.minReadySeconds", errs);
    non_negative(
        obj,
        "/spec/revisionHistoryLimit",
        "spec.revisionHistoryLimit",
        errs,
    );
    if let Some(spec) = obj.pointer("/spec/template/spec") {
        validate_pod_spec(spec, "spec.template.spec", errs);
        if let Some(rp) = spec.get("restartPolicy") {
            if rp.as_str() != Some("Always") {
                errs.push(not_supported(
                    "spec.template.spec.restartPolicy",
                    rp,
                    &["Always"],
                ));
            }
        }
    } else {
        errs.push(required("spec.template"));
    }
}

fn validate_deployment(obj: &Value, errs: &mut Vec<FieldError>) {
    validate_workload(obj, errs);
    match obj.pointer("/spec/strategy/type") {
        Some(t) if t.as_str() == Some("Recreate") => {
            if obj
                .pointer("/spec/strategy/rollingUpdate")
                .is_some_and(|r| !r.is_null())
            {
                errs.push(forbidden(
                    "spec.strategy.rollingUpdate",
                    "may not be specified when strategy `type` is 'Recreate'",
                ));
            }
        }
        Some(t) if t.as_str() == Some("RollingUpdate") => {
            let ru = obj.pointer("/spec/strategy/rollingUpdate");
            if int_or_percent_zero(ru.and_then(|r| r.get("maxSurge")))
                && int_or_percent_zero(ru.and_then(|r| r.get("maxUnavailable")))
            {
                errs.push(invalid(
                    "spec.strategy.rollingUpdate.maxUnavailable",
                    &Value::from(0),
                    "may not be 0 when `maxSurge` is 0",
                ));
            }
        }
        Some(t) => errs.push(not_supported(
            "spec.strategy.type",
            t,
            &["Recreate", "RollingUpdate"],
        )),
        None => {}
    }
    non_negative(
        obj,
        "/spec/progressDeadlineSeconds",
        "spec.progressDeadlineSeconds",
        errs,
    );
}

fn validate_job_spec(spec: &Value, path: &str, errs: &mut Vec<FieldError>) {
    for f in [
        "parallelism",
        "completions",
        "backoffLimit",
        "activeDeadlineSeconds",
    ] {
        if let Some(v) = spec.get(f).and_then(Value::as_i64) {
            if v < 0 {
                errs.push(invalid(
                    format!("{path}.{f}"),
                    &Value::from(v),
                    "must be greater than or equal to 0",
                ));
            }
        }
    }
    match spec.pointer("/template/spec") {
        Some(pod) => {
            validate_pod_spec(pod, &format!("{path}.template.spec"), errs);
            let rp = pod.get("restartPolicy").cloned().unwrap_or(Value::Null);
            if !matches!(rp.as_str(), Some("OnFailure" | "Never")) {
                errs.push(not_supported(
                    format!("{path}.template.spec.restartPolicy"),
                    &rp,
                    &["OnFailure", "Never"],
                ));
            }
        }
        None => errs.push(required(format!("{path}.template"))),
    }
}

/// A cron schedule: five fields, or one of the `@` macros.
pub fn is_valid_schedule(s: &str) -> bool {
    let s = s.trim();
    let s = match s.strip_prefix("CRON_TZ=").or_else(|| s.strip_prefix("TZ=")) {
        Some(rest) => rest.split_once(' ').map(|(_, r)| r.trim()).unwrap_or(""),
        None => s,
    };
    if s.starts_with('@') {
        return matches!(
            s,
            "@yearly" | "@annually" | "@monthly" | "@weekly" | "@daily" | "@midnight" | "@hourly"
        ) || s.starts_with("@every ");
    }
    let fields: Vec<&str> = s.split_whitespace().collect();
    let ranges = [(0, 59), (0, 23), (1, 31), (1, 12), (0, 7)];
    fields.len() == 5
        && fields.iter().zip(ranges).all(|(f, (lo, hi))| {
            f.split(',').all(|part| {
                let (range, step) = match part.split_once('/') {
                    Some((r, s)) => (r, Some(s)),
                    None => (part, None),
                };
                if step.is_some_and(|s| s.parse::<u32>().map_or(true, |n| n == 0)) {
                    return false;
                }
                if range == "*" || range == "?" {
                    return true;
                }
                let named = |x: &str| -> Option<u32> {
                    x.parse::<u32>().ok().or_else(|| {
                        let names = [
                            "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct",
                            "nov", "dec", "sun", "mon", "tue", "wed", "thu", "fri", "sat",
                        ];
                        let i = names.iter().position(|n| n.eq_ignore_ascii_case(x))? as u32;
                        Some(if i < 12 { i + 1 } else { i - 12 })
                    })
                };
                let (a, b) = match range.split_once('-') {
                    Some((a, b)) => (named(a), named(b)),
                    None => (named(range), named(range)),
                };
                matches!((a, b), (Some(a), Some(b)) if a >= lo && b <= hi && a <= b)
            })
        })
}

fn validate_service(obj: &Value, errs: &mut Vec<FieldError>) {
    let ty = obj.pointer("/spec/type").cloned().unwrap_or(Value::Null);
    if !matches!(
        ty.as_str(),
        Some("ClusterIP" | "NodePort" | "LoadBalancer" | "ExternalName")
    ) {
        errs.push(not_supported(
            "spec.type",
            &ty,
            &["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"],
        ));
    }
    let headless = obj.pointer("/spec/clusterIP").and_then(Value::as_str) == Some("None");
    let ports = obj.pointer("/spec/ports").and_then(Value::as_array);
    if ty.as_str() != Some("ExternalName") && !headless && ports.is_none_or(|p| p.is_empty()) {
        errs.push(required("spec.ports"));
    }
    if ty.as_str() == Some("ExternalName")
        && obj
            .pointer("/spec/externalName")
            .and_then(Value::as_str)
            .unwrap_or("")
            .is_empty()
    {
        errs.push(required("spec.externalName"));
    }
    let ports = ports.cloned().unwrap_or_default();
    let mut names = Vec::new();
    for (i, p) in ports.iter().enumerate() {
        let pp = format!("spec.ports[{i}]");
        match p.get("port").and_then(Value::as_i64) {
            Some(n) if (1..=65535).contains(&n) => {}
            Some(n) => errs.push(invalid(
                format!("{pp}.port"),
                &Value::from(n),
                "must be between 1 and 65535, inclusive",
            )),
            None => errs.push(required(format!("{pp}.port"))),
        }
        let name = p.get("name").and_then(Value::as_str).unwrap_or("");
        if ports.len() > 1 && name.is_empty() {
            errs.push(required(format!("{pp}.name")));
        }
        if !name.is_empty() {
            if names.contains(&name) {
                errs.push(FieldError {
                    kind: FieldErrorKind::Duplicate,
                    field: format!("{pp}.name"),
                    message: format!("Duplicate value: \"{name}\""),
                });
            }
            names.push(name);
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
    }
}

fn validate_data_keys(obj: &Value, errs: &mut Vec<FieldError>) {
    for field in ["data", "binaryData", "stringData"] {
        if let Some(m) = obj.get(field).and_then(Value::as_object) {
            for k in m.keys() {
                let ok = !k.is_empty()
                    && k.len() <= 253
                    && k.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b));
                if !ok {
                    errs.push(invalid(
                        field,
                        &Value::String(k.clone()),
                        "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')",
                    ));
                }
            }
        }
    }
}

/// Validates a new object.
pub fn validate_create(resource: &ResourceInfo, obj: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if !obj.is_object() {
        errs.push(invalid("", obj, "must be an object"));
        return errs;
    }
    validate_meta(resource, obj, &mut errs);
    match resource.kind {
        "Pod" => match obj.get("spec") {
            Some(spec) => validate_pod_spec(spec, "spec", &mut errs),
            None => errs.push(required("spec")),
        },
        "Deployment" => validate_deployment(obj, &mut errs),
        "ReplicaSet" | "StatefulSet" | "DaemonSet" => validate_workload(obj, &mut errs),
        "Job" => match obj.get("spec") {
            Some(spec) => validate_job_spec(spec, "spec", &mut errs),
            None => errs.push(required("spec")),
        },
        "CronJob" => {
            let sched = obj
                .pointer("/spec/schedule")
                .and_then(Value::as_str)
                .unwrap_or("");
            if sched.is_empty() {
                errs.push(required("spec.schedule"));
            } else if !is_valid_schedule(sched) {
                errs.push(invalid(
                    "spec.schedule",
                    &Value::String(sched.into()),
                    "unparseable schedule: expected exactly 5 fields or a @-descriptor",
                ));
            }
            if let Some(p) = obj.pointer("/spec/concurrencyPolicy") {
                if !matches!(p.as_str(), Some("Allow" | "Forbid" | "Replace")) {
                    errs.push(not_supported(
                        "spec.concurrencyPolicy",
                        p,
                        &["Allow", "Forbid", "Replace"],
                    ));
                }
            }
            match obj.pointer("/spec/jobTemplate/spec") {
                Some(spec) => validate_job_spec(spec, "spec.jobTemplate.spec", &mut errs),
                None => errs.push(required("spec.jobTemplate")),
            }
        }
        "Service" => validate_service(obj, &mut errs),
        "ConfigMap" | "Secret" => validate_data_keys(obj, &mut errs),
        "Event" => {
            if obj.pointer("/involvedObject/kind").is_none()
                && obj.pointer("/involvedObject/name").is_none()
            {
                errs.push(required("involvedObject"));
            }
        }
        "EndpointSlice" => {
            let at = obj.get("addressType").cloned().unwrap_or(Value::Null);
            if !matches!(at.as_str(), Some("IPv4" | "IPv6" | "FQDN")) {
                errs.push(not_supported("addressType", &at, &["IPv4", "IPv6", "FQDN"]));
            }
        }
        "PriorityClass" => {
            if obj.get("value").and_then(Value::as_i64).is_none() {
                errs.push(required("value"));
            }
        }
        _ => {}
    }
    errs
}

/// Fields of a pod's spec an update may change (upstream's list).
const POD_MUTABLE: &[&str] = &[
    "activeDeadlineSeconds",
    "tolerations",
    "terminationGracePeriodSeconds",
];

/// Validates an update of `old` into `new`.
pub fn validate_update(resource: &ResourceInfo, new: &Value, old: &Value) -> Vec<FieldError> {
    let mut errs = validate_create(resource, new);
    let same = |p: &str| new.pointer(p) == old.pointer(p);
    match resource.kind {
        "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet" | "Job" => {
            if !same("/spec/selector") {
                errs.push(immutable(
                    "spec.selector",
                    new.pointer("/spec/selector").unwrap_or(&Value::Null),
                ));
            }
        }
        "Pod" => {
            let strip = |v: &Value| -> Value {
                let mut spec = v.get("spec").cloned().unwrap_or(Value::Null);
                if let Some(m) = spec.as_object_mut() {
                    for f in POD_MUTABLE {
                        m.remove(*f);
                    }
                    for list in ["containers", "initContainers"] {
                        if let Some(cs) = m.get_mut(list).and_then(Value::as_array_mut) {
                            for c in cs {
                                if let Some(c) = c.as_object_mut() {
                                    c.remove("image");
                                }
                            }
                        }
                    }
                }
                spec
            };
            if strip(new) != strip(old) {
                errs.push(forbidden(
                    "spec",
                    "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
                ));
            }
        }
        "Service" => {
            let old_ip = old
                .pointer("/spec/clusterIP")
                .and_then(Value::as_str)
                .unwrap_or("");
            if !old_ip.is_empty() && !same("/spec/clusterIP") {
                errs.push(immutable(
                    "spec.clusterIP",
                    new.pointer("/spec/clusterIP").unwrap_or(&Value::Null),
                ));
            }
        }
        "Node" => {
            // As upstream: a podCIDR is handed out once; pods' addresses
            // and other nodes' routes depend on it.
            for (pointer, field) in [
                ("/spec/podCIDR", "spec.podCIDR"),
                ("/spec/podCIDRs", "spec.podCIDRs"),
            ] {
                let was_set = match old.pointer(pointer) {
                    Some(Value::String(s)) => !s.is_empty(),
                    Some(Value::Array(a)) => !a.is_empty(),
                    _ => false,
                };
                if was_set && !same(pointer) {
                    errs.push(forbidden(
                        field,
                        &format!("node updates may not change {field} except from \"\" to valid"),
                    ));
                }
            }
        }
        "ConfigMap" | "Secret" => {
            if old.get("immutable").and_then(Value::as_bool) == Some(true) {
                if !same("/data") || !same("/binaryData") {
                    errs.push(forbidden(
                        "data",
                        "field is immutable when `immutable` is set",
                    ));
                }
                if !same("/immutable") {
                    errs.push(forbidden(
                        "immutable",
                        "field is immutable when `immutable` is set",
                    ));
                }
            }
        }
        _ => {}
    }
    if resource.kind == "Job" && !same("/spec/template") {
        errs.push(immutable(
            "spec.template",
            &Value::String("<the pod template>".into()),
        ));
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use apimachinery::resources::find;
    use serde_json::json;

    fn res(group: &str, plural: &str) -> &'static ResourceInfo {
        find(group, "v1", plural).unwrap_or_else(|| panic!("{plural}"))
    }

    fn fields(errs: &[FieldError]) -> Vec<String> {
        errs.iter().map(|e| e.field.clone()).collect()
    }

    fn deployment(sel: &str, label: &str) -> Value {
        json!({"metadata": {"name": "web"}, "spec": {"replicas": 1,
            "selector": {"matchLabels": {"app": sel}},
            "template": {"metadata": {"labels": {"app": label}},
                "spec": {"restartPolicy": "Always", "containers": [{"name": "web", "image": "nginx"}]}}}})
    }

    #[test]
    fn names() {
        assert!(is_dns1123_label("web-1"));
        assert!(!is_dns1123_label("Web"));
        assert!(!is_dns1123_label("-a"));
        assert!(is_dns1123_subdomain("a.b-c"));
        assert!(!is_dns1123_subdomain("a..b"));
        assert!(validate_name(res("", "namespaces"), "a.b").len() == 1);
        assert!(validate_name(res("", "configmaps"), "a.b").is_empty());
    }

    #[test]
    fn deployment_rules() {
        let deps = res("apps", "deployments");
        assert!(validate_create(deps, &deployment("web", "web")).is_empty());
        let errs = validate_create(deps, &deployment("web", "db"));
        assert_eq!(fields(&errs), vec!["spec.template.metadata.labels"]);
        assert!(errs[0]
            .message
            .contains("`selector` does not match template `labels`"));
        let mut no_containers = deployment("web", "web");
        no_containers["spec"]["template"]["spec"]["containers"] = json!([]);
        assert_eq!(
            fields(&validate_create(deps, &no_containers)),
            vec!["spec.template.spec.containers"]
        );
        let errs = validate_update(
            deps,
            &deployment("other", "other"),
            &deployment("web", "web"),
        );
        assert_eq!(fields(&errs), vec!["spec.selector"]);
    }

    #[test]
    fn pod_rules() {
        let pods = res("", "pods");
        let pod = json!({"metadata": {"name": "Bad_Name", "labels": {"ok": "yes", "bad key!": "x"}},
            "spec": {"restartPolicy": "Sometimes", "containers": [
                {"name": "a", "image": "", "ports": [{"containerPort": 70000}],
                 "resources": {"requests": {"cpu": "2"}, "limits": {"cpu": "1"}},
                 "volumeMounts": [{"name": "missing", "mountPath": "/x"}]},
                {"name": "a", "image": "busybox"}]}});
        let got = fields(&validate_create(pods, &pod));
        for want in [
            "metadata.name",
            "metadata.labels",
            "spec.restartPolicy",
            "spec.containers[0].image",
            "spec.containers[0].ports[0].containerPort",
            "spec.containers[0].resources.requests",
            "spec.containers[0].volumeMounts[0].name",
            "spec.containers[1].name",
        ] {
            assert!(got.iter().any(|g| g == want), "missing {want} in {got:?}");
        }
        let old = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "a", "image": "x"}], "nodeName": "n1"}});
        let mut image = old.clone();
        image["spec"]["containers"][0]["image"] = json!("y");
        assert!(validate_update(pods, &image, &old).is_empty());
        let mut node = old.clone();
        node["spec"]["nodeName"] = json!("n2");
        assert_eq!(fields(&validate_update(pods, &node, &old)), vec!["spec"]);
    }

    #[test]
    fn services_jobs_cronjobs_configmaps() {
        let svc = json!({"metadata": {"name": "s"}, "spec": {"type": "ClusterIP", "ports": []}});
        assert_eq!(
            fields(&validate_create(res("", "services"), &svc)),
            vec!["spec.ports"]
        );
        let job = json!({"metadata": {"name": "j"}, "spec": {"template": {"spec": {"restartPolicy": "Always", "containers": [{"name": "c", "image": "i"}]}}}});
        assert_eq!(
            fields(&validate_create(res("batch", "jobs"), &job)),
            vec!["spec.template.spec.restartPolicy"]
        );
        assert!(is_valid_schedule("*/5 * * * *"));
        assert!(is_valid_schedule("0 3 * * mon-fri"));
        assert!(is_valid_schedule("@hourly"));
        assert!(!is_valid_schedule("61 * * * *"));
        assert!(!is_valid_schedule("* * *"));
        let cm = json!({"metadata": {"name": "c"}, "data": {"ok.key": "1", "bad key": "2"}});
        assert_eq!(
            fields(&validate_create(res("", "configmaps"), &cm)),
            vec!["data"]
        );
        let frozen = json!({"metadata": {"name": "c"}, "immutable": true, "data": {"a": "1"}});
        let mut changed = frozen.clone();
        changed["data"]["a"] = json!("2");
        assert_eq!(
            fields(&validate_update(res("", "configmaps"), &changed, &frozen)),
            vec!["data"]
        );
    }

    #[test]
    fn node_pod_cidr_is_set_once() {
        let nodes = res("", "nodes");
        let empty = json!({"metadata": {"name": "n"}, "spec": {}});
        let a = json!({"metadata": {"name": "n"}, "spec": {"podCIDR": "10.244.1.0/24", "podCIDRs": ["10.244.1.0/24"]}});
        let b = json!({"metadata": {"name": "n"}, "spec": {"podCIDR": "10.244.2.0/24", "podCIDRs": ["10.244.2.0/24"]}});
        assert!(validate_update(nodes, &a, &empty).is_empty());
        assert!(validate_update(nodes, &a, &a).is_empty());
        assert_eq!(
            fields(&validate_update(nodes, &b, &a)),
            ["spec.podCIDR", "spec.podCIDRs"]
        );
        assert_eq!(fields(&validate_update(nodes, &empty, &a)).len(), 2);
    }

    #[test]
    fn quantities() {
        assert_eq!(parse_quantity("100m"), Some(0.1));
        assert_eq!(parse_quantity("1Gi"), Some(1073741824.0));
        assert_eq!(parse_quantity("2e3"), Some(2000.0));
        assert_eq!(parse_quantity("abc"), None);
    }

    #[test]
    fn odd_json_never_panics() {
        for r in apimachinery::resources::RESOURCES {
            for v in [
                json!(null),
                json!([1]),
                json!("x"),
                json!({"spec": 3}),
                json!({"metadata": []}),
            ] {
                let _ = validate_create(r, &v);
                let _ = validate_update(r, &v, &json!({}));
            }
        }
    }
}
