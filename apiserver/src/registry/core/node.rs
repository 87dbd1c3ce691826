//! Nodes (`core/v1`): the machines pods run on, registered by their kubelets.
//!
//! As upstream, a node's `podCIDR` is handed out once: pods' addresses and
//! the other nodes' routes depend on it, so an update may set it but never
//! change it. The printer shows STATUS (Ready, SchedulingDisabled), ROLES,
//! VERSION and, wide, the addresses and OS details.

use k8s_openapi::api::core::v1::Node;
use k8s_openapi::schemars::generate::SchemaGenerator;
use serde_json::{json, Value};

use crate::printers::*;
use crate::registry::strategy::{normalize, schema, Strategy};
use crate::validation::{forbidden, FieldError};

/// The Node strategy.
pub struct NodeStrategy;

impl Strategy for NodeStrategy {
    fn connects(&self, sub: apimachinery::resources::Subresource) -> bool {
        sub == apimachinery::resources::Subresource::Proxy
    }

    fn connect<'a>(
        &'a self,
        server: &'a crate::ApiServer,
        info: &'a crate::request::RequestInfo,
        req: axum::extract::Request,
    ) -> futures::future::BoxFuture<'a, Result<axum::response::Response, crate::errors::ApiError>>
    {
        Box::pin(crate::registry::core::pod::proxy::node_proxy(
            server, info, req,
        ))
    }

    fn normalize(&self, obj: &mut Value) -> Result<(), String> {
        normalize::<Node>(obj)
    }

    fn schema(&self, gen: &mut SchemaGenerator) -> Option<String> {
        schema::<Node>(gen)
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        let mut errs = Vec::new();
        for (pointer, field) in [
            ("/spec/podCIDR", "spec.podCIDR"),
            ("/spec/podCIDRs", "spec.podCIDRs"),
        ] {
            let was_set = match old.pointer(pointer) {
                Some(Value::String(s)) => !s.is_empty(),
                Some(Value::Array(a)) => !a.is_empty(),
                _ => false,
            };
            if was_set && new.pointer(pointer) != old.pointer(pointer) {
                errs.push(forbidden(
                    field,
                    &format!("node updates may not change {field} except from \"\" to valid"),
                ));
            }
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
    col("Status", "string", 0, "The status of the node"),
    col("Roles", "string", 0, "The roles of the node"),
    AGE,
    col("Version", "string", 0, "Kubelet Version reported by the node."),
    col("Internal-IP", "string", 1, "List of addresses reachable to the node."),
    col("External-IP", "string", 1, "List of addresses reachable to the node."),
    col("OS-Image", "string", 1, "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy))."),
    col("Kernel-Version", "string", 1, "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64)."),
    col("Container-Runtime", "string", 1, "ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2)."),
];

fn cells(node: &Value) -> Vec<Value> {
    // Only the Ready condition is summarised, as upstream.
    let mut status: Vec<&str> = Vec::new();
    if let Some(c) = arr(node, "/status/conditions")
        .iter()
        .rev()
        .find(|c| s(c, "/type") == "Ready")
    {
        status.push(if s(c, "/status") == "True" {
            "Ready"
        } else {
            "NotReady"
        });
    }
    if status.is_empty() {
        status.push("Unknown");
    }
    if b(node, "/spec/unschedulable") {
        status.push("SchedulingDisabled");
    }
    let mut roles: Vec<String> = node
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .map(|labels| {
            labels
                .iter()
                .filter_map(|(k, v)| match k.strip_prefix("node-role.kubernetes.io/") {
                    Some(role) if !role.is_empty() => Some(role.to_string()),
                    Some(_) => None,
                    None if k == "kubernetes.io/role" => {
                        v.as_str().filter(|v| !v.is_empty()).map(str::to_string)
                    }
                    None => None,
                })
                .collect()
        })
        .unwrap_or_default();
    roles.sort();
    roles.dedup();
    let address = |t: &str| -> String {
        arr(node, "/status/addresses")
            .iter()
            .find(|a| s(a, "/type") == t)
            .map(|a| s(a, "/address").to_string())
            .unwrap_or_else(|| "<none>".into())
    };
    let info = |field: &str| or(s(node, &format!("/status/nodeInfo/{field}")), "<unknown>");
    vec![
        json!(s(node, "/metadata/name")),
        json!(status.join(",")),
        json!(if roles.is_empty() {
            "<none>".to_string()
        } else {
            roles.join(",")
        }),
        json!(age(node)),
        json!(s(node, "/status/nodeInfo/kubeletVersion")),
        json!(address("InternalIP")),
        json!(address("ExternalIP")),
        json!(info("osImage")),
        json!(info("kernelVersion")),
        json!(info("containerRuntimeVersion")),
    ]
}
