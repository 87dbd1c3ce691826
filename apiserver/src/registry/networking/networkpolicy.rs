//! NetworkPolicies: which traffic may reach and leave the selected pods.
//! Upstream's defaults: ports are TCP, and the policy types are `Ingress`
//! plus `Egress` when egress rules are given; types and protocols must be
//! known ones and an IP block needs a CIDR.

use k8s_openapi::api::networking::v1::NetworkPolicy;
use serde_json::{json, Value};

use crate::printers::*;
use crate::registry::generic::Typed;
use std::net::IpAddr;

use apimachinery::labels::Selector;

use crate::validation::rules::{field_path, items, one_of, port_name_problems};
use crate::validation::{forbidden, invalid, required, required_because, FieldError};

/// The NetworkPolicy strategy.
pub const STRATEGY: Typed<NetworkPolicy> =
    Typed::new(COLUMNS, cells).defaults(defaults).rules(rules);

const DIRECTIONS: &[(&str, &str)] = &[("ingress", "from"), ("egress", "to")];

fn defaults(obj: &mut Value) {
    let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    for (direction, _) in DIRECTIONS {
        for rule in spec
            .get_mut(*direction)
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            for port in rule
                .get_mut("ports")
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten()
            {
                if let Some(p) = port.as_object_mut() {
                    p.entry("protocol").or_insert_with(|| json!("TCP"));
                }
            }
        }
    }
    if spec
        .get("policyTypes")
        .is_none_or(|t| t.as_array().is_none_or(Vec::is_empty))
    {
        let mut types = vec![json!("Ingress")];
        if spec
            .get("egress")
            .and_then(Value::as_array)
            .is_some_and(|e| !e.is_empty())
        {
            types.push(json!("Egress"));
        }
        spec.insert("policyTypes".into(), Value::Array(types));
    }
}

fn rules(obj: &Value, errs: &mut Vec<FieldError>) {
    selector(obj, "/spec/podSelector", errs);
    let types = items(obj, "/spec/policyTypes");
    if types.len() > 2 {
        errs.push(invalid(
            "spec.policyTypes",
            obj.pointer("/spec/policyTypes").unwrap_or(&Value::Null),
            "may not specify more than two policyTypes",
        ));
        return;
    }
    for (p, _) in types {
        one_of(obj, &p, &["Ingress", "Egress"], errs);
    }
    for (direction, peers) in DIRECTIONS {
        for (rule, _) in items(obj, &format!("/spec/{direction}")) {
            for (port, v) in items(obj, &format!("{rule}/ports")) {
                one_of(
                    obj,
                    &format!("{port}/protocol"),
                    &["TCP", "UDP", "SCTP"],
                    errs,
                );
                port_rules(&port, v, errs);
            }
            for (peer, v) in items(obj, &format!("{rule}/{peers}")) {
                peer_rules(obj, &peer, v, errs);
            }
        }
    }
}

/// A label selector at `pointer`, when set, must parse.
fn selector(obj: &Value, pointer: &str, errs: &mut Vec<FieldError>) {
    if let Some(sel) = obj.pointer(pointer).filter(|v| !v.is_null()) {
        if let Err(e) = Selector::from_label_selector_json(sel) {
            errs.push(invalid(field_path(pointer), sel, &e.to_string()));
        }
    }
}

/// A port: 1-65535 or a port name; `endPort` only after a numeric `port`
/// and not below it.
fn port_rules(pointer: &str, port: &Value, errs: &mut Vec<FieldError>) {
    let path = field_path(pointer);
    let end = port.get("endPort").filter(|v| !v.is_null());
    match port.get("port").filter(|v| !v.is_null()) {
        Some(Value::String(name)) => {
            if let Some(end) = end {
                errs.push(invalid(
                    format!("{path}.endPort"),
                    end,
                    "may not be specified when `port` is non-numeric",
                ));
            }
            for problem in port_name_problems(name) {
                errs.push(invalid(format!("{path}.port"), &json!(name), problem));
            }
        }
        Some(p) => {
            let n = p.as_i64().unwrap_or(0);
            if !(1..=65535).contains(&n) {
                errs.push(invalid(format!("{path}.port"), p, IN_PORT_RANGE));
            }
            if let Some(end) = end {
                let e = end.as_i64().unwrap_or(0);
                if e < n {
                    errs.push(invalid(
                        format!("{path}.endPort"),
                        p,
                        "must be greater than or equal to `port`",
                    ));
                }
                if !(1..=65535).contains(&e) {
                    errs.push(invalid(format!("{path}.endPort"), end, IN_PORT_RANGE));
                }
            }
        }
        None => {
            if let Some(end) = end {
                errs.push(invalid(
                    format!("{path}.endPort"),
                    end,
                    "may not be specified when `port` is not specified",
                ));
            }
        }
    }
}

const IN_PORT_RANGE: &str = "must be between 1 and 65535, inclusive";

/// A peer: exactly one of an IP block or selectors (pod, namespace or
/// both); a block is a CIDR and exceptions strictly inside it.
fn peer_rules(obj: &Value, pointer: &str, peer: &Value, errs: &mut Vec<FieldError>) {
    let set = |k: &str| peer.get(k).is_some_and(|v| !v.is_null());
    let block = set("ipBlock");
    let count = ["podSelector", "namespaceSelector", "ipBlock"]
        .into_iter()
        .filter(|k| set(k))
        .count();
    selector(obj, &format!("{pointer}/podSelector"), errs);
    selector(obj, &format!("{pointer}/namespaceSelector"), errs);
    if block {
        block_rules(obj, &format!("{pointer}/ipBlock"), errs);
    }
    if count == 0 {
        errs.push(required_because(field_path(pointer), "must specify a peer"));
    } else if count > 1 && block {
        errs.push(forbidden(
            field_path(pointer),
            "may not specify both ipBlock and another peer",
        ));
    }
}

fn block_rules(obj: &Value, pointer: &str, errs: &mut Vec<FieldError>) {
    let cidr_ptr = format!("{pointer}/cidr");
    let cidr = obj.pointer(&cidr_ptr).and_then(Value::as_str).unwrap_or("");
    if cidr.is_empty() {
        errs.push(required(field_path(&cidr_ptr)));
        return;
    }
    let Some(net) = parse_cidr(cidr) else {
        errs.push(invalid(field_path(&cidr_ptr), &json!(cidr), BAD_CIDR));
        return;
    };
    for (p, v) in items(obj, &format!("{pointer}/except")) {
        let text = v.as_str().unwrap_or("");
        match parse_cidr(text) {
            None => errs.push(invalid(field_path(&p), v, BAD_CIDR)),
            Some(except) => {
                if !(net.contains(&except.0) && net.1 < except.1) {
                    errs.push(invalid(
                        field_path(&p),
                        v,
                        "must be a strict subset of `cidr`",
                    ));
                }
            }
        }
    }
}

const BAD_CIDR: &str = "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)";

/// A CIDR as the legacy fields accept it (host bits allowed): its network
/// address and prefix length.
fn parse_cidr(text: &str) -> Option<Network> {
    let (addr, prefix) = text.split_once('/')?;
    let addr: IpAddr = addr.parse().ok()?;
    let prefix: u8 = prefix.parse().ok()?;
    let bits = if addr.is_ipv4() { 32 } else { 128 };
    (prefix <= bits).then(|| Network(mask(addr, prefix), prefix))
}

/// A network: its address (host bits cleared) and prefix length.
struct Network(IpAddr, u8);

impl Network {
    fn contains(&self, ip: &IpAddr) -> bool {
        ip.is_ipv4() == self.0.is_ipv4() && mask(*ip, self.1) == self.0
    }
}

fn mask(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(a) => {
            let m = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4((u32::from(a) & m).into())
        }
        IpAddr::V6(a) => {
            let m = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6((u128::from(a) & m).into())
        }
    }
}

#[rustfmt::skip]
const COLUMNS: &[Column] = &[
    NAME,
    col("Pod-Selector", "string", 0, "podSelector selects the pods to which this NetworkPolicy object applies."),
    AGE,
];

fn cells(obj: &Value) -> Vec<Value> {
    let selector = format_label_selector(obj.pointer("/spec/podSelector"));
    row(obj, vec![json!(selector)])
}
