//! Turning a server-side `meta.k8s.io/v1` Table into upstream's rows.
//!
//! The server chooses the columns (`columnDefinitions`) and fills the cells;
//! kubectl only hides priority>0 columns unless `-o wide`, prepends
//! NAMESPACE for `-A`, appends LABELS for `--show-labels`, and prefixes names
//! with `kind.group/` when several kinds are printed together.

use serde_json::Value;

/// Printing options shared by every table.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `-o wide`.
    pub wide: bool,
    /// `-A`: a NAMESPACE column first.
    pub with_namespace: bool,
    /// `--show-labels`.
    pub show_labels: bool,
    /// `pod` or `deployment.apps` when printing with kinds.
    pub kind_prefix: Option<String>,
    /// `-L key`: one column per label key.
    pub label_columns: Vec<String>,
}

/// The header row for a table.
pub fn header(table: &Value, o: &Options) -> Vec<String> {
    let mut row = Vec::new();
    if o.with_namespace {
        row.push("NAMESPACE".to_string());
    }
    for c in columns(table) {
        if o.wide || c.1 == 0 {
            row.push(c.0.to_uppercase());
        }
    }
    for l in &o.label_columns {
        row.push(l.rsplit('/').next().unwrap_or(l).to_uppercase());
    }
    if o.show_labels {
        row.push("LABELS".into());
    }
    row
}

fn columns(table: &Value) -> Vec<(String, i64)> {
    table["columnDefinitions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            (
                c["name"].as_str().unwrap_or("").to_string(),
                c["priority"].as_i64().unwrap_or(0),
            )
        })
        .collect()
}

/// The data rows of a table.
pub fn rows(table: &Value, o: &Options) -> Vec<Vec<String>> {
    let cols = columns(table);
    let mut out = Vec::new();
    for r in table["rows"].as_array().into_iter().flatten() {
        out.push(row(r, &cols, o));
    }
    out
}

/// One data row.
fn row(r: &Value, cols: &[(String, i64)], o: &Options) -> Vec<String> {
    let meta = &r["object"]["metadata"];
    let mut row = Vec::new();
    if o.with_namespace {
        row.push(meta["namespace"].as_str().unwrap_or("").to_string());
    }
    for (i, cell) in r["cells"].as_array().into_iter().flatten().enumerate() {
        let Some((_, prio)) = cols.get(i) else { break };
        if !o.wide && *prio != 0 {
            continue;
        }
        let mut s = cell_text(cell);
        if i == 0 {
            if let Some(k) = &o.kind_prefix {
                s = format!("{k}/{s}");
            }
        }
        row.push(s);
    }
    for l in &o.label_columns {
        row.push(
            meta["labels"][l.as_str()]
                .as_str()
                .unwrap_or("")
                .to_string(),
        );
    }
    if o.show_labels {
        row.push(labels_text(&meta["labels"]));
    }
    row
}

/// `a=b,c=d` (sorted) or `<none>`.
pub fn labels_text(labels: &Value) -> String {
    match labels.as_object() {
        Some(m) if !m.is_empty() => m
            .iter()
            .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
            .collect::<Vec<_>>()
            .join(","),
        _ => "<none>".into(),
    }
}

fn cell_text(cell: &Value) -> String {
    match cell {
        Value::String(s) => s.clone(),
        Value::Null => "<none>".into(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn hides_wide_columns_and_adds_namespace_and_labels() {
        let t = json!({
            "columnDefinitions": [{"name": "Name", "priority": 0}, {"name": "IP", "priority": 1}],
            "rows": [{"cells": ["a", "10.0.0.1"], "object": {"metadata": {"namespace": "ns", "labels": {"b": "2", "a": "1"}}}}]
        });
        let o = Options {
            with_namespace: true,
            show_labels: true,
            ..Default::default()
        };
        assert_eq!(header(&t, &o), vec!["NAMESPACE", "NAME", "LABELS"]);
        assert_eq!(rows(&t, &o), vec![vec!["ns", "a", "a=1,b=2"]]);
        let o = Options {
            wide: true,
            kind_prefix: Some("pod".into()),
            ..Default::default()
        };
        assert_eq!(rows(&t, &o), vec![vec!["pod/a", "10.0.0.1"]]);
    }
}
