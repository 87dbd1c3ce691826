//! How objects are printed: server-side tables, YAML, JSON, names, JSONPath
//! templates and custom columns, each matching upstream's bytes.

pub mod custom_columns;
pub mod json;
pub mod jsonpath;
pub mod table;
pub mod tabwriter;
pub mod yaml;
