//! APIServices: a group/version served locally or by a Service. The name
//! is `<version>.<group>`; the version is required, the priorities are
//! positive, a Service reference has a name and a namespace.

use k8s_openapi::kube_aggregator::pkg::apis::apiregistration::v1::APIService;
use serde_json::{json, Value};

use crate::defaults::set_default;
use crate::printers::*;
use crate::registry::generic::Typed;
use crate::validation::rules::{at_least, require_nonempty};
use crate::validation::{invalid, FieldError};

/// The APIService strategy.
pub const STRATEGY: Typed<APIService> = Typed::new(COLUMNS, cells)
    .defaults(defaults)
    .rules(rules)
    .with_status();

fn defaults(obj: &mut Value) {
    if obj.pointer("/spec/service").is_some_and(Value::is_object) {
        set_default(obj, &["spec", "service", "port"], json!(443));
    }
}

fn rules(obj: &Value, errs: &mut Vec<FieldError>) {
    require_nonempty(obj, "/spec/version", errs);
    let name = s(obj, "/metadata/name");
    let group = s(obj, "/spec/group");
    // The core group's is `v1.`: the name is always version, dot, group.
    let expected = format!("{}.{group}", s(obj, "/spec/version"));
    if name != expected {
        errs.push(invalid(
            "metadata.name",
            &json!(name),
            &format!("must be `spec.version+\".\"+spec.group`: {expected:?}"),
        ));
    }
    require_nonempty(obj, "/spec/groupPriorityMinimum", errs);
    at_least(obj, "/spec/groupPriorityMinimum", 1, errs);
    require_nonempty(obj, "/spec/versionPriority", errs);
    at_least(obj, "/spec/versionPriority", 1, errs);
    if obj.pointer("/spec/service").is_some_and(Value::is_object) {
        require_nonempty(obj, "/spec/service/name", errs);
        require_nonempty(obj, "/spec/service/namespace", errs);
    }
}

#[rustfmt::skip]
const COLUMNS: &[Column] = &[
    NAME,
    col("Service", "string", 0, "The reference to the service that hosts this API endpoint."),
    col("Available", "string", 0, "Whether this service is available."),
    AGE,
];

fn cells(obj: &Value) -> Vec<Value> {
    let service = match obj.pointer("/spec/service").filter(|v| v.is_object()) {
        Some(svc) => format!("{}/{}", s(svc, "/namespace"), s(svc, "/name")),
        None => "Local".into(),
    };
    let available = match arr(obj, "/status/conditions")
        .iter()
        .find(|c| s(c, "/type") == "Available")
    {
        None => "Unknown".to_string(),
        Some(c) if s(c, "/status") != "True" && !s(c, "/reason").is_empty() => {
            format!("{} ({})", s(c, "/status"), s(c, "/reason"))
        }
        Some(c) => s(c, "/status").to_string(),
    };
    row(obj, vec![json!(service), json!(available)])
}
