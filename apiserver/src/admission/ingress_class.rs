//! The DefaultIngressClass admission plug-in, as upstream enables it by
//! default: a new Ingress that names no class (no `spec.ingressClassName`
//! and no `kubernetes.io/ingress.class` annotation) gets the cluster's
//! default IngressClass, the newest of those annotated
//! `ingressclass.kubernetes.io/is-default-class: "true"`
//! ([`apimachinery::ingress_class::default_class`], the rule the ingress
//! controllers also use for Ingresses created before a default existed).
//! Without a default class the Ingress is left alone. Runs on create only,
//! from the Ingress strategy ([`crate::registry::networking::ingress`]).

use apimachinery::ingress_class::{default_class, LEGACY_CLASS};
use futures::future::BoxFuture;
use serde_json::{json, Value};

use crate::errors::{ApiError, Target};
use crate::ApiServer;

/// The plug-in's name.
pub const PLUGIN_NAME: &str = "DefaultIngressClass";

/// Admits a new Ingress.
pub fn admit_ingress<'a>(
    server: &'a ApiServer,
    ingress: &'a mut Value,
) -> BoxFuture<'a, Result<(), ApiError>> {
    Box::pin(async move {
        if server.config.admission.disabled(PLUGIN_NAME) || !names_no_class(ingress) {
            return Ok(());
        }
        let classes = server
            .list_cached("networking.k8s.io", "ingressclasses", None)
            .await
            .map_err(|e| ApiError::from_storage(e, Target::default()))?;
        let objects: Vec<&Value> = classes.iter().map(|c| &*c.object).collect();
        let name = default_class(&objects)
            .and_then(|c| c.pointer("/metadata/name"))
            .and_then(Value::as_str)
            .map(String::from);
        if let (Some(name), Some(spec)) =
            (name, ingress.get_mut("spec").and_then(Value::as_object_mut))
        {
            spec.insert("ingressClassName".into(), json!(name));
        }
        Ok(())
    })
}

/// Whether the Ingress leaves its class to the cluster (an empty
/// annotation still names one, as upstream checks only its presence).
fn names_no_class(ingress: &Value) -> bool {
    let annotated = ingress
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(LEGACY_CLASS))
        .is_some();
    let named = ingress
        .pointer("/spec/ingressClassName")
        .is_some_and(|v| !v.is_null());
    !annotated && !named
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_ingress_without_any_class_takes_the_default() {
        assert!(names_no_class(&json!({"spec": {}})));
        assert!(!names_no_class(&json!({"spec": {"ingressClassName": "x"}})));
        assert!(!names_no_class(
            &json!({"metadata": {"annotations": {LEGACY_CLASS: ""}}, "spec": {}})
        ));
    }
}
