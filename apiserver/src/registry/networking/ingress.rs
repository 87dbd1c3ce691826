//! Ingresses: HTTP routes from hosts and paths to Services, validated as
//! upstream (with its messages): hosts are DNS subdomains, or wildcards
//! (`*.example.com`), never IP addresses; every path has a path type, and
//! `Exact`/`Prefix` paths are absolute without `//`, `/./`, `/../` or an
//! encoded `/`; every backend names either a Service (a DNS label, with a
//! port name or number) or a resource; an Ingress without rules needs a
//! default backend; TLS hosts and Secret names and the class name are DNS
//! subdomains. A new Ingress naming no class gets the default one
//! ([`crate::admission::ingress_class`]).

use k8s_openapi::api::networking::v1::Ingress;
use serde_json::{json, Value};

use crate::printers::*;
use crate::registry::generic::Typed;
use crate::validation::rules::{field_path, items, port_name_problems};
use crate::validation::{
    invalid, name_problems, not_supported, required_because, FieldError, NameRule,
};

/// The Ingress strategy.
pub const STRATEGY: Typed<Ingress> = Typed::new(COLUMNS, cells)
    .rules(rules)
    .admits(crate::admission::ingress_class::admit_ingress)
    .with_status();

/// Path parts upstream refuses in `Exact` and `Prefix` paths.
const INVALID_PATH_SEQUENCES: &[&str] = &["//", "/./", "/../", "%2f", "%2F"];
/// Path endings upstream refuses in `Exact` and `Prefix` paths.
const INVALID_PATH_SUFFIXES: &[&str] = &["/..", "/."];

const WILDCARD_MSG: &str = "a wildcard DNS-1123 subdomain must start with '*.', followed by a valid DNS subdomain, which must consist of lower case alphanumeric characters, '-' or '.' and end with an alphanumeric character (e.g. '*.example.com', regex used for validation is '\\*\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";

fn rules(obj: &Value, errs: &mut Vec<FieldError>) {
    let rules = items(obj, "/spec/rules");
    let default_backend = obj
        .pointer("/spec/defaultBackend")
        .is_some_and(|b| !b.is_null());
    if rules.is_empty() && !default_backend {
        errs.push(invalid(
            "spec",
            &Value::Null,
            "either `defaultBackend` or `rules` must be specified",
        ));
    }
    if default_backend {
        backend(obj, "/spec/defaultBackend", errs);
    }
    for (rule, entry) in rules {
        let host = s(entry, "/host");
        if !host.is_empty() {
            host_problems(&format!("{rule}/host"), host, true, errs);
        }
        if entry.get("http").is_some_and(|h| !h.is_null()) {
            let paths = items(obj, &format!("{rule}/http/paths"));
            if paths.is_empty() {
                errs.push(required_because(
                    field_path(&format!("{rule}/http/paths")),
                    "",
                ));
            }
            for (path, entry) in paths {
                http_path(obj, &path, entry, errs);
            }
        }
    }
    for (tls, entry) in items(obj, "/spec/tls") {
        for (i, host) in arr(entry, "/hosts").iter().enumerate() {
            let host = host.as_str().unwrap_or_default();
            host_problems(&format!("{tls}/hosts/{i}"), host, false, errs);
        }
        let secret = s(entry, "/secretName");
        if !secret.is_empty() {
            for p in name_problems(NameRule::Dns1123Subdomain, secret) {
                errs.push(invalid(
                    field_path(&format!("{tls}/secretName")),
                    &json!(secret),
                    &p,
                ));
            }
        }
    }
    if let Some(class) = obj
        .pointer("/spec/ingressClassName")
        .and_then(Value::as_str)
    {
        for p in name_problems(NameRule::Dns1123Subdomain, class) {
            errs.push(invalid("spec.ingressClassName", &json!(class), &p));
        }
    }
}

/// A rule's or TLS entry's host: a DNS subdomain or a one-label wildcard
/// (`*.example.com`); a rule's host may not be an IP address.
fn host_problems(pointer: &str, host: &str, rule: bool, errs: &mut Vec<FieldError>) {
    let field = field_path(pointer);
    if rule && host.parse::<std::net::IpAddr>().is_ok() {
        errs.push(invalid(
            &field,
            &json!(host),
            "must be a DNS name, not an IP address",
        ));
    }
    if host.contains('*') {
        if host.len() > 253 {
            errs.push(invalid(
                &field,
                &json!(host),
                "must be no more than 253 characters",
            ));
        }
        let ok = host
            .strip_prefix("*.")
            .is_some_and(crate::validation::is_dns1123_subdomain);
        if !ok {
            errs.push(invalid(&field, &json!(host), WILDCARD_MSG));
        }
    } else {
        for p in name_problems(NameRule::Dns1123Subdomain, host) {
            errs.push(invalid(&field, &json!(host), &p));
        }
    }
}

/// One `http.paths[]` entry: its path type and path, then its backend.
fn http_path(obj: &Value, pointer: &str, entry: &Value, errs: &mut Vec<FieldError>) {
    let kind_field = field_path(&format!("{pointer}/pathType"));
    // An absent pathType reads as "" once the typed object is written
    // back (the field is a plain string there).
    let Some(kind) = entry
        .get("pathType")
        .filter(|k| !k.is_null() && k.as_str() != Some(""))
    else {
        errs.push(required_because(&kind_field, "pathType must be specified"));
        return;
    };
    let path = s(entry, "/path");
    let path_field = field_path(&format!("{pointer}/path"));
    match kind.as_str() {
        Some("Exact" | "Prefix") => {
            if !path.starts_with('/') {
                errs.push(invalid(
                    &path_field,
                    &json!(path),
                    "must be an absolute path",
                ));
            }
            for seq in INVALID_PATH_SEQUENCES.iter().filter(|q| path.contains(**q)) {
                errs.push(invalid(
                    &path_field,
                    &json!(path),
                    &format!("must not contain '{seq}'"),
                ));
            }
            for suffix in INVALID_PATH_SUFFIXES.iter().filter(|q| path.ends_with(**q)) {
                errs.push(invalid(
                    &path_field,
                    &json!(path),
                    &format!("cannot end with '{suffix}'"),
                ));
            }
        }
        Some("ImplementationSpecific") => {
            if !path.is_empty() && !path.starts_with('/') {
                errs.push(invalid(
                    &path_field,
                    &json!(path),
                    "must be an absolute path",
                ));
            }
        }
        _ => errs.push(not_supported(
            kind_field,
            kind,
            &["Exact", "ImplementationSpecific", "Prefix"],
        )),
    }
    backend(obj, &format!("{pointer}/backend"), errs);
}

/// An `IngressBackend`: exactly one of service and resource; a service
/// has a DNS-label name and a port name or number, not both.
fn backend(obj: &Value, pointer: &str, errs: &mut Vec<FieldError>) {
    let b = obj.pointer(pointer).unwrap_or(&Value::Null);
    let field = field_path(pointer);
    let set = |k: &str| b.get(k).is_some_and(|v| !v.is_null());
    match (set("service"), set("resource")) {
        (true, true) => errs.push(invalid(
            &field,
            &json!(""),
            "cannot set both resource and service backends",
        )),
        (false, false) => errs.push(invalid(
            &field,
            &json!(""),
            "resource or service backend is required",
        )),
        (false, true) => {
            for key in ["kind", "name"] {
                if s(b, &format!("/resource/{key}")).is_empty() {
                    errs.push(required_because(format!("{field}.resource.{key}"), ""));
                }
            }
        }
        (true, false) => {
            let name = s(b, "/service/name");
            if name.is_empty() {
                errs.push(required_because(format!("{field}.service.name"), ""));
            }
            for p in name_problems(NameRule::Dns1123Label, name)
                .into_iter()
                .filter(|_| !name.is_empty())
            {
                errs.push(invalid(format!("{field}.service.name"), &json!(name), &p));
            }
            let port_name = s(b, "/service/port/name");
            let number = n(b, "/service/port/number");
            match (!port_name.is_empty(), number != 0) {
                (true, true) => errs.push(invalid(
                    &field,
                    &json!(""),
                    "cannot set both port name & port number",
                )),
                (true, false) => {
                    for p in port_name_problems(port_name) {
                        errs.push(invalid(
                            format!("{field}.service.port.name"),
                            &json!(port_name),
                            p,
                        ));
                    }
                }
                (false, true) => {
                    if !(1..=65535).contains(&number) {
                        errs.push(invalid(
                            format!("{field}.service.port.number"),
                            &json!(number),
                            "must be between 1 and 65535, inclusive",
                        ));
                    }
                }
                (false, false) => {
                    errs.push(required_because(&field, "port name or number is required"))
                }
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(spec: Value) -> Vec<String> {
        let mut errs = Vec::new();
        rules(&json!({"metadata": {"name": "i"}, "spec": spec}), &mut errs);
        errs.iter().map(ToString::to_string).collect()
    }

    fn svc(name: &str, port: Value) -> Value {
        json!({"service": {"name": name, "port": port}})
    }

    #[test]
    fn a_sound_ingress_passes() {
        let spec = json!({
            "ingressClassName": "minik8s",
            "tls": [{"hosts": ["a.example", "*.b.example"], "secretName": "a-tls"}],
            "rules": [
                {"host": "a.example", "http": {"paths": [
                    {"path": "/", "pathType": "Prefix", "backend": svc("web", json!({"number": 80}))},
                    {"pathType": "ImplementationSpecific", "backend": svc("web", json!({"name": "http"}))},
                ]}},
                {"host": "*.b.example", "http": {"paths": [
                    {"path": "/x", "pathType": "Exact", "backend": svc("9web", json!({"number": 8080}))},
                ]}},
            ],
        });
        assert_eq!(problems(spec), Vec::<String>::new());
    }

    #[test]
    fn malformed_ingresses_get_upstreams_messages() {
        assert_eq!(
            problems(json!({})),
            ["spec: Invalid value: null: either `defaultBackend` or `rules` must be specified"]
        );
        let errs = problems(json!({"rules": [
            {"host": "10.0.0.1", "http": {"paths": [
                {"path": "/a//b", "pathType": "Prefix", "backend": svc("Web", json!({}))},
                {"path": "x", "pathType": "Exact", "backend": {}},
                {"path": "/", "backend": svc("web", json!({"number": 80}))},
                {"path": "/", "pathType": "Regex", "backend": svc("web", json!({"name": "http", "number": 80}))},
                {"path": "/a/.", "pathType": "Exact", "backend": svc("web", json!({"number": 70000}))},
            ]}},
            {"host": "*.*.example", "http": {"paths": []}},
        ], "tls": [{"hosts": ["Bad_Host"], "secretName": "Bad"}]}));
        let want = [
            "spec.rules[0].host: Invalid value: \"10.0.0.1\": must be a DNS name, not an IP address",
            "spec.rules[0].http.paths[0].path: Invalid value: \"/a//b\": must not contain '//'",
            "spec.rules[0].http.paths[0].backend.service.name: Invalid value: \"Web\": a lowercase RFC 1123 label",
            "spec.rules[0].http.paths[0].backend: Required value: port name or number is required",
            "spec.rules[0].http.paths[1].path: Invalid value: \"x\": must be an absolute path",
            "spec.rules[0].http.paths[1].backend: Invalid value: \"\": resource or service backend is required",
            "spec.rules[0].http.paths[2].pathType: Required value: pathType must be specified",
            "spec.rules[0].http.paths[3].pathType: Unsupported value: \"Regex\": supported values: \"Exact\", \"ImplementationSpecific\", \"Prefix\"",
            "spec.rules[0].http.paths[3].backend: Invalid value: \"\": cannot set both port name & port number",
            "spec.rules[0].http.paths[4].path: Invalid value: \"/a/.\": cannot end with '/.'",
            "spec.rules[0].http.paths[4].backend.service.port.number: Invalid value: 70000: must be between 1 and 65535, inclusive",
            "spec.rules[1].host: Invalid value: \"*.*.example\": a wildcard DNS-1123 subdomain must start with '*.'",
            "spec.rules[1].http.paths: Required value",
            "spec.tls[0].hosts[0]: Invalid value: \"Bad_Host\": a lowercase RFC 1123 subdomain",
            "spec.tls[0].secretName: Invalid value: \"Bad\": a lowercase RFC 1123 subdomain",
        ];
        assert_eq!(errs.len(), want.len(), "{errs:#?}");
        for (got, want) in errs.iter().zip(want) {
            assert!(got.starts_with(want), "{got}\n  should start with\n{want}");
        }
    }
}
