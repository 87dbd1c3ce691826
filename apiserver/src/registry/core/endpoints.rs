//! Endpoints (`core/v1`): the addresses behind a Service, written by the
//! endpoints controller. Nothing special but the printer (the first three
//! `ip:port`, then `+ N more...`).

use k8s_openapi::api::core::v1::Endpoints;
use serde_json::{json, Value};

use crate::printers::*;
use crate::registry::generic::Typed;

/// The Endpoints strategy.
pub const STRATEGY: Typed<Endpoints> = Typed::new(COLUMNS, cells);

#[rustfmt::skip]
const COLUMNS: &[Column] = &[
    NAME,
    col("Endpoints", "string", 0, "The set of all endpoints is the union of all subsets."),
    AGE,
];

/// Upstream's `formatEndpoints`: the first three `ip:port`, then `+ N more...`.
fn format_endpoints(obj: &Value) -> String {
    const MAX: usize = 3;
    let subsets = arr(obj, "/subsets");
    if subsets.is_empty() {
        return "<none>".into();
    }
    let mut list: Vec<String> = Vec::new();
    let mut count = 0;
    for subset in subsets {
        let addresses = arr(subset, "/addresses");
        let ports = arr(subset, "/ports");
        if ports.is_empty() {
            // Headless services without ports.
            count += addresses.len();
            for a in addresses {
                if list.len() < MAX {
                    list.push(s(a, "/ip").to_string());
                }
            }
            continue;
        }
        for p in ports {
            count += addresses.len();
            for a in addresses {
                if list.len() < MAX {
                    list.push(join_host_port(s(a, "/ip"), n(p, "/port")));
                }
            }
        }
    }
    let shown = list.join(",");
    if count > MAX {
        format!("{shown} + {} more...", count - MAX)
    } else {
        shown
    }
}

fn cells(obj: &Value) -> Vec<Value> {
    let name = json!(s(obj, "/metadata/name"));
    vec![name, json!(format_endpoints(obj)), json!(age(obj))]
}
