//! Ingresses: HTTP routes from hosts and paths to Services. Every path
//! needs a path type (`Exact` and `Prefix` paths are absolute); every
//! backend names either a Service (with a port name or number) or a
//! resource; an Ingress without rules needs a default backend.

use k8s_openapi::api::networking::v1::Ingress;
use serde_json::{json, Value};

use crate::printers::*;
use crate::registry::generic::Typed;
use crate::validation::rules::{field_path, items, one_of, require, require_nonempty};
use crate::validation::{invalid, FieldError};

/// The Ingress strategy.
pub const STRATEGY: Typed<Ingress> = Typed::new(COLUMNS, cells).rules(rules).with_status();

fn rules(obj: &Value, errs: &mut Vec<FieldError>) {
    let rules = items(obj, "/spec/rules");
    let default_backend = obj
        .pointer("/spec/defaultBackend")
        .is_some_and(|b| !b.is_null());
    if rules.is_empty() && !default_backend {
        errs.push(invalid(
            "spec",
            &obj["spec"],
            "either `defaultBackend` or `rules` must be specified",
        ));
    }
    if default_backend {
        backend(obj, "/spec/defaultBackend", errs);
    }
    for (rule, _) in rules {
        for (path, entry) in items(obj, &format!("{rule}/http/paths")) {
            require_nonempty(obj, &format!("{path}/pathType"), errs);
            one_of(
                obj,
                &format!("{path}/pathType"),
                &["Exact", "Prefix", "ImplementationSpecific"],
                errs,
            );
            let kind = s(entry, "/pathType");
            let value = s(entry, "/path");
            if (kind == "Exact" || kind == "Prefix") && !value.starts_with('/') {
                errs.push(invalid(
                    field_path(&format!("{path}/path")),
                    &json!(value),
                    "must be an absolute path",
                ));
            }
            require(obj, &format!("{path}/backend"), errs);
            backend(obj, &format!("{path}/backend"), errs);
        }
    }
}

/// An `IngressBackend`: exactly one of service and resource; a service
/// names a port by name or number, not both.
fn backend(obj: &Value, pointer: &str, errs: &mut Vec<FieldError>) {
    let Some(b) = obj.pointer(pointer).filter(|b| !b.is_null()) else {
        return;
    };
    let service = b.get("service").is_some_and(|v| !v.is_null());
    let resource = b.get("resource").is_some_and(|v| !v.is_null());
    if service == resource {
        errs.push(invalid(
            field_path(pointer),
            b,
            "exactly one of `service` or `resource` must be specified",
        ));
    }
    if service {
        require_nonempty(obj, &format!("{pointer}/service/name"), errs);
        let named = !s(b, "/service/port/name").is_empty();
        let numbered = n(b, "/service/port/number") != 0;
        if named == numbered {
            errs.push(invalid(
                field_path(&format!("{pointer}/service/port")),
                &b["service"]["port"],
                "exactly one of `name` or `number` must be specified",
            ));
        }
    }
}

#[rustfmt::skip]
const COLUMNS: &[Column] = &[
    NAME,
    col("Class", "string", 0, "The name of the IngressClass resource that should be used for additional configuration"),
    col("Hosts", "string", 0, "Hosts that incoming requests are matched against before the ingress rule"),
    col("Address", "string", 0, "Address is a list containing ingress points for the load-balancer"),
    col("Ports", "string", 0, "Ports of TLS configurations that open"),
    AGE,
];

fn cells(obj: &Value) -> Vec<Value> {
    let rules = arr(obj, "/spec/rules");
    let hosts: Vec<String> = rules
        .iter()
        .map(|r| s(r, "/host"))
        .filter(|h| !h.is_empty())
        .take(3)
        .map(String::from)
        .collect();
    let hosts = if hosts.is_empty() {
        "*".to_string()
    } else if rules.len() > 3 {
        format!("{} + {} more...", hosts.join(","), rules.len() - 3)
    } else {
        hosts.join(",")
    };
    let mut addresses: Vec<String> = arr(obj, "/status/loadBalancer/ingress")
        .iter()
        .map(|i| or(s(i, "/ip"), s(i, "/hostname")).to_string())
        .filter(|a| !a.is_empty())
        .collect();
    addresses.sort();
    addresses.dedup();
    let ports = if arr(obj, "/spec/tls").is_empty() {
        "80"
    } else {
        "80, 443"
    };
    row(
        obj,
        vec![
            json!(or(s(obj, "/spec/ingressClassName"), "<none>")),
            json!(hosts),
            json!(addresses.join(",")),
            json!(ports),
        ],
    )
}
