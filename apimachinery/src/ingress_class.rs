//! Which IngressClass an Ingress belongs to, and so which controller
//! serves it. Three components need the same answer: the apiserver's
//! DefaultIngressClass admission (it fills in `spec.ingressClassName` of a
//! new Ingress that names no class), and the two halves of the built-in
//! ingress controller, the kubelets' ingress proxy (which routes only the
//! Ingresses of its class) and the controller-manager's ingress status
//! controller (which writes their `status.loadBalancer`). The rules live
//! here, over plain JSON objects, so they cannot drift apart.
//!
//! An Ingress names its class by `spec.ingressClassName`, or by the
//! deprecated `kubernetes.io/ingress.class` annotation (which upstream
//! still honours). One that names none belongs to the cluster's default
//! class: the IngressClass annotated
//! `ingressclass.kubernetes.io/is-default-class: "true"`, the newest one
//! when several are (ties broken by name), as upstream's admission picks.

use serde_json::Value;

/// The controller name of the built-in ingress controller
/// (`spec.controller` of its IngressClass).
pub const CONTROLLER: &str = "minik8s.io/ingress";
/// The annotation that makes an IngressClass the cluster's default.
pub const IS_DEFAULT_CLASS: &str = "ingressclass.kubernetes.io/is-default-class";
/// The deprecated annotation naming an Ingress's class.
pub const LEGACY_CLASS: &str = "kubernetes.io/ingress.class";

fn str_at<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer).and_then(Value::as_str)
}

fn annotation<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.pointer("/metadata/annotations")
        .and_then(|a| a.get(key))
        .and_then(Value::as_str)
}

/// The class an Ingress names itself (field first, then the annotation).
pub fn named_class(ingress: &Value) -> Option<&str> {
    str_at(ingress, "/spec/ingressClassName")
        .filter(|c| !c.is_empty())
        .or_else(|| annotation(ingress, LEGACY_CLASS).filter(|c| !c.is_empty()))
}

/// The cluster's default IngressClass among `classes`: the newest of those
/// annotated as default, ties broken by the smaller name.
pub fn default_class<'a>(classes: &[&'a Value]) -> Option<&'a Value> {
    let mut defaults: Vec<&Value> = classes
        .iter()
        .copied()
        .filter(|c| annotation(c, IS_DEFAULT_CLASS) == Some("true"))
        .collect();
    // RFC 3339 timestamps in UTC sort as text.
    defaults.sort_by(|a, b| {
        let ta = str_at(a, "/metadata/creationTimestamp").unwrap_or("");
        let tb = str_at(b, "/metadata/creationTimestamp").unwrap_or("");
        let na = str_at(a, "/metadata/name").unwrap_or("");
        let nb = str_at(b, "/metadata/name").unwrap_or("");
        tb.cmp(ta).then(na.cmp(nb))
    });
    defaults.first().copied()
}

/// The IngressClass object an Ingress belongs to, if it exists.
pub fn class_of<'a>(ingress: &Value, classes: &[&'a Value]) -> Option<&'a Value> {
    match named_class(ingress) {
        Some(name) => classes
            .iter()
            .copied()
            .find(|c| str_at(c, "/metadata/name") == Some(name)),
        None => default_class(classes),
    }
}

/// Whether the Ingress belongs to a class whose `spec.controller` is
/// `controller`. An Ingress naming a class that does not exist belongs to
/// nobody (upstream controllers leave it alone too).
pub fn handled_by(ingress: &Value, classes: &[&Value], controller: &str) -> bool {
    class_of(ingress, classes).and_then(|c| str_at(c, "/spec/controller")) == Some(controller)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn class(name: &str, controller: &str, default: bool, created: &str) -> Value {
        let mut c = json!({"metadata": {"name": name, "creationTimestamp": created},
            "spec": {"controller": controller}});
        if default {
            c["metadata"]["annotations"] = json!({IS_DEFAULT_CLASS: "true"});
        }
        c
    }

    #[test]
    fn an_ingress_belongs_to_its_named_class_or_the_newest_default() {
        let ours = class("minik8s", CONTROLLER, true, "2026-01-01T00:00:00Z");
        let nginx = class(
            "nginx",
            "k8s.io/ingress-nginx",
            false,
            "2026-01-02T00:00:00Z",
        );
        let classes = [&ours, &nginx];
        let named = json!({"spec": {"ingressClassName": "nginx"}});
        assert!(!handled_by(&named, &classes, CONTROLLER));
        let legacy = json!({"metadata": {"annotations": {LEGACY_CLASS: "minik8s"}}, "spec": {}});
        assert!(handled_by(&legacy, &classes, CONTROLLER));
        let unnamed = json!({"spec": {}});
        assert!(handled_by(&unnamed, &classes, CONTROLLER));
        let missing = json!({"spec": {"ingressClassName": "gone"}});
        assert!(!handled_by(&missing, &classes, CONTROLLER));

        // A newer default class of another controller takes the unnamed.
        let newer = class("other", "example.com/lb", true, "2026-02-01T00:00:00Z");
        assert!(!handled_by(&unnamed, &[&ours, &newer], CONTROLLER));
        assert_eq!(
            default_class(&[&ours, &newer]).and_then(|c| c.pointer("/metadata/name")),
            Some(&json!("other"))
        );
        // No default at all: nobody's.
        let plain = class("minik8s", CONTROLLER, false, "2026-01-01T00:00:00Z");
        assert!(!handled_by(&unnamed, &[&plain], CONTROLLER));
    }
}
