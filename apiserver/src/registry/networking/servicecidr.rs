//! ServiceCIDRs: the ranges cluster IPs are allocated from. One or two
//! CIDRs (one per IP family), each a valid network; existing ranges never
//! change (a single-stack range may gain its second family).

use k8s_openapi::api::networking::v1::ServiceCIDR;
use serde_json::{json, Value};

use crate::printers::*;
use crate::registry::generic::Typed;
use crate::validation::rules::{field_path, items, require_nonempty};
use crate::validation::{immutable, invalid, FieldError};

/// The ServiceCIDR strategy.
pub const STRATEGY: Typed<ServiceCIDR> = Typed::new(COLUMNS, cells)
    .status_keeps_metadata()
    .rules(rules)
    .update_rules(update_rules)
    .with_status();

fn rules(obj: &Value, errs: &mut Vec<FieldError>) {
    require_nonempty(obj, "/spec/cidrs", errs);
    let cidrs = items(obj, "/spec/cidrs");
    if cidrs.len() > 2 {
        errs.push(invalid("spec.cidrs", &obj["spec"]["cidrs"], "may specify no more than one IP for each IP family, i.e 192.168.0.0/24 and 2001:db8::/64"));
    }
    for (p, cidr) in cidrs {
        let text = cidr.as_str().unwrap_or("");
        if !is_cidr(text) {
            errs.push(invalid(
                field_path(&p),
                cidr,
                "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)",
            ));
        }
    }
}

/// Whether `text` is `address/prefix` with a prefix that fits the family.
pub fn is_cidr(text: &str) -> bool {
    let Some((addr, bits)) = text.split_once('/') else {
        return false;
    };
    let Ok(bits) = bits.parse::<u8>() else {
        return false;
    };
    match addr.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(_)) => bits <= 32,
        Ok(std::net::IpAddr::V6(_)) => bits <= 128,
        Err(_) => false,
    }
}

fn update_rules(new: &Value, old: &Value, errs: &mut Vec<FieldError>) {
    let before = arr(old, "/spec/cidrs");
    let after = arr(new, "/spec/cidrs");
    let kept = after.len() >= before.len() && before.iter().zip(after).all(|(a, b)| a == b);
    if !kept {
        errs.push(immutable("spec.cidrs", &json!(after)));
    }
}

#[rustfmt::skip]
const COLUMNS: &[Column] = &[
    NAME,
    col("CIDRs", "string", 0, "CIDRs defines the IP blocks in CIDR notation (e.g. \"192.168.0.0/24\" or \"2001:db8::/64\") from which to assign service cluster IPs."),
    AGE,
];

fn cells(obj: &Value) -> Vec<Value> {
    let cidrs: Vec<&str> = arr(obj, "/spec/cidrs")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    row(obj, vec![json!(cidrs.join(","))])
}
