//! Validation: the rules an object must satisfy before it is stored, shared
//! by the kinds' strategies (each kind's own rules live in its file under
//! [`crate::registry`]).
//!
//! Every failure names the field (`spec.template.spec.containers[0].image`)
//! and the kind of failure, exactly what a 422 `Invalid` Status carries in
//! `details.causes`, so `kubectl` can print
//! `The Deployment "web" is invalid: spec.template.spec.containers[0].image: Required value`.
//!
//! Checks run on the defaulted object: names (DNS-1123), labels and
//! annotations ([`object_meta`]), the PodSpec every pod and pod template has
//! ([`pod_spec`]), the selector/template pairing of workloads
//! ([`pod_template`]); kinds add required fields, value ranges and enums, and
//! on updates the fields that may never change.

use std::fmt;

use serde_json::Value;

pub mod object_meta;
pub mod pod_spec;
pub mod pod_template;
pub mod rules;
pub mod webhook;

pub use object_meta::{is_dns1123_label, is_dns1123_subdomain, name_problems, NameRule};
pub use pod_spec::{parse_quantity, validate_pod_spec};

/// What kind of rule a field broke (the `reason` of a Status cause).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldErrorKind {
    /// A required field is missing.
    Required,
    /// The value is not allowed.
    Invalid,
    /// The value has the wrong JSON type (a custom resource's schema says
    /// otherwise).
    TypeInvalid,
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
            FieldErrorKind::TypeInvalid => "FieldValueTypeInvalid",
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

/// A missing required field.
pub fn required(field: impl Into<String>) -> FieldError {
    FieldError {
        kind: FieldErrorKind::Required,
        field: field.into(),
        message: "Required value".into(),
    }
}

/// A required field, with upstream's detail (`Required value: <detail>`;
/// plain `Required value` when the detail is empty).
pub fn required_because(field: &str, detail: &str) -> FieldError {
    FieldError {
        kind: FieldErrorKind::Required,
        field: field.to_string(),
        message: if detail.is_empty() {
            "Required value".into()
        } else {
            format!("Required value: {detail}")
        },
    }
}

/// A value given twice where each must be unique (a name in a list).
pub fn duplicate(field: impl Into<String>, value: &str) -> FieldError {
    FieldError {
        kind: FieldErrorKind::Duplicate,
        field: field.into(),
        message: format!("Duplicate value: \"{value}\""),
    }
}

/// A value that breaks a rule (`detail` says which).
pub fn invalid(field: impl Into<String>, value: &Value, detail: &str) -> FieldError {
    FieldError {
        kind: FieldErrorKind::Invalid,
        field: field.into(),
        message: format!("Invalid value: {value}: {detail}"),
    }
}

/// A value outside the supported set `allowed`.
pub fn not_supported(field: impl Into<String>, value: &Value, allowed: &[&str]) -> FieldError {
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

/// A field that may not be set or changed.
pub fn forbidden(field: impl Into<String>, detail: &str) -> FieldError {
    FieldError {
        kind: FieldErrorKind::Forbidden,
        field: field.into(),
        message: format!("Forbidden: {detail}"),
    }
}

/// A changed field that may never change.
pub fn immutable(field: impl Into<String>, value: &Value) -> FieldError {
    invalid(field, value, "field is immutable")
}
