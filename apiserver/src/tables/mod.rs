//! Server-side printing: `kubectl get` asks for a `meta.k8s.io/v1 Table`.
//!
//! kubectl does not know how to print a Deployment; it asks the server with
//! `Accept: application/json;as=Table;v=v1;g=meta.k8s.io` and prints the
//! columns it gets back. So the columns of `kubectl get pods` (NAME, READY,
//! STATUS, RESTARTS, AGE, and with `-o wide` IP, NODE, ...) are defined here,
//! one printer per kind in [`printers`], the same as upstream's.
//!
//! Each row carries the object (by default as `PartialObjectMetadata`, its
//! metadata only; `?includeObject=Object` for `--sort-by` and friends).

pub mod printers;

use apimachinery::resources::ResourceInfo;
use http::HeaderMap;
use serde_json::{json, Value};

/// What each row carries besides its cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncludeObject {
    /// Nothing.
    None,
    /// `PartialObjectMetadata` (the default).
    Metadata,
    /// The whole object.
    Object,
}

impl IncludeObject {
    /// From the `includeObject` query parameter.
    pub fn from_query(v: Option<&str>) -> IncludeObject {
        match v {
            Some("None") => IncludeObject::None,
            Some("Object") => IncludeObject::Object,
            _ => IncludeObject::Metadata,
        }
    }
}

/// Whether the client asked for a Table (in any position of its Accept list).
pub fn wants_table(headers: &HeaderMap) -> bool {
    headers
        .get_all(http::header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|media| {
            let params: Vec<&str> = media.split(';').map(str::trim).collect();
            params.first() == Some(&"application/json")
                && params.contains(&"as=Table")
                && params.contains(&"g=meta.k8s.io")
        })
}

/// One column of a printer.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    /// Header, e.g. `Ready`.
    pub name: &'static str,
    /// `string`, `integer`, `date`...
    pub kind: &'static str,
    /// `name` for the name column.
    pub format: &'static str,
    /// 0: always shown; 1: with `-o wide`.
    pub priority: u8,
    /// What the column shows.
    pub description: &'static str,
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

fn row(resource: &ResourceInfo, obj: &Value, include: IncludeObject) -> Value {
    let cells = printers::cells(resource, obj);
    let mut row = json!({"cells": cells});
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

/// A Table of a list.
pub fn table_for_list(
    resource: &ResourceInfo,
    items: &[Value],
    list_metadata: &Value,
    include: IncludeObject,
) -> Value {
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_metadata,
        "columnDefinitions": column_definitions(printers::columns(resource)),
        "rows": items.iter().map(|o| row(resource, o, include)).collect::<Vec<_>>(),
    })
}

/// A Table of one object (a `get` or a watch event); watch events after the
/// first leave the column definitions out, as upstream does.
pub fn table_for_object(
    resource: &ResourceInfo,
    obj: &Value,
    include: IncludeObject,
    with_columns: bool,
) -> Value {
    let rv = obj
        .pointer("/metadata/resourceVersion")
        .cloned()
        .unwrap_or(Value::Null);
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": rv},
        "columnDefinitions": if with_columns { column_definitions(printers::columns(resource)) } else { json!([]) },
        "rows": [row(resource, obj, include)],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn accept_parsing() {
        let mut h = HeaderMap::new();
        h.insert(
            http::header::ACCEPT,
            HeaderValue::from_static("application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"),
        );
        assert!(wants_table(&h));
        let mut plain = HeaderMap::new();
        plain.insert(
            http::header::ACCEPT,
            HeaderValue::from_static("application/json"),
        );
        assert!(!wants_table(&plain));
    }

    #[test]
    fn list_table_shape() {
        let res = apimachinery::resources::find("", "v1", "configmaps").expect("configmaps");
        let cm = json!({"metadata": {"name": "c", "creationTimestamp": "2020-01-01T00:00:00Z"}, "data": {"a": "1", "b": "2"}});
        let t = table_for_list(
            res,
            &[cm],
            &json!({"resourceVersion": "5"}),
            IncludeObject::Metadata,
        );
        assert_eq!(t["kind"], "Table");
        assert_eq!(t["columnDefinitions"][0]["format"], "name");
        assert_eq!(t["rows"][0]["cells"][0], "c");
        assert_eq!(t["rows"][0]["cells"][1], 2);
        assert_eq!(t["rows"][0]["object"]["kind"], "PartialObjectMetadata");
    }
}
