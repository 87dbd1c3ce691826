//! NetworkPolicies: which traffic may reach and leave the selected pods.
//! Upstream's defaults: ports are TCP, and the policy types are `Ingress`
//! plus `Egress` when egress rules are given; types and protocols must be
//! known ones and an IP block needs a CIDR.

use k8s_openapi::api::networking::v1::NetworkPolicy;
use serde_json::{json, Value};

use crate::printers::*;
use crate::registry::generic::Typed;
use crate::validation::rules::{items, one_of, require_nonempty};
use crate::validation::FieldError;

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
    for (p, _) in items(obj, "/spec/policyTypes") {
        one_of(obj, &p, &["Ingress", "Egress"], errs);
    }
    for (direction, peers) in DIRECTIONS {
        for (rule, _) in items(obj, &format!("/spec/{direction}")) {
            for (port, _) in items(obj, &format!("{rule}/ports")) {
                one_of(
                    obj,
                    &format!("{port}/protocol"),
                    &["TCP", "UDP", "SCTP"],
                    errs,
                );
            }
            for (peer, v) in items(obj, &format!("{rule}/{peers}")) {
                if v.get("ipBlock").is_some_and(|b| !b.is_null()) {
                    require_nonempty(obj, &format!("{peer}/ipBlock/cidr"), errs);
                }
            }
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
