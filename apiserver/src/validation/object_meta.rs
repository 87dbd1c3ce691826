//! `metadata` rules every object follows: its name (a DNS label or a DNS
//! subdomain, by kind), label keys and values, annotation keys and total size.

use apimachinery::labels::{validate_label_key, validate_label_value};
use serde_json::Value;

use super::{invalid, required, FieldError, FieldErrorKind};

/// Which DNS rule a kind's object names follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameRule {
    /// `[a-z0-9]([-a-z0-9]*[a-z0-9])?`, at most 63 characters: for names
    /// that become one DNS label (Namespaces, Services).
    Dns1123Label,
    /// DNS labels joined by dots, at most 253 characters: most kinds.
    Dns1123Subdomain,
    /// Anything that is one URL path segment: not `.` or `..`, no `/` or
    /// `%` (RBAC objects, whose names read like `system:controller:x`; an
    /// IPAddress, named after an IPv6 address, checks its own form).
    PathSegment,
}

/// What is wrong with a name that is not a DNS-1123 label.
pub const DNS1123_LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
/// What is wrong with a name that is not a DNS-1123 subdomain.
pub const DNS1123_SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";

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

/// Parts of `[a-z0-9]([-a-z0-9]*[a-z0-9])?` joined by dots, at most 253
/// characters in all (no part is limited to 63, as upstream).
pub fn is_dns1123_subdomain(s: &str) -> bool {
    s.len() <= 253 && apimachinery::labels::is_dns1123_subdomain(s)
}

/// The problems of `name` under `rule` (empty: valid).
pub fn name_problems(rule: NameRule, name: &str) -> Vec<String> {
    if rule == NameRule::PathSegment {
        return path_segment_problems(name);
    }
    let label = rule == NameRule::Dns1123Label;
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

/// Checks the label map at `field` (`metadata.labels`, or a template's):
/// qualified-name keys and label values.
pub fn validate_labels(labels: Option<&Value>, field: &str, errs: &mut Vec<FieldError>) {
    let Some(labels) = labels.and_then(Value::as_object) else {
        return;
    };
    for (k, v) in labels {
        if let Err(e) = validate_label_key(k) {
            errs.push(invalid(field, &Value::String(k.clone()), &e));
        }
        match v.as_str() {
            Some(s) => {
                if let Err(e) = validate_label_value(s) {
                    errs.push(invalid(format!("{field}.{k}"), v, &e));
                }
            }
            None => errs.push(invalid(format!("{field}.{k}"), v, "must be a string")),
        }
    }
}

/// Upstream's `IsValidPathSegmentName`.
fn path_segment_problems(name: &str) -> Vec<String> {
    if name == "." || name == ".." {
        return vec![format!("may not be '{name}'")];
    }
    ["/", "%"]
        .iter()
        .filter(|bad| name.contains(*bad))
        .map(|bad| format!("may not contain '{bad}'"))
        .collect()
}

/// Checks `metadata` of `obj` (names per `rule`).
pub fn validate_object_meta(obj: &Value, rule: NameRule, errs: &mut Vec<FieldError>) {
    let meta = obj.get("metadata");
    let name = meta
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("");
    if name.is_empty() {
        errs.push(required("metadata.name"));
    } else {
        for problem in name_problems(rule, name) {
            errs.push(invalid(
                "metadata.name",
                &Value::String(name.into()),
                &problem,
            ));
        }
    }
    validate_labels(meta.and_then(|m| m.get("labels")), "metadata.labels", errs);
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
