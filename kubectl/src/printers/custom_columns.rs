//! `-o custom-columns=HEADER:.path,...`: one column per JSONPath, `<none>`
//! where a path finds nothing, aligned like every other table.

use serde_json::Value;

use super::jsonpath::{relaxed, text, Template};
use super::tabwriter::align;
use crate::error::{Error, Result};

/// Parsed column specs.
pub struct Columns {
    cols: Vec<(String, Template)>,
}

impl Columns {
    /// Parses `NAME:.metadata.name,IMAGE:.spec.containers[*].image`.
    pub fn parse(spec: &str) -> Result<Columns> {
        let mut cols = Vec::new();
        for part in spec.split(',') {
            let (h, p) = part.split_once(':').ok_or_else(|| {
                Error::usage(format!(
                    "unexpected custom-columns spec: {part}, expected <header>:<json-path-expr>"
                ))
            })?;
            cols.push((h.to_string(), Template::parse(&relaxed(p))?));
        }
        Ok(Columns { cols })
    }

    /// Renders the header and one row per object.
    pub fn render(&self, objects: &[Value], header: bool) -> String {
        let mut rows = Vec::new();
        if header {
            rows.push(self.cols.iter().map(|(h, _)| h.clone()).collect());
        }
        for o in objects {
            rows.push(
                self.cols
                    .iter()
                    .map(|(_, t)| {
                        let vals = t.values(o);
                        if vals.is_empty() {
                            "<none>".to_string()
                        } else {
                            vals.iter().map(text).collect::<Vec<_>>().join(",")
                        }
                    })
                    .collect(),
            );
        }
        align(&rows)
    }
}
