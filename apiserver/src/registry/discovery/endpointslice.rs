//! EndpointSlices (`discovery.k8s.io/v1`): the scalable form of Endpoints
//! that the service proxy reads. The address type must be one of three.

use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::schemars::generate::SchemaGenerator;
use serde_json::{json, Value};

use crate::printers::*;
use crate::registry::strategy::{normalize, schema, Strategy};
use crate::validation::{not_supported, FieldError};

/// The EndpointSlice strategy.
pub struct EndpointSliceStrategy;

impl Strategy for EndpointSliceStrategy {
    fn normalize(&self, obj: &mut Value) -> Result<(), String> {
        normalize::<EndpointSlice>(obj)
    }

    fn schema(&self, gen: &mut SchemaGenerator) -> Option<String> {
        schema::<EndpointSlice>(gen)
    }

    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        let mut errs = Vec::new();
        let at = obj.get("addressType").cloned().unwrap_or(Value::Null);
        if !matches!(at.as_str(), Some("IPv4" | "IPv6" | "FQDN")) {
            errs.push(not_supported("addressType", &at, &["IPv4", "IPv6", "FQDN"]));
        }
        errs
    }

    fn columns(&self) -> &'static [Column] {
        COLUMNS
    }

    fn cells(&self, obj: &Value) -> Vec<Value> {
        cells(obj)
    }
}

#[rustfmt::skip]
const COLUMNS: &[Column] = &[
    NAME,
    col("AddressType", "string", 0, "addressType specifies the type of address carried by this EndpointSlice."),
    col("Ports", "string", 0, "ports specifies the list of network ports exposed by each endpoint in this slice."),
    col("Endpoints", "string", 0, "endpoints is a list of unique endpoints in this slice."),
    AGE,
];

fn cells(obj: &Value) -> Vec<Value> {
    const MAX: usize = 3;
    let ports_all = arr(obj, "/ports");
    let ports: Vec<String> = ports_all
        .iter()
        .take(MAX)
        .map(|p| match p.get("port").and_then(Value::as_i64) {
            Some(port) => port.to_string(),
            None => or(s(p, "/name"), "*").to_string(),
        })
        .collect();
    let addresses: Vec<&str> = arr(obj, "/endpoints")
        .iter()
        .flat_map(|e| arr(e, "/addresses").iter().filter_map(Value::as_str))
        .collect();
    let shown: Vec<String> = addresses.iter().take(MAX).map(|a| a.to_string()).collect();
    vec![
        json!(s(obj, "/metadata/name")),
        json!(s(obj, "/addressType")),
        json!(list_with_more(&ports, ports_all.len(), MAX)),
        json!(list_with_more(&shown, addresses.len(), MAX)),
        json!(age(obj)),
    ]
}
