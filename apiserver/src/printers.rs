//! The building blocks of `kubectl get` columns, shared by every kind's
//! printer (each kind's columns and cells live in its strategy under
//! [`crate::registry`]; [`crate::tables`] turns them into a `meta.k8s.io`
//! Table). The cells follow upstream's `pkg/printers/internalversion`, so
//! `kubectl get` prints what it prints against a real cluster.
//!
//! The server always fills every column, `-o wide` ones included (priority
//! 1); kubectl hides the wide ones unless asked. Cells are strings, integers
//! or booleans, as upstream: kubectl prints them as they come.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

/// One column of a Table (`columnDefinitions[]`).
#[derive(Debug, Clone, Copy)]
pub struct Column {
    /// Header, e.g. `Ready`.
    pub name: &'static str,
    /// OpenAPI type of the cells: `string`, `integer`, `boolean`.
    pub kind: &'static str,
    /// OpenAPI format (`name` for the Name column).
    pub format: &'static str,
    /// 0: always shown; 1: with `-o wide`.
    pub priority: u8,
    /// What the column shows.
    pub description: &'static str,
}

pub const fn col(
    name: &'static str,
    kind: &'static str,
    priority: u8,
    description: &'static str,
) -> Column {
    Column {
        name,
        kind,
        format: "",
        priority,
        description,
    }
}

/// The description of the Name column.
pub const NAME_DOC: &str = "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated.";
/// The description of the Age column.
pub const AGE_DOC: &str = "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.";

pub const NAME: Column = Column {
    name: "Name",
    kind: "string",
    format: "name",
    priority: 0,
    description: NAME_DOC,
};
pub const AGE: Column = col("Age", "string", 0, AGE_DOC);
pub const CONTAINERS: Column = col(
    "Containers",
    "string",
    1,
    "Names of each container in the template.",
);
pub const IMAGES: Column = col(
    "Images",
    "string",
    1,
    "Images referenced by each container in the template.",
);
pub const SELECTOR: Column = col(
    "Selector",
    "string",
    1,
    "A label query over pods that should match the replica count.",
);

/// The columns of a kind without a printer of its own.
pub const DEFAULT: &[Column] = &[NAME, AGE];

/// The cells of [`DEFAULT`].
pub fn default_cells(obj: &Value) -> Vec<Value> {
    vec![json!(s(obj, "/metadata/name")), json!(age(obj))]
}

/// The columns of upstream's default table convertor, which prints kinds
/// that have no printer there (Roles, LimitRanges, CRDs): the name and the
/// creation time as a timestamp rather than an age.
pub const CREATED_AT: &[Column] = &[
    NAME,
    Column {
        name: "Created At",
        kind: "date",
        format: "",
        priority: 0,
        description: AGE_DOC,
    },
];

/// The cells of [`CREATED_AT`].
pub fn created_at_cells(obj: &Value) -> Vec<Value> {
    vec![
        json!(s(obj, "/metadata/name")),
        json!(s(obj, "/metadata/creationTimestamp")),
    ]
}

/// The usual row: the name, the kind's own cells, the age.
pub fn row(obj: &Value, middle: Vec<Value>) -> Vec<Value> {
    let mut cells = Vec::with_capacity(middle.len() + 2);
    cells.push(json!(s(obj, "/metadata/name")));
    cells.extend(middle);
    cells.push(json!(age(obj)));
    cells
}

/// Upstream's `listOrNone`-style join: the strings, or `fallback` when there
/// are none.
pub fn join_or(items: &[String], sep: &str, fallback: &str) -> String {
    if items.is_empty() {
        fallback.to_string()
    } else {
        items.join(sep)
    }
}

/// An `IntOrString` as Go prints it (`2` or `50%`), `fallback` when unset.
pub fn int_or_string(v: Option<&Value>, fallback: &str) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => fallback.to_string(),
    }
}

// ---------------------------------------------------------------------------
// Small readers over JSON: absent or mistyped fields read as zero values,
// so no input can make a printer fail.

pub fn s<'a>(obj: &'a Value, pointer: &str) -> &'a str {
    obj.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

pub fn n(obj: &Value, pointer: &str) -> i64 {
    obj.pointer(pointer).and_then(Value::as_i64).unwrap_or(0)
}

pub fn b(obj: &Value, pointer: &str) -> bool {
    obj.pointer(pointer)
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

pub fn arr<'a>(obj: &'a Value, pointer: &str) -> &'a [Value] {
    obj.pointer(pointer)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

pub fn or<'a>(v: &'a str, default: &'a str) -> &'a str {
    if v.is_empty() {
        default
    } else {
        v
    }
}

pub fn len_of(obj: &Value, pointer: &str) -> usize {
    match obj.pointer(pointer) {
        Some(Value::Object(m)) => m.len(),
        Some(Value::Array(a)) => a.len(),
        _ => 0,
    }
}

pub fn has_condition(obj: &Value, pointer: &str, ty: &str) -> bool {
    arr(obj, pointer)
        .iter()
        .any(|c| s(c, "/type") == ty && s(c, "/status") == "True")
}

// ---------------------------------------------------------------------------
// Time.

pub fn parse_time(ts: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(ts)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Upstream's `duration.HumanDuration` of a number of seconds
/// ([`apimachinery::duration::human`]).
pub use apimachinery::duration::human as human_duration;

/// Upstream's `translateTimestampSince`: the age of a timestamp, or
/// `<unknown>` when there is none.
pub fn since(ts: &str) -> String {
    match parse_time(ts) {
        Some(t) => human_duration((Utc::now() - t).num_seconds()),
        None => "<unknown>".into(),
    }
}

pub fn age(obj: &Value) -> String {
    since(s(obj, "/metadata/creationTimestamp"))
}

// ---------------------------------------------------------------------------
// Shared cell formats.

/// Container names and images of a pod template, comma separated.
pub fn container_cells(obj: &Value, template: &str) -> (String, String) {
    let containers = arr(obj, &format!("{template}/spec/containers"));
    let names: Vec<&str> = containers.iter().map(|c| s(c, "/name")).collect();
    let images: Vec<&str> = containers.iter().map(|c| s(c, "/image")).collect();
    (names.join(","), images.join(","))
}

/// A `LabelSelector` as selector text; `None` when it cannot be parsed.
pub fn label_selector(sel: Option<&Value>) -> Option<String> {
    match sel {
        None | Some(Value::Null) => Some(String::new()),
        Some(sel) => apimachinery::labels::Selector::from_label_selector_json(sel)
            .ok()
            .map(|s| s.to_string()),
    }
}

/// Upstream's `metav1.FormatLabelSelector`: `<none>` when empty.
pub fn format_label_selector(sel: Option<&Value>) -> String {
    match label_selector(sel) {
        None => "<error>".into(),
        Some(s) if s.is_empty() => "<none>".into(),
        Some(s) => s,
    }
}

/// Upstream's `labels.FormatLabels`: `k=v,k2=v2` sorted by key, `<none>`
/// when empty.
pub fn format_labels(map: Option<&Value>) -> String {
    let pairs: Vec<String> = map
        .and_then(Value::as_object)
        .map(|m| {
            // serde_json's map is ordered by key.
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect()
        })
        .unwrap_or_default();
    if pairs.is_empty() {
        "<none>".into()
    } else {
        pairs.join(",")
    }
}

/// `a,b,c + 4 more...`, or `<unset>` for nothing (upstream's
/// `listWithMoreString`).
pub fn list_with_more(list: &[String], count: usize, max: usize) -> String {
    let shown = list.join(",");
    if count > max {
        format!("{shown} + {} more...", count - max)
    } else if shown.is_empty() {
        "<unset>".into()
    } else {
        shown
    }
}

/// `ip:port`, with brackets for IPv6 (Go's `net.JoinHostPort`).
pub fn join_host_port(host: &str, port: i64) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}
