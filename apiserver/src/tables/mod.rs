//! Server-side printing: `kubectl get` asks for a `meta.k8s.io/v1 Table`.
//!
//! kubectl does not know how to print a Deployment; it asks the server with
//!
//! ```text
//! Accept: application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json
//! ```
//!
//! and prints the columns it gets back. So the columns of `kubectl get pods`
//! (NAME, READY, STATUS, RESTARTS, AGE, and with `-o wide` IP, NODE, ...) are
//! defined by each kind's strategy ([`crate::registry::Strategy::columns`]
//! and [`crate::registry::Strategy::cells`], built from [`crate::printers`]),
//! the same as upstream's; this module wraps them into a Table.
//! A Table looks like:
//!
//! ```text
//! {"kind": "Table", "apiVersion": "meta.k8s.io/v1",
//!  "metadata": {"resourceVersion": "42", "continue": "..."},
//!  "columnDefinitions": [{"name": "Name", "type": "string", "format": "name",
//!                         "description": "...", "priority": 0}, ...],
//!  "rows": [{"cells": ["web-1", "1/1", "Running", "0", "5m"],
//!            "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
//!                       "metadata": {...}}}]}
//! ```
//!
//! Priority-1 columns are the `-o wide` ones: the server always fills them and
//! kubectl decides what to show. Each row carries the object: by default as
//! `PartialObjectMetadata` (its metadata only, enough for kubectl to print
//! labels and namespaces); `?includeObject=Object` (kubectl sends it with
//! `--sort-by`, which sorts on any field) carries the whole object.
//!
//! Watches (`kubectl get -w`) ask for the same Accept type; then every event's
//! object is a one-row Table, with the column definitions on the first event
//! only ([`table_event_object`]).

#[cfg(test)]
mod printer_tests;

pub use crate::printers::Column;
use crate::registry::Strategy;

use apimachinery::resources::ResourceInfo;
use http::HeaderMap;
use serde_json::{json, Value};

/// What each row carries besides its cells (the `includeObject` parameter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IncludeObject {
    /// Nothing.
    None,
    /// `PartialObjectMetadata`: the object's metadata only (the default).
    #[default]
    Metadata,
    /// The whole object.
    Object,
}

impl IncludeObject {
    /// From the `includeObject` query parameter (`None`, `Metadata`,
    /// `Object`); anything else means the default, `Metadata`.
    pub fn from_query(v: Option<&str>) -> IncludeObject {
        match v {
            Some("None") => IncludeObject::None,
            Some("Object") => IncludeObject::Object,
            _ => IncludeObject::Metadata,
        }
    }
}

/// A Table request found in an Accept header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableRequest {
    /// The Table version asked for: `v1` or `v1beta1` (same shape; the answer's
    /// apiVersion says which).
    pub version: &'static str,
}

impl TableRequest {
    /// The apiVersion the answer carries.
    pub fn api_version(&self) -> &'static str {
        if self.version == "v1beta1" {
            "meta.k8s.io/v1beta1"
        } else {
            "meta.k8s.io/v1"
        }
    }
}

/// Whether an Accept header value asks for a Table, in any position of its
/// list: `application/json;as=Table;v=v1;g=meta.k8s.io` (or `v=v1beta1`).
/// The first Table entry wins; clients list v1 first. Other media types
/// (`application/json`, protobuf) are not Tables.
pub fn parse_accept(accept: &str) -> Option<TableRequest> {
    accept.split(',').find_map(|media| {
        let mut parts = media.split(';').map(str::trim);
        let ty = parts.next()?;
        if !ty.eq_ignore_ascii_case("application/json") {
            return None;
        }
        let (mut as_table, mut group, mut version) = (false, false, None);
        for p in parts {
            let (k, v) = p.split_once('=')?;
            match (k.trim(), v.trim().trim_matches('"')) {
                ("as", "Table") => as_table = true,
                ("g", "meta.k8s.io") => group = true,
                ("v", "v1") => version = Some("v1"),
                ("v", "v1beta1") => version = Some("v1beta1"),
                _ => {}
            }
        }
        (as_table && group)
            .then_some(version)
            .flatten()
            .map(|version| TableRequest { version })
    })
}

/// Whether the client asked for a Table (in any Accept header).
pub fn wants_table(headers: &HeaderMap) -> bool {
    headers
        .get_all(http::header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| parse_accept(v).is_some())
}

/// The columns of a kind.
pub fn columns(resource: &ResourceInfo) -> &'static [Column] {
    crate::registry::strategy_for(resource).columns()
}

/// The cells of one object, one per column of [`columns`].
pub fn cells(resource: &ResourceInfo, obj: &Value) -> Vec<Value> {
    crate::registry::strategy_for(resource).cells(obj)
}

/// The row conditions of one object (finished pods are `Completed`).
pub fn row_conditions(resource: &ResourceInfo, obj: &Value) -> Option<Value> {
    crate::registry::strategy_for(resource).row_conditions(obj)
}

fn column_definitions(columns: &[Column]) -> Value {
    Value::Array(
        columns
            .iter()
            .map(|c| {
                json!({"name": c.name, "type": c.kind, "format": c.format,
                    "description": c.description, "priority": c.priority})
            })
            .collect(),
    )
}

fn row(strategy: &dyn Strategy, obj: &Value, include: IncludeObject) -> Value {
    let mut row = json!({"cells": strategy.cells(obj)});
    if let Some(conditions) = strategy.row_conditions(obj) {
        row["conditions"] = conditions;
    }
    match include {
        IncludeObject::None => {}
        IncludeObject::Metadata => {
            row["object"] = json!({
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": obj.get("metadata").cloned().unwrap_or_else(|| json!({})),
            });
        }
        IncludeObject::Object => row["object"] = obj.clone(),
    }
    row
}

/// A Table of a list (`kubectl get pods`). `list_metadata` is the list's
/// metadata (`resourceVersion`, `continue`, `remainingItemCount`), kept as is:
/// kubectl follows `continue` and watches from `resourceVersion`.
pub fn table_for_list(
    resource: &ResourceInfo,
    items: &[Value],
    list_metadata: &Value,
    include: IncludeObject,
) -> Value {
    let strategy = crate::registry::strategy_for(resource);
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_metadata,
        "columnDefinitions": column_definitions(strategy.columns()),
        "rows": items.iter().map(|o| row(strategy.as_ref(), o, include)).collect::<Vec<_>>(),
    })
}

/// A Table of one object: a `get` of one name (`with_columns` true) or a watch
/// event (column definitions on the first event only, as upstream). The
/// Table's resourceVersion is the object's.
pub fn table_for_object(
    resource: &ResourceInfo,
    obj: &Value,
    include: IncludeObject,
    with_columns: bool,
) -> Value {
    let strategy = crate::registry::strategy_for(resource);
    let rv = obj
        .pointer("/metadata/resourceVersion")
        .cloned()
        .unwrap_or(Value::Null);
    let columns = if with_columns {
        column_definitions(strategy.columns())
    } else {
        json!([])
    };
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": rv},
        "columnDefinitions": columns,
        "rows": [row(strategy.as_ref(), obj, include)],
    })
}

/// The object of one watch event for `kubectl get -w`: a one-row Table, with
/// the column definitions only when `with_column_definitions` (the first
/// event of the stream). Same as [`table_for_object`].
pub fn table_event_object(
    resource: &ResourceInfo,
    obj: &Value,
    include: IncludeObject,
    with_column_definitions: bool,
) -> Value {
    table_for_object(resource, obj, include, with_column_definitions)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn res(plural: &str) -> &'static ResourceInfo {
        apimachinery::resources::RESOURCES
            .iter()
            .find(|r| r.plural == plural)
            .unwrap_or_else(|| panic!("{plural} is served"))
    }

    #[test]
    fn accept_parsing() {
        let kubectl = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
        assert_eq!(parse_accept(kubectl), Some(TableRequest { version: "v1" }));
        assert_eq!(
            parse_accept("application/json; as=Table; g=meta.k8s.io; v=v1beta1")
                .map(|t| t.api_version()),
            Some("meta.k8s.io/v1beta1")
        );
        assert_eq!(
            parse_accept(
                "application/vnd.kubernetes.protobuf,application/json;as=Table;v=v1;g=meta.k8s.io"
            )
            .map(|t| t.version),
            Some("v1")
        );
        for not_table in [
            "application/json",
            "*/*",
            "",
            "application/json;as=Table;v=v2;g=meta.k8s.io",
            "application/json;as=Table;v=v1",
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList",
            "application/yaml;as=Table;v=v1;g=meta.k8s.io",
            ";;,=,;as",
        ] {
            assert_eq!(parse_accept(not_table), None, "{not_table}");
        }
        let mut h = HeaderMap::new();
        h.insert(http::header::ACCEPT, HeaderValue::from_static(kubectl));
        assert!(wants_table(&h));
        let mut plain = HeaderMap::new();
        plain.insert(
            http::header::ACCEPT,
            HeaderValue::from_static("application/json"),
        );
        assert!(!wants_table(&plain));
    }

    #[test]
    fn include_object_from_query() {
        assert_eq!(IncludeObject::from_query(None), IncludeObject::Metadata);
        assert_eq!(
            IncludeObject::from_query(Some("Object")),
            IncludeObject::Object
        );
        assert_eq!(IncludeObject::from_query(Some("None")), IncludeObject::None);
        assert_eq!(
            IncludeObject::from_query(Some("bogus")),
            IncludeObject::Metadata
        );
    }

    #[test]
    fn list_table_shape() {
        let cm = json!({"metadata": {"name": "c", "creationTimestamp": "2020-01-01T00:00:00Z"}, "data": {"a": "1", "b": "2"}});
        let t = table_for_list(
            res("configmaps"),
            std::slice::from_ref(&cm),
            &json!({"resourceVersion": "5", "continue": "abc"}),
            IncludeObject::Metadata,
        );
        assert_eq!(t["kind"], "Table");
        assert_eq!(t["apiVersion"], "meta.k8s.io/v1");
        assert_eq!(t["metadata"]["continue"], "abc");
        assert_eq!(t["columnDefinitions"][0]["format"], "name");
        assert_eq!(t["columnDefinitions"][1]["name"], "Data");
        assert_eq!(t["rows"][0]["cells"][0], "c");
        assert_eq!(t["rows"][0]["cells"][1], 2);
        assert_eq!(t["rows"][0]["object"]["kind"], "PartialObjectMetadata");
        assert_eq!(t["rows"][0]["object"]["metadata"]["name"], "c");
        assert!(t["rows"][0]["object"].get("data").is_none());

        let full = table_for_list(res("configmaps"), &[cm], &json!({}), IncludeObject::Object);
        assert_eq!(full["rows"][0]["object"]["data"]["a"], "1");
        let none = table_for_list(res("configmaps"), &[], &json!({}), IncludeObject::None);
        assert_eq!(none["rows"], json!([]));
    }

    #[test]
    fn watch_event_tables() {
        let pod = json!({"metadata": {"name": "p", "resourceVersion": "9"}, "status": {"phase": "Succeeded"}});
        let first = table_event_object(res("pods"), &pod, IncludeObject::Metadata, true);
        assert_eq!(first["metadata"]["resourceVersion"], "9");
        assert_eq!(first["columnDefinitions"].as_array().map(Vec::len), Some(9));
        assert_eq!(first["rows"][0]["conditions"][0]["type"], "Completed");
        let later = table_event_object(res("pods"), &pod, IncludeObject::None, false);
        assert_eq!(later["columnDefinitions"], json!([]));
        assert!(later["rows"][0].get("object").is_none());
    }
}
