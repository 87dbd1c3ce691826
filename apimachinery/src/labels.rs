//! Label selectors: how clients pick "the objects that carry these labels".
//!
//! Every Kubernetes object has `metadata.labels`, a map of short string keys to
//! short string values (`app: web`, `tier: frontend`). Labels carry no meaning
//! for the system itself; they exist so that *other* objects and users can
//! select groups of objects. A **label selector** is the query language for
//! that: a comma-separated list of requirements that must *all* hold.
//!
//! ```text
//! app=web                      the label app exists and equals "web"
//! app==web                     the same (double equals is an alias)
//! app!=web                     app is not "web" -- or app is absent
//! tier in (frontend,backend)   tier is one of the listed values
//! tier notin (cache)           tier is none of them -- or tier is absent
//! canary                       the label canary exists (any value)
//! !canary                      the label canary does not exist
//! replicas>3 / replicas<3      the value, read as an integer, compares
//! ```
//!
//! The empty selector (`""`) has no requirements, so it matches everything.
//!
//! # Where selectors show up in the life of a request
//!
//! - **list and watch**: `GET /api/v1/namespaces/default/pods?labelSelector=app%3Dweb`
//!   (what `kubectl get pods -l app=web` sends). The apiserver parses the
//!   string with [`Selector::parse`] (a parse error becomes a `400 BadRequest`
//!   Status), then filters every object it lists, and every event of a watch,
//!   with [`Selector::matches_json`] on the object's `metadata.labels`.
//!   Field selectors (`?fieldSelector=`, see [`crate::fields`]) are applied
//!   next to it; an object is returned only when both match.
//! - **inside objects**: a ReplicaSet's `spec.selector`, a Deployment's
//!   `spec.selector` or a PodDisruptionBudget's `spec.selector` is a structured
//!   `metav1.LabelSelector` (`matchLabels` + `matchExpressions`), converted with
//!   [`Selector::from_label_selector_json`]. Controllers use it to find the pods
//!   they own. A Service's `spec.selector` is a plain map, see
//!   [`Selector::from_set`].
//!
//! # Keys and values
//!
//! A key is an optional prefix plus a name, `example.com/name`: the prefix is a
//! lowercase DNS subdomain (at most 253 characters), the name at most 63
//! characters of `[A-Za-z0-9_.-]` starting and ending with a letter or digit.
//! A value is empty or at most 63 characters of the same alphabet. See
//! [`validate_label_key`] and [`validate_label_value`].

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use serde_json::Value;

/// Why a selector (string or structured `LabelSelector`) was rejected.
///
/// The apiserver turns any of these into a `400 BadRequest` Status whose
/// message is this error's `Display` text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The selector string does not follow the grammar.
    #[error("unable to parse requirement: found {found}, expected: {expected} (in label selector \"{selector}\")")]
    Syntax {
        /// The whole selector string, for context.
        selector: String,
        /// What was found instead, already quoted (`'b'`) or `end of string`.
        found: String,
        /// What the parser would have accepted at that point.
        expected: String,
    },
    /// A key is not a valid label key.
    #[error("unable to parse requirement: invalid label key \"{key}\": {reason}")]
    InvalidKey {
        /// The offending key.
        key: String,
        /// Why it is invalid.
        reason: String,
    },
    /// A value is not a valid label value.
    #[error(
        "unable to parse requirement: invalid label value \"{value}\" for key \"{key}\": {reason}"
    )]
    InvalidValue {
        /// The key the value belongs to.
        key: String,
        /// The offending value.
        value: String,
        /// Why it is invalid.
        reason: String,
    },
    /// The values do not fit the operator (e.g. `in` with no values, `>` with
    /// a non-integer, `Exists` with values).
    #[error("unable to parse requirement: key \"{key}\": {reason}")]
    InvalidValues {
        /// The key of the requirement.
        key: String,
        /// Why the values do not fit the operator.
        reason: String,
    },
    /// A structured `metav1.LabelSelector` is malformed (wrong JSON types,
    /// unknown operator).
    #[error("invalid label selector: {0}")]
    InvalidLabelSelector(String),
}

/// How a [`Requirement`] relates its key to its values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Operator {
    /// `key=value`: the key exists and has exactly this value.
    Equals,
    /// `key==value`: same meaning as [`Operator::Equals`].
    DoubleEquals,
    /// `key!=value`: the key is absent, or its value differs.
    NotEquals,
    /// `key in (a,b)`: the key exists and its value is one of the set.
    In,
    /// `key notin (a,b)`: the key is absent, or its value is none of the set.
    NotIn,
    /// `key`: the key exists, whatever its value.
    Exists,
    /// `!key`: the key does not exist.
    DoesNotExist,
    /// `key>3`: the key exists and its value, as an integer, is greater.
    GreaterThan,
    /// `key<3`: the key exists and its value, as an integer, is smaller.
    LessThan,
}

impl Operator {
    /// The operator's name as upstream's `selection.Operator` spells it
    /// (`=`, `==`, `!=`, `in`, `notin`, `exists`, `!`, `gt`, `lt`).
    pub fn as_str(self) -> &'static str {
        match self {
            Operator::Equals => "=",
            Operator::DoubleEquals => "==",
            Operator::NotEquals => "!=",
            Operator::In => "in",
            Operator::NotIn => "notin",
            Operator::Exists => "exists",
            Operator::DoesNotExist => "!",
            Operator::GreaterThan => "gt",
            Operator::LessThan => "lt",
        }
    }
}

impl fmt::Display for Operator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One condition of a selector: `key <operator> values`.
///
/// Build it with [`Requirement::new`], which validates the key, the values and
/// their number for the operator. The fields are public for reading and for
/// pattern matching; a hand-built requirement still matches sensibly, but only
/// a validated one is guaranteed to print as a parsable string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    /// The label key, e.g. `app` or `app.kubernetes.io/name`.
    pub key: String,
    /// How the key relates to the values.
    pub operator: Operator,
    /// The values: one for `=`, `==`, `!=`, `>`, `<`; at least one for `in`
    /// and `notin` (kept sorted and without duplicates); none for `exists`
    /// and `!`.
    pub values: Vec<String>,
}

impl Requirement {
    /// Builds a validated requirement.
    ///
    /// Rules (as upstream `labels.NewRequirement`): the key must be a valid
    /// label key; `in`/`notin` need at least one value; `=`, `==`, `!=` need
    /// exactly one; `exists`/`!` need none; `>`/`<` need exactly one integer.
    /// Every value must be a valid label value (the empty string is valid).
    pub fn new<I, S>(key: &str, operator: Operator, values: I) -> Result<Requirement, Error>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        validate_label_key(key).map_err(|reason| Error::InvalidKey {
            key: key.to_string(),
            reason,
        })?;
        let mut values: Vec<String> = values.into_iter().map(Into::into).collect();
        let bad = |reason: String| Error::InvalidValues {
            key: key.to_string(),
            reason,
        };
        match operator {
            Operator::In | Operator::NotIn => {
                if values.is_empty() {
                    return Err(bad(
                        "for 'in', 'notin' operators, values set can't be empty".into(),
                    ));
                }
                values.sort();
                values.dedup();
            }
            Operator::Equals | Operator::DoubleEquals | Operator::NotEquals => {
                if values.len() != 1 {
                    return Err(bad(format!(
                        "operator '{operator}' requires exactly one value, got {}",
                        values.len()
                    )));
                }
            }
            Operator::Exists | Operator::DoesNotExist => {
                if !values.is_empty() {
                    return Err(bad(format!(
                        "values set must be empty for exists and does not exist, got {:?}",
                        values
                    )));
                }
            }
            Operator::GreaterThan | Operator::LessThan => {
                if values.len() != 1 {
                    return Err(bad(format!(
                        "for 'gt', 'lt' operators, exactly one value is required, got {}",
                        values.len()
                    )));
                }
                for v in &values {
                    if v.parse::<i64>().is_err() {
                        return Err(bad(format!(
                            "for 'gt', 'lt' operators, the value must be an integer, got \"{v}\""
                        )));
                    }
                }
            }
        }
        for v in &values {
            validate_label_value(v).map_err(|reason| Error::InvalidValue {
                key: key.to_string(),
                value: v.clone(),
                reason,
            })?;
        }
        Ok(Requirement {
            key: key.to_string(),
            operator,
            values,
        })
    }

    /// Whether a set of labels satisfies this requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.matches_lookup(|k| labels.get(k).map(String::as_str))
    }

    /// The core of matching, over any way of looking a label up.
    fn matches_lookup<'a>(&self, get: impl Fn(&str) -> Option<&'a str>) -> bool {
        let has_value = |v: &str| self.values.iter().any(|x| x == v);
        match self.operator {
            Operator::Equals | Operator::DoubleEquals | Operator::In => {
                get(&self.key).is_some_and(has_value)
            }
            Operator::NotEquals | Operator::NotIn => get(&self.key).is_none_or(|v| !has_value(v)),
            Operator::Exists => get(&self.key).is_some(),
            Operator::DoesNotExist => get(&self.key).is_none(),
            Operator::GreaterThan | Operator::LessThan => {
                let Some(actual) = get(&self.key).and_then(|v| v.parse::<i64>().ok()) else {
                    return false;
                };
                let [wanted] = self.values.as_slice() else {
                    return false;
                };
                let Ok(wanted) = wanted.parse::<i64>() else {
                    return false;
                };
                if self.operator == Operator::GreaterThan {
                    actual > wanted
                } else {
                    actual < wanted
                }
            }
        }
    }
}

impl fmt::Display for Requirement {
    /// The canonical string form: `!k`, `k`, `k=v`, `k==v`, `k!=v`,
    /// `k in (a,b)`, `k notin (a,b)`, `k>3`, `k<3`; set values are sorted.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = match self.operator {
            Operator::Exists => return f.write_str(&self.key),
            Operator::DoesNotExist => return write!(f, "!{}", self.key),
            Operator::Equals => "=",
            Operator::DoubleEquals => "==",
            Operator::NotEquals => "!=",
            Operator::GreaterThan => ">",
            Operator::LessThan => "<",
            Operator::In => " in ",
            Operator::NotIn => " notin ",
        };
        write!(f, "{}{}", self.key, op)?;
        match self.operator {
            Operator::In | Operator::NotIn => {
                let set: BTreeSet<&str> = self.values.iter().map(String::as_str).collect();
                let joined: Vec<&str> = set.into_iter().collect();
                write!(f, "({})", joined.join(","))
            }
            _ => f.write_str(self.values.first().map(String::as_str).unwrap_or("")),
        }
    }
}

/// A label selector: requirements that must all hold (a logical AND).
///
/// Three kinds of selector exist, as upstream:
/// - **everything** ([`Selector::everything`], the parse of `""`, or the
///   structured selector `{}`): no requirements, matches every object;
/// - **nothing** ([`Selector::nothing`], the structured selector `null`):
///   matches no object at all;
/// - a list of [`Requirement`]s, kept sorted by key.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Selector {
    requirements: Vec<Requirement>,
    nothing: bool,
}

/// The key used to spell [`Selector::nothing`] as a string (`k,!k` can never
/// hold, whatever the labels are).
const NOTHING_KEY: &str = "matches-nothing";

impl Selector {
    /// The selector that matches every object (no requirements).
    pub fn everything() -> Selector {
        Selector::default()
    }

    /// The selector that matches no object, which is what a *null*
    /// `metav1.LabelSelector` means (e.g. a PodDisruptionBudget without
    /// `spec.selector` selects no pods).
    ///
    /// It has no requirements of its own; its string form is
    /// `matches-nothing,!matches-nothing`, a contradiction that parses back
    /// into a selector that also matches nothing (rather than `""`, which
    /// would mean "everything" to whoever parses it).
    pub fn nothing() -> Selector {
        Selector {
            requirements: Vec::new(),
            nothing: true,
        }
    }

    /// A selector made of these requirements, sorted by key (stable, so
    /// requirements with the same key keep their order).
    pub fn from_requirements(mut requirements: Vec<Requirement>) -> Selector {
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Selector {
            requirements,
            nothing: false,
        }
    }

    /// The selector `k1=v1,k2=v2,...` that matches exactly the objects
    /// carrying all these labels (how a Service's or ReplicationController's
    /// map-shaped `spec.selector` selects pods). An empty map gives
    /// [`Selector::everything`].
    ///
    /// Like upstream `SelectorFromSet`, the keys and values are *not*
    /// validated (they normally come from an object that already passed
    /// validation); use [`Selector::from_set_validated`] for untrusted input.
    pub fn from_set(labels: &BTreeMap<String, String>) -> Selector {
        Selector::from_requirements(
            labels
                .iter()
                .map(|(k, v)| Requirement {
                    key: k.clone(),
                    operator: Operator::Equals,
                    values: vec![v.clone()],
                })
                .collect(),
        )
    }

    /// Like [`Selector::from_set`], but validates every key and value.
    pub fn from_set_validated(labels: &BTreeMap<String, String>) -> Result<Selector, Error> {
        let reqs = labels
            .iter()
            .map(|(k, v)| Requirement::new(k, Operator::Equals, [v.as_str()]))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Selector::from_requirements(reqs))
    }

    /// Parses the string form used by `?labelSelector=` and `kubectl -l`.
    ///
    /// Grammar (as upstream `labels.Parse`):
    ///
    /// ```text
    /// selector    ::= "" | requirement ("," requirement)*
    /// requirement ::= "!" KEY | KEY | KEY op VALUE | KEY ("in"|"notin") "(" values ")"
    /// op          ::= "=" | "==" | "!=" | ">" | "<"
    /// values      ::= VALUE ("," VALUE)*       (VALUE may be empty: "(a,,b)", "()")
    /// ```
    ///
    /// Spaces, tabs and newlines between tokens are ignored. `in` and `notin`
    /// are keywords only in operator position (`a in (in)` is fine). Keys and
    /// values are validated; `>`/`<` need an integer. Requirements are sorted
    /// by key, so equivalent selectors print the same.
    pub fn parse(selector: &str) -> Result<Selector, Error> {
        let tokens = lex(selector);
        let mut parser = Parser {
            selector,
            tokens,
            pos: 0,
        };
        let requirements = parser.parse()?;
        Ok(Selector::from_requirements(requirements))
    }

    /// Converts a structured `metav1.LabelSelector` (as JSON) into a selector.
    ///
    /// ```json
    /// {"matchLabels": {"app": "web"},
    ///  "matchExpressions": [{"key": "tier", "operator": "In", "values": ["fe", "be"]}]}
    /// ```
    ///
    /// `matchLabels` entries become `key=value`; `matchExpressions` use the
    /// operators `In`, `NotIn` (non-empty `values`), `Exists`, `DoesNotExist`
    /// (no `values`). All of them must hold.
    ///
    /// Upstream draws a sharp line between the two "empty" cases, and so does
    /// this function:
    /// - `{}` (no `matchLabels`, no `matchExpressions`) selects **everything**
    ///   ([`Selector::everything`]);
    /// - `null` selects **nothing** ([`Selector::nothing`]).
    ///
    /// A caller holding an optional field (`spec.selector` may be missing)
    /// passes `obj.pointer("/spec/selector").unwrap_or(&Value::Null)`.
    pub fn from_label_selector_json(selector: &Value) -> Result<Selector, Error> {
        let obj = match selector {
            Value::Null => return Ok(Selector::nothing()),
            Value::Object(obj) => obj,
            other => {
                return Err(Error::InvalidLabelSelector(format!(
                    "expected a JSON object or null, got {}",
                    json_type(other)
                )))
            }
        };
        let mut requirements = Vec::new();
        match obj.get("matchLabels") {
            None | Some(Value::Null) => {}
            Some(Value::Object(labels)) => {
                for (key, value) in labels {
                    let Some(value) = value.as_str() else {
                        return Err(Error::InvalidLabelSelector(format!(
                            "matchLabels[{key}]: expected a string, got {}",
                            json_type(value)
                        )));
                    };
                    requirements.push(Requirement::new(key, Operator::Equals, [value])?);
                }
            }
            Some(other) => {
                return Err(Error::InvalidLabelSelector(format!(
                    "matchLabels: expected an object, got {}",
                    json_type(other)
                )))
            }
        }
        match obj.get("matchExpressions") {
            None | Some(Value::Null) => {}
            Some(Value::Array(exprs)) => {
                for (i, expr) in exprs.iter().enumerate() {
                    requirements.push(expression_to_requirement(i, expr)?);
                }
            }
            Some(other) => {
                return Err(Error::InvalidLabelSelector(format!(
                    "matchExpressions: expected an array, got {}",
                    json_type(other)
                )))
            }
        }
        Ok(Selector::from_requirements(requirements))
    }

    /// The requirements, sorted by key. Empty for both
    /// [`Selector::everything`] and [`Selector::nothing`].
    pub fn requirements(&self) -> &[Requirement] {
        &self.requirements
    }

    /// Whether this selector matches everything (no requirements, and not
    /// [`Selector::nothing`]).
    pub fn is_empty(&self) -> bool {
        !self.nothing && self.requirements.is_empty()
    }

    /// Whether this is the explicit [`Selector::nothing`]. Like upstream
    /// `labels.MatchesNothing`, contradictions such as `a,!a` are not detected.
    pub fn matches_nothing(&self) -> bool {
        self.nothing
    }

    /// Adds a requirement (the result keeps requirements sorted by key).
    /// Adding to [`Selector::nothing`] keeps it matching nothing.
    pub fn and(mut self, requirement: Requirement) -> Selector {
        self.requirements.push(requirement);
        self.requirements.sort_by(|a, b| a.key.cmp(&b.key));
        self
    }

    /// Whether a set of labels satisfies every requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        !self.nothing && self.requirements.iter().all(|r| r.matches(labels))
    }

    /// Like [`Selector::matches`], on the `metadata.labels` JSON object of an
    /// object as stored (`obj.pointer("/metadata/labels")`). A missing or
    /// `null` value means "no labels"; non-string entries count as absent.
    pub fn matches_json(&self, labels: Option<&Value>) -> bool {
        if self.nothing {
            return false;
        }
        let map = labels.and_then(Value::as_object);
        self.requirements
            .iter()
            .all(|r| r.matches_lookup(|k| map.and_then(|m| m.get(k)).and_then(Value::as_str)))
    }

    /// If the selector requires `key` to have one specific value (`key=v`,
    /// `key==v` or `key in (v)`), that value. Like upstream
    /// `RequiresExactMatch`, only the first requirement on `key` is looked at.
    pub fn requires_exact_match(&self, key: &str) -> Option<&str> {
        let r = self.requirements.iter().find(|r| r.key == key)?;
        match (r.operator, r.values.as_slice()) {
            (Operator::Equals | Operator::DoubleEquals | Operator::In, [v]) => Some(v),
            _ => None,
        }
    }
}

impl fmt::Display for Selector {
    /// The canonical string form: requirements joined by `,` (no spaces),
    /// `""` for [`Selector::everything`]. Parsing it again gives an equal
    /// selector (see [`Selector::nothing`] for its special spelling).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.nothing {
            return write!(f, "{NOTHING_KEY},!{NOTHING_KEY}");
        }
        for (i, r) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

impl FromStr for Selector {
    type Err = Error;

    /// Same as [`Selector::parse`].
    fn from_str(s: &str) -> Result<Selector, Error> {
        Selector::parse(s)
    }
}

/// Converts one `matchExpressions[i]` entry.
fn expression_to_requirement(i: usize, expr: &Value) -> Result<Requirement, Error> {
    let invalid =
        |msg: String| Error::InvalidLabelSelector(format!("matchExpressions[{i}]: {msg}"));
    let Some(expr) = expr.as_object() else {
        return Err(invalid(format!(
            "expected an object, got {}",
            json_type(expr)
        )));
    };
    let key = match expr.get("key") {
        Some(Value::String(k)) => k.as_str(),
        None | Some(Value::Null) => return Err(invalid("key is required".into())),
        Some(other) => {
            return Err(invalid(format!(
                "key: expected a string, got {}",
                json_type(other)
            )))
        }
    };
    let operator = match expr.get("operator") {
        Some(Value::String(op)) => match op.as_str() {
            "In" => Operator::In,
            "NotIn" => Operator::NotIn,
            "Exists" => Operator::Exists,
            "DoesNotExist" => Operator::DoesNotExist,
            other => {
                return Err(invalid(format!(
                    "\"{other}\" is not a valid label selector operator (expected In, NotIn, Exists or DoesNotExist)"
                )))
            }
        },
        None | Some(Value::Null) => return Err(invalid("operator is required".into())),
        Some(other) => {
            return Err(invalid(format!(
                "operator: expected a string, got {}",
                json_type(other)
            )))
        }
    };
    let mut values = Vec::new();
    match expr.get("values") {
        None | Some(Value::Null) => {}
        Some(Value::Array(vs)) => {
            for v in vs {
                match v.as_str() {
                    Some(s) => values.push(s),
                    None => {
                        return Err(invalid(format!(
                            "values: expected strings, got {}",
                            json_type(v)
                        )))
                    }
                }
            }
        }
        Some(other) => {
            return Err(invalid(format!(
                "values: expected an array, got {}",
                json_type(other)
            )))
        }
    }
    Requirement::new(key, operator, values)
}

/// A short name for a JSON value's type, for error messages.
fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

// ---------------------------------------------------------------------------
// Validation of keys and values
// ---------------------------------------------------------------------------

const NAME_CHARSET_MSG: &str = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName', 'my.name' or '123-abc')";

/// Whether `s` is `[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?`.
fn is_qualified_name_part(s: &str) -> bool {
    let b = s.as_bytes();
    match (b.first(), b.last()) {
        (Some(f), Some(l)) => {
            f.is_ascii_alphanumeric()
                && l.is_ascii_alphanumeric()
                && b.iter()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        }
        _ => false,
    }
}

/// Whether `s` matches the pattern of a lowercase RFC 1123 subdomain:
/// dot-separated parts of `[a-z0-9]([-a-z0-9]*[a-z0-9])?`. Like upstream's
/// `IsDNS1123Subdomain`, only the whole is limited in length (253, checked
/// by callers), not each part: a 100-character name with no dot is valid.
pub fn is_dns1123_subdomain(s: &str) -> bool {
    !s.is_empty()
        && s.split('.').all(|label| {
            let b = label.as_bytes();
            match (b.first(), b.last()) {
                (Some(f), Some(l)) => {
                    (f.is_ascii_lowercase() || f.is_ascii_digit())
                        && (l.is_ascii_lowercase() || l.is_ascii_digit())
                        && b.iter()
                            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
                }
                _ => false,
            }
        })
}

/// Checks a label key: `[prefix/]name` where the optional prefix is a
/// lowercase DNS subdomain of at most 253 characters and the name is 1 to 63
/// characters of `[A-Za-z0-9_.-]`, starting and ending alphanumeric.
///
/// On failure, returns the reasons (joined by `"; "`), worded like upstream's
/// `IsQualifiedName`, for use in validation messages.
pub fn validate_label_key(key: &str) -> Result<(), String> {
    let mut errs: Vec<String> = Vec::new();
    let (prefix, name) = match key.split_once('/') {
        None => (None, key),
        Some((p, n)) if !n.contains('/') => (Some(p), n),
        Some(_) => {
            return Err(format!(
                "a qualified name {NAME_CHARSET_MSG}, with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
            ))
        }
    };
    if let Some(prefix) = prefix {
        if prefix.is_empty() {
            errs.push("prefix part must be non-empty".into());
        } else {
            if prefix.len() > 253 {
                errs.push("prefix part must be no more than 253 characters".into());
            }
            if !is_dns1123_subdomain(prefix) {
                errs.push("prefix part must be a lowercase RFC 1123 subdomain: lower case alphanumeric characters, '-' or '.', starting and ending with an alphanumeric character (e.g. 'example.com')".into());
            }
        }
    }
    if name.is_empty() {
        errs.push("name part must be non-empty".into());
    } else {
        if name.len() > 63 {
            errs.push("name part must be no more than 63 characters".into());
        }
        if !is_qualified_name_part(name) {
            errs.push(format!("name part {NAME_CHARSET_MSG}"));
        }
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(errs.join("; "))
    }
}

/// Checks a label value: empty, or at most 63 characters of
/// `[A-Za-z0-9_.-]` starting and ending alphanumeric.
///
/// On failure, returns the reasons (joined by `"; "`).
pub fn validate_label_value(value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Ok(());
    }
    let mut errs: Vec<&str> = Vec::new();
    if value.len() > 63 {
        errs.push("must be no more than 63 characters");
    }
    if !is_qualified_name_part(value) {
        errs.push("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue', 'my_value' or '12345')");
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(errs.join("; "))
    }
}

// ---------------------------------------------------------------------------
// Lexer
// ---------------------------------------------------------------------------

/// A token of the selector language.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    End,
    OpenPar,
    ClosedPar,
    Comma,
    /// `!` on its own (does-not-exist).
    Not,
    Equals,
    DoubleEquals,
    NotEquals,
    GreaterThan,
    LessThan,
    /// The keyword `in`.
    In,
    /// The keyword `notin`.
    NotIn,
    /// Any other run of non-space, non-symbol characters.
    Ident(String),
}

impl Token {
    /// How the token is quoted in error messages.
    fn describe(&self) -> String {
        let lit = match self {
            Token::End => return "end of string".to_string(),
            Token::OpenPar => "(",
            Token::ClosedPar => ")",
            Token::Comma => ",",
            Token::Not => "!",
            Token::Equals => "=",
            Token::DoubleEquals => "==",
            Token::NotEquals => "!=",
            Token::GreaterThan => ">",
            Token::LessThan => "<",
            Token::In => "in",
            Token::NotIn => "notin",
            Token::Ident(s) => s,
        };
        format!("'{lit}'")
    }

    /// The token read as a key or value: identifiers, and the keywords `in`
    /// and `notin` (which are only keywords in operator position).
    fn as_identifier(&self) -> Option<&str> {
        match self {
            Token::Ident(s) => Some(s),
            Token::In => Some("in"),
            Token::NotIn => Some("notin"),
            _ => None,
        }
    }
}

fn is_whitespace(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fn is_special(c: char) -> bool {
    matches!(c, '=' | '!' | '(' | ')' | ',' | '>' | '<')
}

/// Splits a selector into tokens; always ends with [`Token::End`].
fn lex(s: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut chars = s.char_indices().peekable();
    while let Some(&(start, c)) = chars.peek() {
        if is_whitespace(c) {
            chars.next();
            continue;
        }
        if is_special(c) {
            chars.next();
            let next = chars.peek().map(|&(_, n)| n);
            let tok = match (c, next) {
                ('!', Some('=')) => {
                    chars.next();
                    Token::NotEquals
                }
                ('=', Some('=')) => {
                    chars.next();
                    Token::DoubleEquals
                }
                ('!', _) => Token::Not,
                ('=', _) => Token::Equals,
                ('(', _) => Token::OpenPar,
                (')', _) => Token::ClosedPar,
                (',', _) => Token::Comma,
                ('>', _) => Token::GreaterThan,
                _ => Token::LessThan,
            };
            tokens.push(tok);
            continue;
        }
        let mut end = s.len();
        while let Some(&(i, c)) = chars.peek() {
            if is_whitespace(c) || is_special(c) {
                end = i;
                break;
            }
            chars.next();
        }
        let word = &s[start..end];
        tokens.push(match word {
            "in" => Token::In,
            "notin" => Token::NotIn,
            _ => Token::Ident(word.to_string()),
        });
    }
    tokens.push(Token::End);
    tokens
}

// ---------------------------------------------------------------------------
// Parser
// ---------------------------------------------------------------------------

struct Parser<'s> {
    selector: &'s str,
    tokens: Vec<Token>,
    pos: usize,
}

const EXPECTED_OPERATOR: &str = "in, notin, =, ==, !=, >, <";

impl Parser<'_> {
    fn peek(&self) -> &Token {
        self.tokens.get(self.pos).unwrap_or(&Token::End)
    }

    fn next(&mut self) -> Token {
        let t = self.peek().clone();
        if self.pos < self.tokens.len() {
            self.pos += 1;
        }
        t
    }

    fn syntax(&self, found: &Token, expected: &str) -> Error {
        Error::Syntax {
            selector: self.selector.to_string(),
            found: found.describe(),
            expected: expected.to_string(),
        }
    }

    fn parse(&mut self) -> Result<Vec<Requirement>, Error> {
        let mut requirements = Vec::new();
        loop {
            match self.peek() {
                Token::End => return Ok(requirements),
                t if t.as_identifier().is_some() || *t == Token::Not => {
                    requirements.push(self.parse_requirement()?);
                    match self.next() {
                        Token::End => return Ok(requirements),
                        Token::Comma => {
                            let t = self.peek();
                            if t.as_identifier().is_none() && *t != Token::Not {
                                return Err(self.syntax(t, "identifier after ','"));
                            }
                        }
                        other => return Err(self.syntax(&other, "',' or end of string")),
                    }
                }
                t => return Err(self.syntax(t, "!, identifier, or end of string")),
            }
        }
    }

    fn parse_requirement(&mut self) -> Result<Requirement, Error> {
        let mut tok = self.next();
        let negated = tok == Token::Not;
        if negated {
            tok = self.next();
        }
        let Some(key) = tok.as_identifier().map(str::to_string) else {
            return Err(self.syntax(&tok, "identifier"));
        };
        validate_label_key(&key).map_err(|reason| Error::InvalidKey {
            key: key.clone(),
            reason,
        })?;
        if negated {
            return Requirement::new(&key, Operator::DoesNotExist, Vec::<String>::new());
        }
        if matches!(self.peek(), Token::End | Token::Comma) {
            return Requirement::new(&key, Operator::Exists, Vec::<String>::new());
        }
        let op_tok = self.next();
        let operator = match op_tok {
            Token::In => Operator::In,
            Token::NotIn => Operator::NotIn,
            Token::Equals => Operator::Equals,
            Token::DoubleEquals => Operator::DoubleEquals,
            Token::NotEquals => Operator::NotEquals,
            Token::GreaterThan => Operator::GreaterThan,
            Token::LessThan => Operator::LessThan,
            other => return Err(self.syntax(&other, EXPECTED_OPERATOR)),
        };
        let values: Vec<String> = match operator {
            Operator::In | Operator::NotIn => self.parse_set_values()?,
            _ => vec![self.parse_exact_value()?],
        };
        Requirement::new(&key, operator, values)
    }

    /// `(a,b,c)`; empty entries are the empty value: `()` is `{""}`,
    /// `(a,)` is `{"", a}`.
    fn parse_set_values(&mut self) -> Result<Vec<String>, Error> {
        let open = self.next();
        if open != Token::OpenPar {
            return Err(self.syntax(&open, "'('"));
        }
        let mut values = BTreeSet::new();
        // `expect_value` is true right after '(' or ','.
        let mut expect_value = true;
        loop {
            let tok = self.next();
            if let Some(v) = tok.as_identifier() {
                if !expect_value {
                    return Err(self.syntax(&tok, "',' or ')'"));
                }
                values.insert(v.to_string());
                expect_value = false;
                continue;
            }
            match tok {
                Token::Comma => {
                    if expect_value {
                        values.insert(String::new());
                    }
                    expect_value = true;
                }
                Token::ClosedPar => {
                    if expect_value {
                        values.insert(String::new());
                    }
                    return Ok(values.into_iter().collect());
                }
                other => {
                    let expected = if expect_value {
                        "',', ')' or identifier"
                    } else {
                        "',' or ')'"
                    };
                    return Err(self.syntax(&other, expected));
                }
            }
        }
    }

    /// The value after `=`, `==`, `!=`, `>`, `<`; nothing (end or `,`)
    /// means the empty value.
    fn parse_exact_value(&mut self) -> Result<String, Error> {
        if matches!(self.peek(), Token::End | Token::Comma) {
            return Ok(String::new());
        }
        let tok = self.next();
        match tok.as_identifier() {
            Some(v) => Ok(v.to_string()),
            None => Err(self.syntax(&tok, "identifier")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn parse(s: &str) -> Selector {
        match Selector::parse(s) {
            Ok(sel) => sel,
            Err(e) => panic!("parse({s:?}) failed: {e}"),
        }
    }

    fn single(s: &str) -> Requirement {
        let sel = parse(s);
        assert_eq!(sel.requirements().len(), 1, "{s}");
        sel.requirements()[0].clone()
    }

    #[test]
    fn parses_every_operator() {
        let cases: &[(&str, &str, Operator, &[&str])] = &[
            ("a=b", "a", Operator::Equals, &["b"]),
            ("a==b", "a", Operator::DoubleEquals, &["b"]),
            ("a!=b", "a", Operator::NotEquals, &["b"]),
            ("a in (x,y)", "a", Operator::In, &["x", "y"]),
            ("a notin (x, y)", "a", Operator::NotIn, &["x", "y"]),
            ("a", "a", Operator::Exists, &[]),
            ("!a", "a", Operator::DoesNotExist, &[]),
            ("a>3", "a", Operator::GreaterThan, &["3"]),
            ("a<3", "a", Operator::LessThan, &["3"]),
            ("a=", "a", Operator::Equals, &[""]),
            ("a in ()", "a", Operator::In, &[""]),
            ("a in (x,,y)", "a", Operator::In, &["", "x", "y"]),
            ("a in (x,)", "a", Operator::In, &["", "x"]),
            ("a in (,x)", "a", Operator::In, &["", "x"]),
            ("a in (y,x,y)", "a", Operator::In, &["x", "y"]),
            (
                "example.com/my-app_1.x=v",
                "example.com/my-app_1.x",
                Operator::Equals,
                &["v"],
            ),
            ("a in (in, notin)", "a", Operator::In, &["in", "notin"]),
            ("a=in", "a", Operator::Equals, &["in"]),
            ("in", "in", Operator::Exists, &[]),
            ("notin=x", "notin", Operator::Equals, &["x"]),
        ];
        for (input, key, op, values) in cases {
            let r = single(input);
            assert_eq!(r.key, *key, "{input}");
            assert_eq!(r.operator, *op, "{input}");
            assert_eq!(r.values, *values, "{input}");
        }
    }

    #[test]
    fn whitespace_is_tolerated() {
        let a = parse("  app = web ,\ttier  in(  fe ,be ) ,\n! canary , x != y, n > 1 ");
        let b = parse("app=web,tier in (fe,be),!canary,x!=y,n>1");
        assert_eq!(a, b);
        assert_eq!(a.to_string(), "app=web,!canary,n>1,tier in (be,fe),x!=y");
    }

    #[test]
    fn empty_selector_matches_everything() {
        for s in ["", "   ", "\t\n"] {
            let sel = parse(s);
            assert!(sel.is_empty());
            assert!(sel.matches(&labels(&[])));
            assert!(sel.matches(&labels(&[("a", "b")])));
            assert!(sel.matches_json(None));
            assert_eq!(sel.to_string(), "");
        }
        assert_eq!(Selector::everything(), parse(""));
    }

    #[test]
    fn requirements_are_sorted_by_key() {
        let sel = parse("z=1,a=2,m");
        let keys: Vec<&str> = sel.requirements().iter().map(|r| r.key.as_str()).collect();
        assert_eq!(keys, ["a", "m", "z"]);
        assert_eq!(sel.to_string(), "a=2,m,z=1");
    }

    #[test]
    fn syntax_errors() {
        let bad = [
            "a b",
            "a in b",
            "a in (b",
            "a in (b c)",
            "a in (b))",
            "a=b c",
            "a=(b)",
            "a=b,",
            ",a",
            "a,,b",
            "=b",
            "!",
            "!!a",
            "!a=b",
            "a=b=c",
            "a>",
            "a<b",
            "a>1.5",
            "a<-3", // "-3" is not a valid label value, as upstream
            "a notin",
            "(",
            ")",
            "a in ((b))",
            "a===b",
            "a=!b",
        ];
        for s in bad {
            assert!(Selector::parse(s).is_err(), "{s:?} should not parse");
        }
    }

    #[test]
    fn error_messages_name_the_offending_text() {
        let msg = |s: &str| match Selector::parse(s) {
            Ok(sel) => panic!("{s:?} parsed as {sel:?}"),
            Err(e) => e.to_string(),
        };
        let m = msg("a b");
        assert!(
            m.starts_with("unable to parse requirement: found 'b'"),
            "{m}"
        );
        assert!(m.contains("in, notin"), "{m}");
        let m = msg("a in b");
        assert!(m.contains("found 'b', expected: '('"), "{m}");
        let m = msg("a=b,");
        assert!(
            m.contains("found end of string, expected: identifier after ','"),
            "{m}"
        );
        let m = msg("Bad Key=1");
        assert!(m.contains("found 'Key'"), "{m}");
        let m = msg("-bad=1");
        assert!(m.contains("invalid label key \"-bad\""), "{m}");
        let m = msg("a=-bad");
        assert!(
            m.contains("invalid label value \"-bad\" for key \"a\""),
            "{m}"
        );
        let m = msg("a>x");
        assert!(
            m.contains("must be an integer") && m.contains("\"x\""),
            "{m}"
        );
        let m = msg("a=b c");
        assert!(
            m.contains("found 'c', expected: ',' or end of string"),
            "{m}"
        );
    }

    #[test]
    fn invalid_keys_and_values() {
        let long = "x".repeat(64);
        let bad_keys = [
            long.clone(),
            format!("example.com/{long}"),
            "/a".to_string(),
            "a/".to_string(),
            "a/b/c".to_string(),
            "Example.com/a".to_string(),
            "exa_mple.com/a".to_string(),
            "-a".to_string(),
            "a-".to_string(),
            ".a".to_string(),
            "a$b".to_string(),
            "é".to_string(),
            format!("{}/a", "a".repeat(254)),
        ];
        for k in &bad_keys {
            assert!(validate_label_key(k).is_err(), "{k:?}");
            assert!(Selector::parse(&format!("{k}=v")).is_err(), "{k:?}");
            assert!(Selector::parse(k).is_err(), "{k:?}");
        }
        let good_keys = [
            "a",
            "A",
            "a.b_c-D",
            "x".repeat(63).as_str(),
            "kubernetes.io/hostname",
            "app.kubernetes.io/name",
            "1.2.3/x",
        ]
        .map(str::to_string);
        for k in &good_keys {
            assert!(validate_label_key(k).is_ok(), "{k:?}");
        }
        for v in [long.as_str(), "-a", "a-", "a b", "ä", "a/b"] {
            assert!(validate_label_value(v).is_err(), "{v:?}");
        }
        for v in ["", "a", "A.b-c_d", "x".repeat(63).as_str(), "123"] {
            assert!(validate_label_value(v).is_ok(), "{v:?}");
        }
        assert!(Selector::parse(&format!("a={long}")).is_err());
        assert!(Selector::parse(&format!("a in (b,{long})")).is_err());
    }

    #[test]
    fn garbage_never_panics() {
        let garbage = [
            "\u{0}",
            "!!!",
            "====",
            "((((",
            "))))",
            ",,,,",
            "a in (",
            "a notin (b,",
            "a in (b,,",
            "<>",
            "a<>b",
            "a!",
            "ü=ö",
            "日本=語",
            "a=\u{1F600}",
            "\\",
            "a in (b)(c)",
            "!a in (b)",
            "a = = b",
            "a, b, !",
            "a in notin (b)",
        ];
        for s in garbage {
            let _ = Selector::parse(s);
        }
        // Every prefix of a valid selector must parse or fail cleanly.
        let full = "!x,a in (b,c),d notin (e),f=g,h==i,j!=k,l>1,m<2,n";
        for (i, _) in full.char_indices() {
            let _ = Selector::parse(&full[..i]);
        }
    }

    #[test]
    fn matching_semantics() {
        let l = labels(&[("app", "web"), ("tier", "fe"), ("n", "5"), ("s", "abc")]);
        let yes = [
            "app=web",
            "app==web",
            "app!=db",
            "missing!=x",
            "tier in (fe,be)",
            "tier notin (be)",
            "missing notin (x)",
            "app",
            "!missing",
            "n>4",
            "n<6",
            "n>0",
            "app=web,tier=fe",
            "",
        ];
        for s in yes {
            assert!(parse(s).matches(&l), "{s} should match");
        }
        let no = [
            "app=db",
            "missing=x",
            "missing==",
            "app!=web",
            "tier in (be)",
            "missing in (x)",
            "tier notin (fe)",
            "missing",
            "!app",
            "n>5",
            "n<5",
            "s>1",
            "s<1",
            "missing>1",
            "app=web,tier=be",
        ];
        for s in no {
            assert!(!parse(s).matches(&l), "{s} should not match");
        }
        // an empty value matches a label set to the empty string only
        assert!(parse("e=").matches(&labels(&[("e", "")])));
        assert!(!parse("e=").matches(&labels(&[])));
        assert!(parse("e in (a,)").matches(&labels(&[("e", "")])));
    }

    #[test]
    fn matching_json_labels() {
        let obj = json!({"metadata": {"labels": {"app": "web", "n": "3", "bad": 7}}});
        let ls = obj.pointer("/metadata/labels");
        assert!(parse("app=web").matches_json(ls));
        assert!(parse("app=web,n>2").matches_json(ls));
        assert!(!parse("app=db").matches_json(ls));
        assert!(
            parse("!bad").matches_json(ls),
            "non-string labels count as absent"
        );
        let none = json!({"metadata": {}});
        assert!(parse("app!=web").matches_json(none.pointer("/metadata/labels")));
        assert!(!parse("app").matches_json(none.pointer("/metadata/labels")));
        assert!(parse("").matches_json(Some(&Value::Null)));
        assert!(parse("!app").matches_json(Some(&Value::Null)));
        assert!(!parse("app").matches_json(Some(&Value::Null)));
    }

    #[test]
    fn display_round_trips() {
        let inputs = [
            "a=b",
            "a==b",
            "a!=b",
            "a in (x,y)",
            "a notin (y, x)",
            "a",
            "!a",
            "a>3",
            "a<3",
            "a=",
            "a in ()",
            "a in (,x)",
            "x.io/k in (in,notin),b,!c,d=e",
            "a=1,a!=2,a",
        ];
        for s in inputs {
            let sel = parse(s);
            let printed = sel.to_string();
            let again = parse(&printed);
            assert_eq!(sel, again, "{s} -> {printed}");
            assert_eq!(again.to_string(), printed);
        }
        assert_eq!(parse("a notin (y, x)").to_string(), "a notin (x,y)");
        assert_eq!(parse("a in ()").to_string(), "a in ()");
        assert_eq!(parse("a in (,x)").to_string(), "a in (,x)");
    }

    #[test]
    fn requirement_new_validates() {
        assert!(Requirement::new("a", Operator::In, Vec::<String>::new()).is_err());
        assert!(Requirement::new("a", Operator::NotIn, Vec::<String>::new()).is_err());
        assert!(Requirement::new("a", Operator::Equals, ["x", "y"]).is_err());
        assert!(Requirement::new("a", Operator::Equals, Vec::<String>::new()).is_err());
        assert!(Requirement::new("a", Operator::Exists, ["x"]).is_err());
        assert!(Requirement::new("a", Operator::DoesNotExist, ["x"]).is_err());
        assert!(Requirement::new("a", Operator::GreaterThan, ["x"]).is_err());
        assert!(Requirement::new("a", Operator::LessThan, ["1", "2"]).is_err());
        assert!(Requirement::new("a b", Operator::Exists, Vec::<String>::new()).is_err());
        assert!(Requirement::new("a", Operator::Equals, ["a b"]).is_err());
        let r = Requirement::new("a", Operator::In, ["z", "y", "z"]).expect("valid");
        assert_eq!(r.values, ["y", "z"]);
        assert_eq!(r.to_string(), "a in (y,z)");
    }

    #[test]
    fn label_selector_json_conversion() {
        let sel = Selector::from_label_selector_json(&json!({
            "matchLabels": {"app": "web"},
            "matchExpressions": [
                {"key": "tier", "operator": "In", "values": ["fe", "be"]},
                {"key": "env", "operator": "NotIn", "values": ["prod"]},
                {"key": "canary", "operator": "DoesNotExist"},
                {"key": "team", "operator": "Exists", "values": []},
            ]
        }))
        .expect("valid selector");
        assert_eq!(
            sel.to_string(),
            "app=web,!canary,env notin (prod),team,tier in (be,fe)"
        );
        assert!(sel.matches(&labels(&[("app", "web"), ("tier", "fe"), ("team", "x")])));
        assert!(!sel.matches(&labels(&[("app", "web"), ("tier", "fe")])));
        assert!(!sel.matches(&labels(&[
            ("app", "web"),
            ("tier", "fe"),
            ("team", "x"),
            ("canary", "1")
        ])));
        assert_eq!(parse(&sel.to_string()), sel);

        // {} selects everything, null selects nothing.
        let all = Selector::from_label_selector_json(&json!({})).expect("valid");
        assert!(all.is_empty());
        assert!(all.matches(&labels(&[])));
        let all = Selector::from_label_selector_json(
            &json!({"matchLabels": null, "matchExpressions": []}),
        )
        .expect("valid");
        assert!(all.is_empty());
        let none = Selector::from_label_selector_json(&Value::Null).expect("valid");
        assert!(none.matches_nothing());
        assert!(!none.is_empty());
        assert!(!none.matches(&labels(&[])));
        assert!(!none.matches(&labels(&[("a", "b")])));
        assert!(!none.matches_json(None));
        // its string form parses back into something that matches nothing
        let reparsed = parse(&none.to_string());
        assert!(!reparsed.matches(&labels(&[])));
        assert!(!reparsed.matches(&labels(&[(NOTHING_KEY, "x")])));

        let bad = [
            json!("app=web"),
            json!([]),
            json!({"matchLabels": {"app": 1}}),
            json!({"matchLabels": ["app"]}),
            json!({"matchLabels": {"bad key": "x"}}),
            json!({"matchLabels": {"app": "bad value"}}),
            json!({"matchExpressions": {}}),
            json!({"matchExpressions": ["x"]}),
            json!({"matchExpressions": [{"operator": "Exists"}]}),
            json!({"matchExpressions": [{"key": "a"}]}),
            json!({"matchExpressions": [{"key": "a", "operator": "Equals", "values": ["x"]}]}),
            json!({"matchExpressions": [{"key": "a", "operator": "in", "values": ["x"]}]}),
            json!({"matchExpressions": [{"key": "a", "operator": "In"}]}),
            json!({"matchExpressions": [{"key": "a", "operator": "In", "values": []}]}),
            json!({"matchExpressions": [{"key": "a", "operator": "NotIn", "values": null}]}),
            json!({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]}),
            json!({"matchExpressions": [{"key": "a", "operator": "DoesNotExist", "values": ["x"]}]}),
            json!({"matchExpressions": [{"key": "a", "operator": "In", "values": [1]}]}),
            json!({"matchExpressions": [{"key": 3, "operator": "Exists"}]}),
        ];
        for b in bad {
            assert!(Selector::from_label_selector_json(&b).is_err(), "{b}");
        }
        let e = Selector::from_label_selector_json(
            &json!({"matchExpressions": [{"key": "a", "operator": "Equals"}]}),
        )
        .expect_err("bad operator");
        assert!(e
            .to_string()
            .contains("\"Equals\" is not a valid label selector operator"));
    }

    #[test]
    fn from_set_and_exact_match() {
        let set = labels(&[("b", "2"), ("a", "1")]);
        let sel = Selector::from_set(&set);
        assert_eq!(sel.to_string(), "a=1,b=2");
        assert!(sel.matches(&set));
        assert!(!sel.matches(&labels(&[("a", "1")])));
        assert!(Selector::from_set(&BTreeMap::new()).is_empty());
        assert!(Selector::from_set_validated(&labels(&[("a b", "1")])).is_err());
        assert_eq!(
            Selector::from_set_validated(&set).expect("valid"),
            Selector::from_set(&set)
        );

        assert_eq!(parse("a=1,b").requires_exact_match("a"), Some("1"));
        assert_eq!(parse("a in (x)").requires_exact_match("a"), Some("x"));
        assert_eq!(parse("a in (x,y)").requires_exact_match("a"), None);
        assert_eq!(parse("a!=1").requires_exact_match("a"), None);
        assert_eq!(parse("b=1").requires_exact_match("a"), None);
    }

    #[test]
    fn and_keeps_order_and_nothing() {
        let r = Requirement::new("a", Operator::Exists, Vec::<String>::new()).expect("valid");
        let sel = parse("z=1").and(r.clone());
        assert_eq!(sel.to_string(), "a,z=1");
        assert!(Selector::nothing().and(r).matches_nothing());
        assert_eq!("a=b".parse::<Selector>().expect("valid"), parse("a=b"));
    }
}
