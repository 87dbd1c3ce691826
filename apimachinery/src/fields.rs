//! Field selectors: filtering objects by a few of their own fields.
//!
//! Labels are free-form tags that users attach; **fields** are parts of the
//! object itself. A field selector asks for objects whose field has (or has
//! not) a given value:
//!
//! ```text
//! spec.nodeName=node-1                 pods bound to node-1
//! spec.nodeName=                       pods bound to no node yet (what the scheduler watches)
//! status.phase!=Running,metadata.namespace!=kube-system
//! involvedObject.kind=Pod,involvedObject.name=web-0   events about one pod
//! ```
//!
//! The grammar is deliberately tiny: requirements `field=value`,
//! `field==value` (same thing) or `field!=value`, joined by commas, all of
//! which must hold. There is no `in`, no existence test, no ordering. A value
//! may contain a literal `,`, `=` or `\` only escaped as `\,`, `\=`, `\\`
//! (see [`escape_value`]). The empty selector matches everything.
//!
//! Unlike labels, only a **fixed set of fields per resource** can be used:
//! every resource supports `metadata.name` and `metadata.namespace`, and some
//! add their own (pods: `spec.nodeName`, `status.phase`, ...; events:
//! `involvedObject.*`, `reason`, ...). See [`supported_fields`]. Asking for
//! any other field is an error (`field label not supported: status.hostIP`),
//! not an empty result.
//!
//! # Where field selectors show up in the life of a request
//!
//! `GET /api/v1/pods?fieldSelector=spec.nodeName%3Dnode-1&watch=true` is how
//! a kubelet watches the pods bound to its node, and `kubectl get pods
//! --field-selector status.phase=Running` sends the same parameter on a list.
//! The apiserver:
//! 1. parses the string with [`FieldSelector::parse`] (error -> `400 BadRequest`),
//! 2. checks the fields with [`FieldSelector::validate_for`] (error -> `400`),
//! 3. if the selector pins `metadata.name` ([`FieldSelector::single_value`]),
//!    reads that one key from storage instead of the whole resource,
//! 4. filters each listed object, and each event of a watch, with
//!    [`FieldSelector::matches`] (together with the label selector, see
//!    [`crate::labels`]).
//!
//! [`field_value`] says what each field reads from the JSON object; as
//! upstream, a missing string field reads as `""` and a missing boolean as
//! `"false"`, so `spec.nodeName=` selects unscheduled pods.

use std::fmt;
use std::str::FromStr;

use serde_json::Value;

/// Why a field selector was rejected. The apiserver answers `400 BadRequest`
/// with this error's `Display` text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A term has no `=`, `==` or `!=` operator.
    #[error("invalid selector: '{selector}'; can't understand '{term}'")]
    InvalidTerm {
        /// The whole selector string.
        selector: String,
        /// The comma-separated term that could not be understood.
        term: String,
    },
    /// A term has an operator but nothing before it.
    #[error("invalid field selector: missing field name in '{term}'")]
    MissingField {
        /// The offending term.
        term: String,
    },
    /// A value contains a backslash not followed by `\`, `,` or `=`.
    #[error("invalid field selector: invalid escape sequence: {sequence} (in '{term}')")]
    InvalidEscape {
        /// The offending sequence, e.g. `\n` or a trailing `\`.
        sequence: String,
        /// The term it appeared in.
        term: String,
    },
    /// A value contains a bare `=` (a bare `,` would have split the term).
    #[error("invalid field selector: unescaped character in value: {character} (in '{term}'; write \\{character} for a literal)")]
    UnescapedCharacter {
        /// The offending character.
        character: char,
        /// The term it appeared in.
        term: String,
    },
    /// The field cannot be selected on for this resource.
    #[error("field label not supported: {0}")]
    UnsupportedField(String),
}

/// How a field is compared with the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Operator {
    /// `field=value` (also written `field==value`): the field equals the value.
    Equals,
    /// `field!=value`: the field differs from the value.
    NotEquals,
}

/// One term of a field selector: `field=value` or `field!=value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    /// The field path, e.g. `spec.nodeName`.
    pub field: String,
    /// Equals or not-equals.
    pub operator: Operator,
    /// The value, unescaped (a selector `a=x\,y` has the value `x,y`).
    pub value: String,
}

impl Requirement {
    /// Whether the requirement holds for this value of the field.
    pub fn matches_value(&self, actual: &str) -> bool {
        match self.operator {
            Operator::Equals => actual == self.value,
            Operator::NotEquals => actual != self.value,
        }
    }
}

impl fmt::Display for Requirement {
    /// `field=value` or `field!=value`, the value escaped.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = match self.operator {
            Operator::Equals => "=",
            Operator::NotEquals => "!=",
        };
        write!(f, "{}{}{}", self.field, op, escape_value(&self.value))
    }
}

/// A parsed field selector: requirements that must all hold.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FieldSelector {
    requirements: Vec<Requirement>,
}

impl FieldSelector {
    /// The selector that matches everything (what `""` parses to).
    pub fn everything() -> FieldSelector {
        FieldSelector::default()
    }

    /// A selector made of these requirements (sorted into canonical order).
    pub fn from_requirements(mut requirements: Vec<Requirement>) -> FieldSelector {
        requirements.sort_by_cached_key(|r| r.to_string());
        FieldSelector { requirements }
    }

    /// Parses the `?fieldSelector=` / `kubectl --field-selector` syntax.
    ///
    /// Terms are split on unescaped commas; empty terms are skipped. Each
    /// term is split at the first `!=`, `==` or `=`; what comes before is the
    /// field name and what comes after is the value, in which `\,`, `\=` and
    /// `\\` stand for `,`, `=` and `\`, while any other backslash or a bare `=`
    /// is an error. Surrounding whitespace of field names and values is
    /// trimmed (upstream keeps it, which can only ever make a term fail or
    /// match nothing). The field names are not checked here: that depends on
    /// the resource, see [`FieldSelector::validate_for`].
    pub fn parse(selector: &str) -> Result<FieldSelector, Error> {
        let mut requirements = Vec::new();
        for term in split_terms(selector) {
            if term.trim().is_empty() {
                continue;
            }
            let Some((field, op, raw_value)) = split_term(term) else {
                return Err(Error::InvalidTerm {
                    selector: selector.to_string(),
                    term: term.to_string(),
                });
            };
            let field = field.trim();
            if field.is_empty() {
                return Err(Error::MissingField {
                    term: term.to_string(),
                });
            }
            let value = unescape_value(raw_value.trim(), term)?;
            requirements.push(Requirement {
                field: field.to_string(),
                operator: op,
                value,
            });
        }
        Ok(FieldSelector::from_requirements(requirements))
    }

    /// The requirements, in canonical order.
    pub fn requirements(&self) -> &[Requirement] {
        &self.requirements
    }

    /// Whether the selector has no requirements (matches everything).
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// Checks that every field is selectable on `resource_plural` (see
    /// [`supported_fields`]); the first one that is not gives
    /// `field label not supported: <field>`.
    pub fn validate_for(&self, resource_plural: &str) -> Result<(), Error> {
        let supported = supported_fields(resource_plural);
        match self
            .requirements
            .iter()
            .find(|r| !supported.contains(&r.field.as_str()))
        {
            Some(r) => Err(Error::UnsupportedField(r.field.clone())),
            None => Ok(()),
        }
    }

    /// Whether the JSON object of resource `resource_plural` satisfies every
    /// requirement, reading fields with [`field_value`]. A field the resource
    /// does not support reads as `""` (call [`FieldSelector::validate_for`]
    /// first to reject such selectors).
    pub fn matches(&self, resource_plural: &str, obj: &Value) -> bool {
        self.requirements.iter().all(|r| {
            let actual = field_value(resource_plural, obj, &r.field).unwrap_or_default();
            r.matches_value(&actual)
        })
    }

    /// If the selector requires `field` to equal one value, that value (the
    /// first such requirement, as upstream `RequiresExactMatch`).
    ///
    /// The apiserver uses `single_value("metadata.name")` to turn a list into
    /// a read of one storage key; it must still apply [`FieldSelector::matches`]
    /// to the object it read, since the other requirements may exclude it.
    pub fn single_value(&self, field: &str) -> Option<&str> {
        self.requirements
            .iter()
            .find(|r| r.field == field && r.operator == Operator::Equals)
            .map(|r| r.value.as_str())
    }
}

impl fmt::Display for FieldSelector {
    /// The canonical form: terms joined by `,`, values escaped; `""` for the
    /// empty selector. `==` prints as `=`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

impl FromStr for FieldSelector {
    type Err = Error;

    /// Same as [`FieldSelector::parse`].
    fn from_str(s: &str) -> Result<FieldSelector, Error> {
        FieldSelector::parse(s)
    }
}

/// Escapes a value for use in a field selector: `\` -> `\\`, `,` -> `\,`,
/// `=` -> `\=`.
pub fn escape_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if matches!(c, '\\' | ',' | '=') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Splits on commas that are not escaped by a backslash.
fn split_terms(selector: &str) -> Vec<&str> {
    let mut terms = Vec::new();
    let mut start = 0;
    let mut escaped = false;
    for (i, c) in selector.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == ',' {
            terms.push(&selector[start..i]);
            start = i + 1;
        }
    }
    terms.push(&selector[start..]);
    terms
}

/// Splits a term at the first operator: at each position `!=`, then `==`,
/// then `=` is tried.
fn split_term(term: &str) -> Option<(&str, Operator, &str)> {
    for (i, _) in term.char_indices() {
        let rest = &term[i..];
        for (op, operator) in [
            ("!=", Operator::NotEquals),
            ("==", Operator::Equals),
            ("=", Operator::Equals),
        ] {
            if let Some(value) = rest.strip_prefix(op) {
                return Some((&term[..i], operator, value));
            }
        }
    }
    None
}

/// Undoes [`escape_value`], rejecting unknown escapes and bare `=`/`,`.
fn unescape_value(raw: &str, term: &str) -> Result<String, Error> {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(e @ ('\\' | ',' | '=')) => out.push(e),
                Some(e) => {
                    return Err(Error::InvalidEscape {
                        sequence: format!("\\{e}"),
                        term: term.to_string(),
                    })
                }
                None => {
                    return Err(Error::InvalidEscape {
                        sequence: "\\".to_string(),
                        term: term.to_string(),
                    })
                }
            },
            ',' | '=' => {
                return Err(Error::UnescapedCharacter {
                    character: c,
                    term: term.to_string(),
                })
            }
            c => out.push(c),
        }
    }
    Ok(out)
}

/// Fields every resource supports.
const META_FIELDS: &[&str] = &["metadata.name", "metadata.namespace"];

const POD_FIELDS: &[&str] = &[
    "metadata.name",
    "metadata.namespace",
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.schedulerName",
    "spec.serviceAccountName",
    "spec.hostNetwork",
    "status.phase",
    "status.podIP",
    "status.nominatedNodeName",
];

const EVENT_FIELDS: &[&str] = &[
    "metadata.name",
    "metadata.namespace",
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "reportingComponent",
    "source",
    "type",
];

const SECRET_FIELDS: &[&str] = &["metadata.name", "metadata.namespace", "type"];

const NODE_FIELDS: &[&str] = &["metadata.name", "metadata.namespace", "spec.unschedulable"];

const NAMESPACE_FIELDS: &[&str] = &["metadata.name", "metadata.namespace", "status.phase"];

const REPLICAS_FIELDS: &[&str] = &["metadata.name", "metadata.namespace", "status.replicas"];

const JOB_FIELDS: &[&str] = &["metadata.name", "metadata.namespace", "status.successful"];

const SERVICE_FIELDS: &[&str] = &[
    "metadata.name",
    "metadata.namespace",
    "spec.clusterIP",
    "spec.type",
];

const CSR_FIELDS: &[&str] = &["metadata.name", "metadata.namespace", "spec.signerName"];

/// The fields a field selector may use on a resource (by its plural name,
/// e.g. `pods`), as upstream registers them:
///
/// | resource | fields besides `metadata.name`, `metadata.namespace` |
/// | --- | --- |
/// | `pods` | `spec.nodeName`, `spec.restartPolicy`, `spec.schedulerName`, `spec.serviceAccountName`, `spec.hostNetwork`, `status.phase`, `status.podIP`, `status.nominatedNodeName` |
/// | `events` | `involvedObject.{kind,namespace,name,uid,apiVersion,resourceVersion,fieldPath}`, `reason`, `reportingComponent`, `source`, `type` |
/// | `secrets` | `type` |
/// | `nodes` | `spec.unschedulable` |
/// | `namespaces` | `status.phase` |
/// | `replicasets`, `replicationcontrollers` | `status.replicas` |
/// | `jobs` | `status.successful` |
/// | `services` | `spec.clusterIP`, `spec.type` |
/// | `certificatesigningrequests` | `spec.signerName` |
///
/// Every other resource (including custom resources) supports only the two
/// metadata fields. For cluster-scoped resources `metadata.namespace` is
/// accepted and always reads `""`.
pub fn supported_fields(resource_plural: &str) -> &'static [&'static str] {
    match resource_plural {
        "pods" => POD_FIELDS,
        "events" => EVENT_FIELDS,
        "secrets" => SECRET_FIELDS,
        "nodes" => NODE_FIELDS,
        "namespaces" => NAMESPACE_FIELDS,
        "replicasets" | "replicationcontrollers" => REPLICAS_FIELDS,
        "jobs" => JOB_FIELDS,
        "services" => SERVICE_FIELDS,
        "certificatesigningrequests" => CSR_FIELDS,
        _ => META_FIELDS,
    }
}

/// Renders the JSON at `pointer` as a field value: strings as they are,
/// booleans as `true`/`false`, numbers in decimal; missing or `null` (or an
/// array/object, which no selectable field is) gives `default`.
fn value_at(obj: &Value, pointer: &str, default: &str) -> String {
    match obj.pointer(pointer) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Bool(b)) => b.to_string(),
        Some(Value::Number(n)) => n.to_string(),
        _ => default.to_string(),
    }
}

/// A string field that is absent or empty counts as absent here.
fn non_empty_string<'a>(obj: &'a Value, pointer: &str) -> Option<&'a str> {
    obj.pointer(pointer)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// The value a field selector compares for `field` of `obj`, an object of
/// resource `resource_plural` in its JSON form; `None` if the resource does
/// not support the field (see [`supported_fields`]).
///
/// As upstream, every supported field has a value: a missing string reads as
/// `""` (an unscheduled pod has `spec.nodeName` `""`), a missing boolean as
/// `"false"`, a missing count as `"0"`. Special cases:
/// - pods: `status.podIP` is `status.podIPs[0].ip` (falling back to
///   `status.podIP`);
/// - events: `source` is `source.component`, or `reportingComponent` when
///   that is empty;
/// - jobs: `status.successful` is the count in `status.succeeded`.
pub fn field_value(resource_plural: &str, obj: &Value, field: &str) -> Option<String> {
    if !supported_fields(resource_plural).contains(&field) {
        return None;
    }
    let v = match (resource_plural, field) {
        (_, "metadata.name") => value_at(obj, "/metadata/name", ""),
        (_, "metadata.namespace") => value_at(obj, "/metadata/namespace", ""),
        ("pods", "spec.hostNetwork") => value_at(obj, "/spec/hostNetwork", "false"),
        ("pods", "status.podIP") => non_empty_string(obj, "/status/podIPs/0/ip")
            .map(str::to_string)
            .unwrap_or_else(|| value_at(obj, "/status/podIP", "")),
        ("events", "source") => non_empty_string(obj, "/source/component")
            .or_else(|| non_empty_string(obj, "/reportingComponent"))
            .unwrap_or("")
            .to_string(),
        ("nodes", "spec.unschedulable") => value_at(obj, "/spec/unschedulable", "false"),
        ("replicasets" | "replicationcontrollers", "status.replicas") => {
            value_at(obj, "/status/replicas", "0")
        }
        ("jobs", "status.successful") => value_at(obj, "/status/succeeded", "0"),
        // Every other supported field is a plain (string) path.
        (_, path) => value_at(obj, &format!("/{}", path.replace('.', "/")), ""),
    };
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(s: &str) -> FieldSelector {
        match FieldSelector::parse(s) {
            Ok(sel) => sel,
            Err(e) => panic!("parse({s:?}) failed: {e}"),
        }
    }

    fn req(field: &str, operator: Operator, value: &str) -> Requirement {
        Requirement {
            field: field.into(),
            operator,
            value: value.into(),
        }
    }

    fn pod() -> Value {
        json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "web-0", "namespace": "default", "labels": {"app": "web"}},
            "spec": {
                "nodeName": "node-1",
                "restartPolicy": "Always",
                "schedulerName": "default-scheduler",
                "serviceAccountName": "default",
                "hostNetwork": true,
                "containers": [{"name": "web", "image": "busybox:1.36"}]
            },
            "status": {
                "phase": "Running",
                "podIP": "10.0.0.9",
                "podIPs": [{"ip": "10.0.0.7"}, {"ip": "fd00::7"}],
                "nominatedNodeName": "node-2"
            }
        })
    }

    fn pending_pod() -> Value {
        json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "web-1", "namespace": "default"},
            "spec": {"containers": [{"name": "web", "image": "busybox:1.36"}]},
            "status": {"phase": "Pending"}
        })
    }

    fn event() -> Value {
        json!({
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": "web-0.17a", "namespace": "default"},
            "involvedObject": {
                "kind": "Pod",
                "namespace": "default",
                "name": "web-0",
                "uid": "1234-5678",
                "apiVersion": "v1",
                "resourceVersion": "42",
                "fieldPath": "spec.containers{web}"
            },
            "reason": "Scheduled",
            "message": "Successfully assigned default/web-0 to node-1",
            "source": {"component": "default-scheduler"},
            "reportingComponent": "",
            "type": "Normal"
        })
    }

    #[test]
    fn parses_operators() {
        let s = parse("spec.nodeName=node-1");
        assert_eq!(
            s.requirements(),
            [req("spec.nodeName", Operator::Equals, "node-1")]
        );
        let s = parse("spec.nodeName==node-1");
        assert_eq!(
            s.requirements(),
            [req("spec.nodeName", Operator::Equals, "node-1")]
        );
        let s = parse("status.phase!=Running");
        assert_eq!(
            s.requirements(),
            [req("status.phase", Operator::NotEquals, "Running")]
        );
        let s = parse("spec.nodeName=");
        assert_eq!(
            s.requirements(),
            [req("spec.nodeName", Operator::Equals, "")]
        );
        let s = parse("a=b,c!=d,,e==f,");
        assert_eq!(s.requirements().len(), 3);
        assert_eq!(s.to_string(), "a=b,c!=d,e=f");
        // the first operator wins; the rest is the value
        let s = parse("a!=b\\=c");
        assert_eq!(s.requirements(), [req("a", Operator::NotEquals, "b=c")]);
        let s = parse("a=!b");
        assert_eq!(s.requirements(), [req("a", Operator::Equals, "!b")]);
    }

    #[test]
    fn empty_selector_matches_everything() {
        for s in ["", ",", " , "] {
            let sel = parse(s);
            assert!(sel.is_empty());
            assert!(sel.matches("pods", &pod()));
            assert!(sel.matches("pods", &json!({})));
            assert_eq!(sel.to_string(), "");
        }
        assert_eq!(FieldSelector::everything(), parse(""));
    }

    #[test]
    fn whitespace_around_fields_and_values_is_trimmed() {
        assert_eq!(
            parse(" status.phase = Running , spec.nodeName!= n1 "),
            parse("status.phase=Running,spec.nodeName!=n1")
        );
    }

    #[test]
    fn escapes() {
        let s = parse(r"metadata.name=a\,b\=c\\d,type=x");
        assert_eq!(
            s.requirements(),
            [
                req("metadata.name", Operator::Equals, r"a,b=c\d"),
                req("type", Operator::Equals, "x"),
            ]
        );
        assert_eq!(s.to_string(), r"metadata.name=a\,b\=c\\d,type=x");
        assert_eq!(parse(&s.to_string()), s);
        assert_eq!(escape_value(r"a,b=c\d"), r"a\,b\=c\\d");
        assert_eq!(escape_value("plain"), "plain");
    }

    #[test]
    fn invalid_inputs() {
        let cases = [
            ("a", "can't understand 'a'"),
            ("a=b,c", "can't understand 'c'"),
            ("=b", "missing field name"),
            (" != b", "missing field name"),
            (r"a=b\n", r"invalid escape sequence: \n"),
            (r"a=b\", r"invalid escape sequence: \"),
            ("a=b=c", "unescaped character in value: ="),
            ("a==b=c", "unescaped character in value: ="),
            ("a!=b=c", "unescaped character in value: ="),
        ];
        for (input, expected) in cases {
            match FieldSelector::parse(input) {
                Ok(s) => panic!("{input:?} parsed as {s:?}"),
                Err(e) => assert!(
                    e.to_string().contains(expected),
                    "{input:?}: {e} (expected {expected:?})"
                ),
            }
        }
    }

    #[test]
    fn garbage_never_panics() {
        let garbage = [
            "\\",
            "\\\\",
            "\\,",
            "=",
            "==",
            "!=",
            "!",
            "!==",
            "a=\\",
            "é=ü",
            "日本=語",
            ",,,",
            "a\u{0}=b",
            "a=😀",
            "\\é",
            "a=\\é",
        ];
        for s in garbage {
            let _ = FieldSelector::parse(s);
        }
        let full = r"spec.nodeName=n\,1,status.phase!=Running,metadata.name==x";
        for (i, _) in full.char_indices() {
            let _ = FieldSelector::parse(&full[..i]);
        }
    }

    #[test]
    fn display_round_trips_and_is_sorted() {
        for s in [
            "status.phase!=Running,spec.nodeName=n1",
            r"metadata.name=a\,b",
            "a==b",
            "spec.nodeName=",
        ] {
            let sel = parse(s);
            let printed = sel.to_string();
            assert_eq!(parse(&printed), sel, "{s} -> {printed}");
            assert_eq!(parse(&printed).to_string(), printed);
        }
        assert_eq!(
            parse("status.phase!=Running,spec.nodeName=n1").to_string(),
            "spec.nodeName=n1,status.phase!=Running"
        );
        assert_eq!("a=b".parse::<FieldSelector>().expect("valid"), parse("a=b"));
    }

    #[test]
    fn supported_fields_per_resource() {
        for r in [
            "pods",
            "events",
            "secrets",
            "nodes",
            "deployments",
            "widgets",
        ] {
            let f = supported_fields(r);
            assert!(f.contains(&"metadata.name"), "{r}");
            assert!(f.contains(&"metadata.namespace"), "{r}");
        }
        assert!(supported_fields("pods").contains(&"spec.nodeName"));
        assert!(supported_fields("pods").contains(&"status.nominatedNodeName"));
        assert!(supported_fields("events").contains(&"involvedObject.uid"));
        assert!(supported_fields("secrets").contains(&"type"));
        assert!(supported_fields("nodes").contains(&"spec.unschedulable"));
        assert!(supported_fields("namespaces").contains(&"status.phase"));
        assert!(supported_fields("replicasets").contains(&"status.replicas"));
        assert!(supported_fields("jobs").contains(&"status.successful"));
        assert_eq!(supported_fields("deployments").len(), 2);
        assert!(!supported_fields("services").contains(&"status.phase"));
    }

    #[test]
    fn validate_for_rejects_unsupported_fields() {
        let sel = parse("spec.nodeName=n1,status.phase=Running");
        assert!(sel.validate_for("pods").is_ok());
        let err = sel.validate_for("nodes").expect_err("unsupported");
        assert_eq!(err.to_string(), "field label not supported: spec.nodeName");
        let err = parse("status.hostIP=1.2.3.4")
            .validate_for("pods")
            .expect_err("unsupported");
        assert_eq!(err.to_string(), "field label not supported: status.hostIP");
        assert!(parse("metadata.name=x").validate_for("deployments").is_ok());
        assert!(parse("").validate_for("anything").is_ok());
    }

    #[test]
    fn pod_field_values() {
        let p = pod();
        let get = |f: &str| field_value("pods", &p, f);
        assert_eq!(get("metadata.name").as_deref(), Some("web-0"));
        assert_eq!(get("metadata.namespace").as_deref(), Some("default"));
        assert_eq!(get("spec.nodeName").as_deref(), Some("node-1"));
        assert_eq!(get("spec.restartPolicy").as_deref(), Some("Always"));
        assert_eq!(
            get("spec.schedulerName").as_deref(),
            Some("default-scheduler")
        );
        assert_eq!(get("spec.serviceAccountName").as_deref(), Some("default"));
        assert_eq!(get("spec.hostNetwork").as_deref(), Some("true"));
        assert_eq!(get("status.phase").as_deref(), Some("Running"));
        assert_eq!(get("status.podIP").as_deref(), Some("10.0.0.7"));
        assert_eq!(get("status.nominatedNodeName").as_deref(), Some("node-2"));
        assert_eq!(get("status.hostIP"), None);
        assert_eq!(get("spec.containers"), None);

        let q = pending_pod();
        let get = |f: &str| field_value("pods", &q, f);
        assert_eq!(get("spec.nodeName").as_deref(), Some(""));
        assert_eq!(get("spec.hostNetwork").as_deref(), Some("false"));
        assert_eq!(get("status.podIP").as_deref(), Some(""));
        assert_eq!(get("status.nominatedNodeName").as_deref(), Some(""));

        let only_pod_ip = json!({"status": {"podIP": "10.1.1.1"}});
        assert_eq!(
            field_value("pods", &only_pod_ip, "status.podIP").as_deref(),
            Some("10.1.1.1")
        );
        // a non-object "object" does not panic
        assert_eq!(
            field_value("pods", &json!("x"), "spec.nodeName").as_deref(),
            Some("")
        );
    }

    #[test]
    fn pod_matching() {
        let (p, q) = (pod(), pending_pod());
        let unscheduled = parse("spec.nodeName=");
        assert!(!unscheduled.matches("pods", &p));
        assert!(unscheduled.matches("pods", &q));
        let on_node = parse("spec.nodeName=node-1,status.phase!=Failed");
        assert!(on_node.matches("pods", &p));
        assert!(!on_node.matches("pods", &q));
        assert!(parse("spec.hostNetwork=true").matches("pods", &p));
        assert!(parse("spec.hostNetwork=false").matches("pods", &q));
        assert!(parse("metadata.name=web-0,metadata.namespace=default").matches("pods", &p));
        assert!(!parse("metadata.namespace!=default").matches("pods", &p));
    }

    #[test]
    fn event_field_values() {
        let e = event();
        let get = |f: &str| field_value("events", &e, f);
        assert_eq!(get("involvedObject.kind").as_deref(), Some("Pod"));
        assert_eq!(get("involvedObject.namespace").as_deref(), Some("default"));
        assert_eq!(get("involvedObject.name").as_deref(), Some("web-0"));
        assert_eq!(get("involvedObject.uid").as_deref(), Some("1234-5678"));
        assert_eq!(get("involvedObject.apiVersion").as_deref(), Some("v1"));
        assert_eq!(get("involvedObject.resourceVersion").as_deref(), Some("42"));
        assert_eq!(
            get("involvedObject.fieldPath").as_deref(),
            Some("spec.containers{web}")
        );
        assert_eq!(get("reason").as_deref(), Some("Scheduled"));
        assert_eq!(get("reportingComponent").as_deref(), Some(""));
        assert_eq!(get("source").as_deref(), Some("default-scheduler"));
        assert_eq!(get("type").as_deref(), Some("Normal"));
        assert_eq!(get("message"), None);

        let newer = json!({"reportingComponent": "kubelet", "source": {}});
        assert_eq!(
            field_value("events", &newer, "source").as_deref(),
            Some("kubelet")
        );
        assert_eq!(
            field_value("events", &json!({}), "source").as_deref(),
            Some("")
        );

        let sel = parse(r"involvedObject.kind=Pod,involvedObject.name=web-0,type!=Warning");
        assert!(sel.validate_for("events").is_ok());
        assert!(sel.matches("events", &e));
        assert!(!parse("involvedObject.name=web-1").matches("events", &e));
        assert!(parse("involvedObject.fieldPath=spec.containers{web}").matches("events", &e));
    }

    #[test]
    fn other_resource_field_values() {
        let node = json!({"metadata": {"name": "n1"}, "spec": {"unschedulable": true}});
        assert_eq!(
            field_value("nodes", &node, "spec.unschedulable").as_deref(),
            Some("true")
        );
        assert_eq!(
            field_value("nodes", &json!({}), "spec.unschedulable").as_deref(),
            Some("false")
        );
        assert_eq!(
            field_value("nodes", &node, "metadata.namespace").as_deref(),
            Some("")
        );
        let secret = json!({"metadata": {"name": "s"}, "type": "kubernetes.io/tls"});
        assert!(parse("type=kubernetes.io/tls").matches("secrets", &secret));
        let ns = json!({"metadata": {"name": "default"}, "status": {"phase": "Active"}});
        assert!(parse("status.phase=Active").matches("namespaces", &ns));
        let rs = json!({"status": {"replicas": 3}});
        assert_eq!(
            field_value("replicasets", &rs, "status.replicas").as_deref(),
            Some("3")
        );
        assert_eq!(
            field_value("replicasets", &json!({}), "status.replicas").as_deref(),
            Some("0")
        );
        let job = json!({"status": {"succeeded": 2}});
        assert!(parse("status.successful=2").matches("jobs", &job));
        assert!(parse("status.successful=0").matches("jobs", &json!({})));
        let svc = json!({"spec": {"clusterIP": "None", "type": "ClusterIP"}});
        assert!(parse("spec.clusterIP!=None")
            .validate_for("services")
            .is_ok());
        assert!(!parse("spec.clusterIP!=None").matches("services", &svc));
        assert_eq!(
            field_value("deployments", &json!({}), "spec.replicas"),
            None
        );
    }

    #[test]
    fn single_value() {
        let sel = parse("metadata.name=web-0,metadata.namespace=default");
        assert_eq!(sel.single_value("metadata.name"), Some("web-0"));
        assert_eq!(sel.single_value("metadata.namespace"), Some("default"));
        assert_eq!(sel.single_value("spec.nodeName"), None);
        assert_eq!(
            parse("metadata.name!=x").single_value("metadata.name"),
            None
        );
        assert_eq!(
            parse("metadata.name==x").single_value("metadata.name"),
            Some("x")
        );
        assert_eq!(
            parse("metadata.name=").single_value("metadata.name"),
            Some("")
        );
        assert_eq!(parse("").single_value("metadata.name"), None);
    }
}
