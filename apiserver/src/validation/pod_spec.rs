//! PodSpec rules, shared by Pods and every pod template (Deployments,
//! ReplicaSets, StatefulSets, DaemonSets, Jobs, CronJobs): containers with
//! names and images, ports in range, requests within limits, mounts of
//! declared volumes, the restart policy, resize policies, and sysctl names.

use serde_json::Value;

use super::object_meta::{is_dns1123_label, DNS1123_LABEL_MSG};
use super::{duplicate, forbidden, invalid, not_supported, required, FieldError, FieldErrorKind};

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
                    errs.push(duplicate(format!("{pp}.name"), n));
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

/// A container's `resizePolicy` (upstream's `validateResizePolicy`): one
/// entry per resource, cpu or memory, `NotRequired` or `RestartContainer`;
/// `NotRequired` only in a pod that never restarts containers, and never
/// `RestartContainer` for an init container that is not a sidecar.
fn validate_resize_policy(
    c: &Value,
    path: &str,
    init: bool,
    spec: &Value,
    errs: &mut Vec<FieldError>,
) {
    let Some(policies) = c.get("resizePolicy").and_then(Value::as_array) else {
        return;
    };
    let fp = format!("{path}.resizePolicy");
    let never = spec.get("restartPolicy").and_then(Value::as_str) == Some("Never");
    let sidecar = c.get("restartPolicy").and_then(Value::as_str) == Some("Always");
    let mut seen: Vec<&str> = Vec::new();
    for (j, p) in policies.iter().enumerate() {
        let resource = p.get("resourceName").and_then(Value::as_str).unwrap_or("");
        let policy = p.get("restartPolicy").and_then(Value::as_str).unwrap_or("");
        if seen.contains(&resource) {
            errs.push(duplicate(format!("{fp}[{j}]"), resource));
        }
        seen.push(resource);
        match resource {
            "cpu" | "memory" => {}
            "" => errs.push(required(fp.clone())),
            other => errs.push(not_supported(
                fp.clone(),
                &Value::from(other),
                &["cpu", "memory"],
            )),
        }
        match policy {
            "NotRequired" | "RestartContainer" => {}
            "" => errs.push(required(fp.clone())),
            other => errs.push(not_supported(
                fp.clone(),
                &Value::from(other),
                &["NotRequired", "RestartContainer"],
            )),
        }
        if never && policy != "NotRequired" {
            errs.push(invalid(
                fp.clone(),
                &Value::from(policy),
                "must be 'NotRequired' when pod `restartPolicy` is 'Never'",
            ));
        }
        if init && !sidecar && policy == "RestartContainer" {
            errs.push(invalid(
                format!("{fp}[{j}].restartPolicy"),
                &Value::from(policy),
                "must not be set to 'RestartContainer' for non-sidecar initContainers",
            ));
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
            errs.push(duplicate(format!("{path}.volumes[{i}].name"), v));
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
            validate_resize_policy(c, &cp, list == "initContainers", spec, errs);
            if let Some(n) = c.get("name").and_then(Value::as_str) {
                if names.iter().any(|x| x == n) {
                    errs.push(duplicate(format!("{cp}.name"), n));
                }
                names.push(n.to_string());
            }
        }
    }
    validate_ephemeral_containers(spec, path, &volumes, &mut names, errs);
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
    validate_sysctls(spec, path, errs);
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

/// Fields an ephemeral container may set: it exists to look at a pod, so it
/// takes no part in the pod's ports, resources, lifecycle or probes.
const EPHEMERAL_ALLOWED: &[&str] = &[
    "name",
    "image",
    "command",
    "args",
    "workingDir",
    "envFrom",
    "env",
    "volumeMounts",
    "volumeDevices",
    "terminationMessagePath",
    "terminationMessagePolicy",
    "imagePullPolicy",
    "securityContext",
    "stdin",
    "stdinOnce",
    "tty",
    "targetContainerName",
];

fn validate_ephemeral_containers(
    spec: &Value,
    path: &str,
    volumes: &[String],
    names: &mut Vec<String>,
    errs: &mut Vec<FieldError>,
) {
    let others = names.clone();
    let list = spec.get("ephemeralContainers").and_then(Value::as_array);
    for (i, c) in list.into_iter().flatten().enumerate() {
        let cp = format!("{path}.ephemeralContainers[{i}]");
        validate_container(c, &cp, volumes, errs);
        if let Some(n) = c.get("name").and_then(Value::as_str) {
            if names.iter().any(|x| x == n) {
                errs.push(duplicate(format!("{cp}.name"), n));
            } else {
                names.push(n.to_string());
            }
        }
        if let Some(t) = c.get("targetContainerName").and_then(Value::as_str) {
            if !t.is_empty() && !others.iter().any(|x| x == t) {
                errs.push(FieldError {
                    kind: FieldErrorKind::NotFound,
                    field: format!("{cp}.targetContainerName"),
                    message: format!("Not found: \"{t}\""),
                });
            }
        }
        for (field, value) in c.as_object().into_iter().flatten() {
            let unset = value.is_null()
                || value.as_object().is_some_and(|m| m.is_empty())
                || value.as_array().is_some_and(|a| a.is_empty());
            if !EPHEMERAL_ALLOWED.contains(&field.as_str()) && !unset {
                errs.push(forbidden(
                    format!("{cp}.{field}"),
                    "cannot be set for an Ephemeral Container",
                ));
            }
        }
        let mounts = c.get("volumeMounts").and_then(Value::as_array);
        for (j, m) in mounts.into_iter().flatten().enumerate() {
            for sub in ["subPath", "subPathExpr"] {
                if m.get(sub)
                    .and_then(Value::as_str)
                    .is_some_and(|s| !s.is_empty())
                {
                    errs.push(forbidden(
                        format!("{cp}.volumeMounts[{j}].{sub}"),
                        "cannot be set for an Ephemeral Container",
                    ));
                }
            }
        }
    }
}

/// Upstream's sysctl name pattern: dot- or slash-separated segments of
/// lower case alphanumerics, `-` and `_`, each starting and ending with an
/// alphanumeric.
const SYSCTL_PATTERN: &str =
    "^([a-z0-9]([-_a-z0-9]*[a-z0-9])?[\\./])*[a-z0-9]([-_a-z0-9]*[a-z0-9])?$";
const SYSCTL_MAX_LENGTH: usize = 253;

fn is_sysctl_name(name: &str) -> bool {
    let segment = |s: &str| {
        let b = s.as_bytes();
        let edge = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
        match (b.first(), b.last()) {
            (Some(f), Some(l)) => {
                edge(f) && edge(l) && b.iter().all(|c| edge(c) || *c == b'-' || *c == b'_')
            }
            _ => false,
        }
    };
    name.len() <= SYSCTL_MAX_LENGTH && name.split(['.', '/']).all(segment)
}

/// Sysctls namespaced with the network (or IPC) namespace cannot be set
/// in a pod sharing the host's.
fn host_namespace_conflict(name: &str, spec: &Value) -> Option<&'static str> {
    let on = |f: &str| spec.get(f).and_then(Value::as_bool).unwrap_or(false);
    let dotted = name.replace('/', ".");
    if on("hostNetwork") && dotted.starts_with("net.") {
        return Some("hostNetwork");
    }
    let ipc = ["kernel.shm", "kernel.msg", "kernel.sem", "fs.mqueue."];
    if on("hostIPC") && ipc.iter().any(|p| dotted.starts_with(p)) {
        return Some("hostIPC");
    }
    None
}

fn validate_sysctls(spec: &Value, path: &str, errs: &mut Vec<FieldError>) {
    let sysctls = spec
        .pointer("/securityContext/sysctls")
        .and_then(Value::as_array);
    let mut seen: Vec<&str> = Vec::new();
    for (i, s) in sysctls.into_iter().flatten().enumerate() {
        let field = format!("{path}.securityContext.sysctls[{i}].name");
        let name = s.get("name").and_then(Value::as_str).unwrap_or_default();
        if name.is_empty() {
            errs.push(required(field));
            continue;
        }
        if !is_sysctl_name(name) {
            errs.push(invalid(
                field.clone(),
                &Value::from(name),
                &format!(
                    "must have at most {SYSCTL_MAX_LENGTH} characters and match regex {SYSCTL_PATTERN}"
                ),
            ));
        } else if seen.contains(&name) {
            errs.push(duplicate(field.clone(), name));
        }
        if let Some(host) = host_namespace_conflict(name, spec) {
            errs.push(forbidden(
                field,
                &format!("may not be specified when '{host}' is true"),
            ));
        }
        seen.push(name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ephemeral_containers_are_unique_aimed_at_a_container_and_minimal() {
        let spec = json!({"containers": [{"name": "app", "image": "i"}],
            "volumes": [{"name": "v", "emptyDir": {}}],
            "ephemeralContainers": [
                {"name": "dbg", "image": "busybox", "targetContainerName": "app"},
                {"name": "app", "image": "busybox"},
                {"name": "x", "image": "busybox", "targetContainerName": "nope",
                 "ports": [{"containerPort": 80}], "resources": {},
                 "volumeMounts": [{"name": "v", "mountPath": "/v", "subPath": "a"}]}]});
        let mut errs = Vec::new();
        validate_pod_spec(&spec, "spec", &mut errs);
        let msgs: Vec<String> = errs
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect();
        assert_eq!(
            msgs,
            [
                "spec.ephemeralContainers[1].name: Duplicate value: \"app\"",
                "spec.ephemeralContainers[2].targetContainerName: Not found: \"nope\"",
                "spec.ephemeralContainers[2].ports: Forbidden: cannot be set for an Ephemeral Container",
                "spec.ephemeralContainers[2].volumeMounts[0].subPath: Forbidden: cannot be set for an Ephemeral Container",
            ]
        );
    }

    #[test]
    fn resize_policies_follow_upstreams_rules() {
        let spec = serde_json::json!({"restartPolicy": "Never", "containers": [{"name": "c", "image": "i",
        "resizePolicy": [
            {"resourceName": "cpu", "restartPolicy": "RestartContainer"},
            {"resourceName": "cpu", "restartPolicy": "NotRequired"},
            {"resourceName": "gpu", "restartPolicy": "Sometimes"}
        ]}]});
        let mut errs = Vec::new();
        validate_pod_spec(&spec, "spec", &mut errs);
        let got: Vec<String> = errs
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect();
        assert_eq!(
            got,
            [
                "spec.containers[0].resizePolicy: Invalid value: \"RestartContainer\": must be 'NotRequired' when pod `restartPolicy` is 'Never'",
                "spec.containers[0].resizePolicy[1]: Duplicate value: \"cpu\"",
                "spec.containers[0].resizePolicy: Unsupported value: \"gpu\": supported values: \"cpu\", \"memory\"",
                "spec.containers[0].resizePolicy: Unsupported value: \"Sometimes\": supported values: \"NotRequired\", \"RestartContainer\"",
                "spec.containers[0].resizePolicy: Invalid value: \"Sometimes\": must be 'NotRequired' when pod `restartPolicy` is 'Never'",
            ]
        );
    }

    #[test]
    fn sysctl_names_follow_upstreams_pattern() {
        for ok in [
            "kernel.shmmax",
            "safe-and-unsafe",
            "net/ipv4/ip_forward",
            "a",
            "kernel.shm_rmid_forced",
        ] {
            assert!(is_sysctl_name(ok), "{ok}");
        }
        for bad in ["foo-", "bar..", ".a", "A.b", "a._b", "", "a/"] {
            assert!(!is_sysctl_name(bad), "{bad}");
        }
        let spec = json!({"hostNetwork": true, "containers": [{"name": "c", "image": "i"}],
            "securityContext": {"sysctls": [
                {"name": "foo-", "value": "bar"}, {"name": "kernel.shmmax", "value": "1"},
                {"name": "bar..", "value": "42"}, {"name": "kernel.shmmax", "value": "2"},
                {"name": "net.core.somaxconn", "value": "1024"}]}});
        let mut errs = Vec::new();
        validate_pod_spec(&spec, "spec", &mut errs);
        let msgs: Vec<String> = errs
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect();
        assert_eq!(msgs.len(), 4, "{msgs:?}");
        assert!(msgs[0].starts_with("spec.securityContext.sysctls[0].name: Invalid value: \"foo-\": must have at most 253 characters"), "{msgs:?}");
        assert!(
            msgs[1].contains("sysctls[2].name: Invalid value: \"bar..\""),
            "{msgs:?}"
        );
        assert_eq!(
            msgs[2],
            "spec.securityContext.sysctls[3].name: Duplicate value: \"kernel.shmmax\""
        );
        assert_eq!(msgs[3], "spec.securityContext.sysctls[4].name: Forbidden: may not be specified when 'hostNetwork' is true");
    }
}
