//! Services (`core/v1`): a stable virtual IP and DNS name in front of a set
//! of pods.
//!
//! Names are DNS labels (they become `<name>.<namespace>.svc`). Defaults give
//! `type: ClusterIP`, TCP ports and `targetPort = port`; validation checks
//! the type, ports and `externalName`, and keeps an assigned `clusterIP`
//! immutable. Just before a new Service is stored it gets its cluster IP from
//! the service range ([`crate::admission::service_ip`]); the IP is given back
//! when the create fails or the Service is removed.

use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::schemars::generate::SchemaGenerator;
use serde_json::{json, Value};

use crate::admission::{service_ip, service_node_port};
use crate::defaults::set_default;
use crate::errors::ApiError;
use crate::printers::*;
use crate::registry::strategy::{normalize, schema, Strategy};
use crate::validation::{
    duplicate, forbidden, immutable, invalid, not_supported, required, FieldError, NameRule,
};
use crate::ApiServer;

/// The Service strategy.
pub struct ServiceStrategy;

impl Strategy for ServiceStrategy {
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
        Box::pin(crate::registry::core::pod::proxy::service_proxy(
            server, info, req,
        ))
    }

    fn normalize(&self, obj: &mut Value) -> Result<(), String> {
        normalize::<Service>(obj)
    }

    fn schema(&self, gen: &mut SchemaGenerator) -> Option<String> {
        schema::<Service>(gen)
    }

    fn default(&self, obj: &mut Value) {
        defaults(obj);
    }

    fn name_rule(&self) -> NameRule {
        NameRule::Dns1123Label
    }

    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        let mut errs = Vec::new();
        validate_service(obj, &mut errs);
        errs
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        let mut errs = Vec::new();
        let old_ip = old
            .pointer("/spec/clusterIP")
            .and_then(Value::as_str)
            .unwrap_or("");
        // The IP goes or comes with a change to or from ExternalName.
        let external =
            |v: &Value| v.pointer("/spec/type").and_then(Value::as_str) == Some("ExternalName");
        if !old_ip.is_empty()
            && !external(new)
            && !external(old)
            && new.pointer("/spec/clusterIP") != old.pointer("/spec/clusterIP")
        {
            errs.push(immutable(
                "spec.clusterIP",
                new.pointer("/spec/clusterIP").unwrap_or(&Value::Null),
            ));
        }
        errs
    }

    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        keep_allocations(new, old);
        drop_type_dependent_fields(new, old);
        keep_health_check_port(new, old);
    }

    fn prepare_for_create(&self, obj: &mut Value, _uid: &str) {
        if let Some(map) = obj.as_object_mut() {
            map.insert("status".into(), json!({"loadBalancer": {}}));
        }
    }

    fn before_create<'a>(
        &'a self,
        server: &'a ApiServer,
        obj: &'a mut Value,
    ) -> BoxFuture<'a, Result<(), ApiError>> {
        Box::pin(async move {
            let ip = service_ip::allocate(server, obj).await?;
            if let Err(e) = service_node_port::allocate(server, obj, &[]).await {
                if let Some(ip) = ip {
                    service_ip::release(server, &ip).await;
                }
                return Err(e);
            }
            Ok(())
        })
    }

    fn release<'a>(&'a self, server: &'a ApiServer, obj: &'a Value) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            if let Some(ip) = service_ip::held_ip(obj) {
                service_ip::release(server, &ip).await;
            }
            service_node_port::release(server, &service_node_port::held(obj)).await;
        })
    }

    fn before_update<'a>(
        &'a self,
        server: &'a ApiServer,
        new: &'a mut Value,
        old: &'a Value,
    ) -> BoxFuture<'a, Result<(), ApiError>> {
        Box::pin(async move {
            // A Service that starts to need a cluster IP (it was ExternalName).
            let old_ip = service_ip::held_ip(old);
            let mut taken_ip = None;
            let new_ip = service_ip::held_ip(new);
            if service_ip::wants_ip(new) && (new_ip.is_none() || new_ip != old_ip) {
                taken_ip = service_ip::allocate(server, new).await?;
            }
            let old_ports = service_node_port::held(old);
            if let Err(e) = service_node_port::allocate(server, new, &old_ports).await {
                if let Some(ip) = taken_ip {
                    service_ip::release(server, &ip).await;
                }
                return Err(e);
            }
            Ok(())
        })
    }

    fn release_unneeded<'a>(
        &'a self,
        server: &'a ApiServer,
        holder: &'a Value,
        keep: &'a Value,
    ) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            if let Some(ip) = service_ip::held_ip(holder) {
                if service_ip::held_ip(keep).as_deref() != Some(ip.as_str()) {
                    service_ip::release(server, &ip).await;
                }
            }
            let kept = service_node_port::held(keep);
            let unneeded: Vec<i64> = service_node_port::held(holder)
                .into_iter()
                .filter(|p| !kept.contains(p))
                .collect();
            service_node_port::release(server, &unneeded).await;
        })
    }

    fn columns(&self) -> &'static [Column] {
        COLUMNS
    }

    fn cells(&self, obj: &Value) -> Vec<Value> {
        cells(obj)
    }
}

fn defaults(obj: &mut Value) {
    set_default(obj, &["spec", "type"], json!("ClusterIP"));
    let external_name = obj.pointer("/spec/type").and_then(Value::as_str) == Some("ExternalName");
    set_default(obj, &["spec", "sessionAffinity"], json!("None"));
    if !external_name {
        set_default(obj, &["spec", "ipFamilyPolicy"], json!("SingleStack"));
        set_default(obj, &["spec", "ipFamilies"], json!(["IPv4"]));
        set_default(obj, &["spec", "internalTrafficPolicy"], json!("Cluster"));
    }
    if let Some(ports) = obj.pointer_mut("/spec/ports").and_then(Value::as_array_mut) {
        for p in ports {
            // Go clients send the zero values: `protocol: ""` and, since an
            // IntOrString is a struct, `targetPort: 0`. Upstream's defaulting
            // treats both (and an empty name) as unset.
            if p.get("protocol").and_then(Value::as_str) == Some("") {
                p["protocol"] = Value::Null;
            }
            set_default(p, &["protocol"], json!("TCP"));
            let unset_target = match p.get("targetPort") {
                None | Some(Value::Null) => true,
                Some(Value::Number(n)) => n.as_i64() == Some(0),
                Some(Value::String(s)) => s.is_empty(),
                Some(_) => false,
            };
            if let Some(port) = p.get("port").cloned().filter(|_| unset_target) {
                p["targetPort"] = port;
            }
        }
    }
}

/// An update that leaves out what the server assigned (`kubectl replace`
/// of a manifest without `clusterIP` or `nodePort`) keeps it, as long as the
/// Service still needs it.
fn keep_allocations(new: &mut Value, old: &Value) {
    let unset = |v: Option<&Value>| v.is_none_or(|v| v.is_null() || v.as_str() == Some(""));
    if service_ip::wants_ip(new) && unset(new.pointer("/spec/clusterIP")) {
        if let Some(ip) = service_ip::held_ip(old) {
            if let Some(spec) = new.get_mut("spec").and_then(Value::as_object_mut) {
                spec.insert("clusterIP".into(), json!(ip));
                spec.insert("clusterIPs".into(), json!([ip]));
            }
        }
    }
    if service_node_port::wants_node_ports(new) {
        let old_ports = old
            .pointer("/spec/ports")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if let Some(ports) = new.pointer_mut("/spec/ports").and_then(Value::as_array_mut) {
            for p in ports {
                if p.get("nodePort").and_then(Value::as_i64).unwrap_or(0) > 0 {
                    continue;
                }
                let same = old_ports.iter().find(|o| {
                    o.get("port") == p.get("port")
                        && o.get("protocol").and_then(Value::as_str).unwrap_or("TCP")
                            == p.get("protocol").and_then(Value::as_str).unwrap_or("TCP")
                });
                if let Some(n) = same
                    .and_then(|o| o.get("nodePort"))
                    .filter(|n| n.as_i64().unwrap_or(0) > 0)
                {
                    p["nodePort"] = n.clone();
                }
            }
        }
    }
}

/// When the type changes, the fields of the old type that the client did
/// not touch go (upstream's `dropTypeDependentFields`): an ExternalName
/// Service has no cluster IP, a ClusterIP one no node ports.
fn drop_type_dependent_fields(new: &mut Value, old: &Value) {
    let ty = |v: &Value| {
        v.pointer("/spec/type")
            .and_then(Value::as_str)
            .unwrap_or("ClusterIP")
            .to_string()
    };
    if ty(new) == ty(old) {
        return;
    }
    let unchanged = |new: &Value, field: &str| new.pointer(field) == old.pointer(field);
    if ty(new) == "ExternalName" {
        for field in [
            "clusterIP",
            "clusterIPs",
            "ipFamilies",
            "ipFamilyPolicy",
            "internalTrafficPolicy",
        ] {
            if unchanged(new, &format!("/spec/{field}")) {
                if let Some(spec) = new.get_mut("spec").and_then(Value::as_object_mut) {
                    spec.remove(field);
                }
            }
        }
    }
    if !service_node_port::wants_node_ports(new) {
        let old_ports = service_node_port::held(old);
        if let Some(ports) = new.pointer_mut("/spec/ports").and_then(Value::as_array_mut) {
            for p in ports {
                let held = p
                    .get("nodePort")
                    .and_then(Value::as_i64)
                    .is_some_and(|n| old_ports.contains(&n));
                if held {
                    if let Some(m) = p.as_object_mut() {
                        m.remove("nodePort");
                    }
                }
            }
        }
    }
}

/// The health check port goes with `type: LoadBalancer` and
/// `externalTrafficPolicy: Local` (upstream's `needsHCNodePort`): it goes
/// when either changes (unless the client set it), and an update that keeps
/// both keeps the port even when the client left it out.
fn keep_health_check_port(new: &mut Value, old: &Value) {
    let unchanged = |new: &Value, field: &str| new.pointer(field) == old.pointer(field);
    let needs = service_node_port::wants_health_check_port(new);
    let had = old.pointer("/spec/healthCheckNodePort").cloned();
    if !needs && unchanged(new, "/spec/healthCheckNodePort") {
        if let Some(spec) = new.get_mut("spec").and_then(Value::as_object_mut) {
            spec.remove("healthCheckNodePort");
        }
    }
    if needs && new.pointer("/spec/healthCheckNodePort").is_none() {
        if let (Some(port), Some(spec)) = (had, new.get_mut("spec").and_then(Value::as_object_mut))
        {
            spec.insert("healthCheckNodePort".into(), port);
        }
    }
}

fn validate_service(obj: &Value, errs: &mut Vec<FieldError>) {
    let ty = obj.pointer("/spec/type").cloned().unwrap_or(Value::Null);
    if !matches!(
        ty.as_str(),
        Some("ClusterIP" | "NodePort" | "LoadBalancer" | "ExternalName")
    ) {
        errs.push(not_supported(
            "spec.type",
            &ty,
            &["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"],
        ));
    }
    let headless = obj.pointer("/spec/clusterIP").and_then(Value::as_str) == Some("None");
    let ports = obj.pointer("/spec/ports").and_then(Value::as_array);
    if ty.as_str() != Some("ExternalName") && !headless && ports.is_none_or(|p| p.is_empty()) {
        errs.push(required("spec.ports"));
    }
    if ty.as_str() == Some("ExternalName") {
        let text = |p: &str| obj.pointer(p).and_then(Value::as_str).unwrap_or("");
        if text("/spec/externalName").is_empty() {
            errs.push(required("spec.externalName"));
        }
        if !text("/spec/clusterIP").is_empty() {
            errs.push(forbidden(
                "spec.clusterIPs",
                "may not be set for ExternalName services",
            ));
        }
    }
    let node_ports_allowed = service_node_port::wants_node_ports(obj);
    let ports = ports.cloned().unwrap_or_default();
    let mut names = Vec::new();
    for (i, p) in ports.iter().enumerate() {
        let pp = format!("spec.ports[{i}]");
        match p.get("port").and_then(Value::as_i64) {
            Some(n) if (1..=65535).contains(&n) => {}
            Some(n) => errs.push(invalid(
                format!("{pp}.port"),
                &Value::from(n),
                "must be between 1 and 65535, inclusive",
            )),
            None => errs.push(required(format!("{pp}.port"))),
        }
        let node_port = p.get("nodePort").and_then(Value::as_i64).unwrap_or(0);
        if node_port != 0 && !node_ports_allowed {
            errs.push(forbidden(
                format!("{pp}.nodePort"),
                &format!(
                    "may not be used when `type` is '{}'",
                    ty.as_str().unwrap_or("ClusterIP")
                ),
            ));
        }
        let name = p.get("name").and_then(Value::as_str).unwrap_or("");
        if ports.len() > 1 && name.is_empty() {
            errs.push(required(format!("{pp}.name")));
        }
        if !name.is_empty() {
            if names.contains(&name) {
                errs.push(duplicate(format!("{pp}.name"), name));
            }
            names.push(name);
        }
        if let Some(proto) = p.get("protocol") {
            if !matches!(proto.as_str(), Some("TCP" | "UDP" | "SCTP")) {
                errs.push(not_supported(
                    format!("{pp}.protocol"),
                    proto,
                    &["SCTP", "TCP", "UDP"],
                ));
            }
        }
    }
}

#[rustfmt::skip]
const COLUMNS: &[Column] = &[
    NAME,
    col("Type", "string", 0, "type determines how the Service is exposed."),
    col("Cluster-IP", "string", 0, "clusterIP is the IP address of the service and is usually assigned randomly."),
    col("External-IP", "string", 0, "externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service."),
    col("Port(s)", "string", 0, "The list of ports that are exposed by this service."),
    AGE,
    col("Selector", "string", 1, "Route service traffic to pods with label keys and values matching this selector."),
];

fn cells(obj: &Value) -> Vec<Value> {
    let ty = s(obj, "/spec/type");
    let cluster_ip = arr(obj, "/spec/clusterIPs")
        .first()
        .and_then(Value::as_str)
        .unwrap_or("<none>");
    let external_ips: Vec<&str> = arr(obj, "/spec/externalIPs")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let external = match ty {
        "ClusterIP" | "NodePort" if !external_ips.is_empty() => external_ips.join(","),
        "ClusterIP" | "NodePort" => "<none>".into(),
        "LoadBalancer" => {
            // Sorted and deduplicated, as upstream's string set.
            let mut lb: Vec<&str> = arr(obj, "/status/loadBalancer/ingress")
                .iter()
                .map(|i| or(s(i, "/ip"), s(i, "/hostname")))
                .filter(|a| !a.is_empty())
                .collect();
            lb.sort_unstable();
            lb.dedup();
            lb.extend(external_ips.iter().copied());
            if lb.is_empty() {
                "<pending>".into()
            } else {
                lb.join(",")
            }
        }
        "ExternalName" => s(obj, "/spec/externalName").to_string(),
        _ => "<unknown>".into(),
    };
    let ports: Vec<String> = arr(obj, "/spec/ports")
        .iter()
        .map(|p| match n(p, "/nodePort") {
            np if np > 0 => format!("{}:{np}/{}", n(p, "/port"), s(p, "/protocol")),
            _ => format!("{}/{}", n(p, "/port"), s(p, "/protocol")),
        })
        .collect();
    vec![
        json!(s(obj, "/metadata/name")),
        json!(ty),
        json!(cluster_ip),
        json!(external),
        json!(or(&ports.join(","), "<none>")),
        json!(age(obj)),
        json!(format_labels(obj.pointer("/spec/selector"))),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_zero_values_of_a_port_are_defaulted_as_unset() {
        let mut svc = json!({"spec": {"ports": [
            {"port": 80, "targetPort": 0, "protocol": ""},
            {"port": 81, "targetPort": ""},
            {"port": 82},
            {"port": 83, "targetPort": "http", "protocol": "UDP"},
            {"port": 84, "targetPort": 8084}
        ]}});
        defaults(&mut svc);
        let ports = &svc["spec"]["ports"];
        let got: Vec<(Value, Value)> = ports
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p["targetPort"].clone(), p["protocol"].clone()))
            .collect();
        assert_eq!(
            got,
            vec![
                (json!(80), json!("TCP")),
                (json!(81), json!("TCP")),
                (json!(82), json!("TCP")),
                (json!("http"), json!("UDP")),
                (json!(8084), json!("TCP")),
            ]
        );
    }
}
