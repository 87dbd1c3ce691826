//! RuntimeClass admission: what a pod's `runtimeClassName` brings with it.
//!
//! A RuntimeClass (`node.k8s.io/v1`) names a container runtime handler a node
//! offers and may carry the fixed cost of a pod run that way
//! (`overhead.podFixed`) and where such pods can run (`scheduling`). On
//! create, as upstream's plug-in does, a pod that names a class:
//!
//! - is refused (403) when the class does not exist;
//! - gets the class's overhead in `spec.overhead` (which the scheduler adds
//!   to the pod's requests and the quota charges); a pod that already sets a
//!   different overhead, or sets one when its class has none, is refused;
//! - gets the class's node selector merged into its own (a conflicting value
//!   is refused) and the class's tolerations added to its own.

use serde_json::{json, Map, Value};

use super::pod_forbidden as forbidden;
use crate::errors::{ApiError, Target};
use crate::ApiServer;

/// Admits a pod being created (see the module docs).
pub async fn admit_pod(server: &ApiServer, pod: &mut Value) -> Result<(), ApiError> {
    let class = match pod
        .pointer("/spec/runtimeClassName")
        .and_then(Value::as_str)
    {
        Some(name) if !name.is_empty() => {
            match server
                .lookup("node.k8s.io", "runtimeclasses", "", name)
                .await
            {
                Ok(Some(found)) => Some((*found.object).clone()),
                Ok(None) => {
                    return Err(forbidden(
                        pod,
                        format!("pod rejected: RuntimeClass \"{name}\" not found"),
                    ))
                }
                Err(e) => return Err(ApiError::from_storage(e, Target::default())),
            }
        }
        _ => None,
    };
    let overhead = class
        .as_ref()
        .and_then(|c| c.pointer("/overhead/podFixed"))
        .and_then(Value::as_object)
        .cloned();
    set_overhead(pod, overhead.as_ref())?;
    if let Some(scheduling) = class.as_ref().and_then(|c| c.get("scheduling")) {
        set_scheduling(pod, scheduling)?;
    }
    Ok(())
}

fn set_overhead(pod: &mut Value, class: Option<&Map<String, Value>>) -> Result<(), ApiError> {
    let own = pod
        .pointer("/spec/overhead")
        .and_then(Value::as_object)
        .filter(|o| !o.is_empty())
        .cloned();
    match (class, own) {
        (None, None) => Ok(()),
        (None, Some(_)) => Err(forbidden(
            pod,
            "pod rejected: Pod Overhead set without corresponding RuntimeClass defined Overhead"
                .into(),
        )),
        (Some(class), Some(own)) if !same_resources(class, &own) => Err(forbidden(
            pod,
            "pod rejected: Pod's Overhead doesn't match RuntimeClass's defined Overhead".into(),
        )),
        (Some(class), _) => {
            if let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) {
                spec.insert("overhead".into(), Value::Object(class.clone()));
            }
            Ok(())
        }
    }
}

/// Whether two resource lists hold the same quantities (`1000m` is `1`).
fn same_resources(a: &Map<String, Value>, b: &Map<String, Value>) -> bool {
    let quantity = |v: &Value| {
        v.as_str()
            .and_then(|s| apimachinery::quantity::Quantity::parse(s).ok())
    };
    a.len() == b.len()
        && a.iter()
            .all(|(k, v)| match (quantity(v), b.get(k).and_then(quantity)) {
                (Some(x), Some(y)) => x == y,
                _ => false,
            })
}

fn set_scheduling(pod: &mut Value, scheduling: &Value) -> Result<(), ApiError> {
    let class_selector = scheduling
        .get("nodeSelector")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let mut selector = pod
        .pointer("/spec/nodeSelector")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    for (key, value) in &class_selector {
        if let Some(own) = selector.get(key).filter(|own| *own != value) {
            let why = format!(
                "conflict: runtimeClass.scheduling.nodeSelector[{key}] = {}; pod.spec.nodeSelector[{key}] = {}",
                value.as_str().unwrap_or_default(),
                own.as_str().unwrap_or_default()
            );
            return Err(forbidden(pod, why));
        }
        selector.insert(key.clone(), value.clone());
    }
    let mut tolerations = pod
        .pointer("/spec/tolerations")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for t in scheduling
        .get("tolerations")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if !tolerations.contains(t) {
            tolerations.push(t.clone());
        }
    }
    if let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) {
        if !selector.is_empty() {
            spec.insert("nodeSelector".into(), Value::Object(selector));
        }
        if !tolerations.is_empty() {
            spec.insert("tolerations".into(), json!(tolerations));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(spec: Value) -> Value {
        json!({"metadata": {"name": "p", "namespace": "ns"}, "spec": spec})
    }

    fn object(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn the_class_overhead_is_copied_and_a_different_one_refused() {
        let class = object(json!({"cpu": "10m", "memory": "1Mi"}));
        let mut p = pod(json!({"containers": []}));
        set_overhead(&mut p, Some(&class)).expect("admitted");
        assert_eq!(
            p["spec"]["overhead"],
            json!({"cpu": "10m", "memory": "1Mi"})
        );
        // The same quantities written differently are the same overhead.
        let mut p = pod(json!({"overhead": {"cpu": "0.01", "memory": "1Mi"}}));
        set_overhead(&mut p, Some(&class)).expect("admitted");
        let mut p = pod(json!({"overhead": {"cpu": "20m", "memory": "1Mi"}}));
        let e = set_overhead(&mut p, Some(&class)).unwrap_err();
        assert!(e.to_string().contains("pods \"p\" is forbidden: pod rejected: Pod's Overhead doesn't match RuntimeClass's defined Overhead"), "{e}");
        let mut p = pod(json!({"overhead": {"cpu": "20m"}}));
        let e = set_overhead(&mut p, None).unwrap_err();
        assert!(
            e.to_string()
                .contains("Pod Overhead set without corresponding RuntimeClass defined Overhead"),
            "{e}"
        );
    }

    #[test]
    fn scheduling_merges_selectors_and_tolerations() {
        let scheduling = json!({
            "nodeSelector": {"sandbox": "gvisor"},
            "tolerations": [{"key": "sandbox", "operator": "Exists", "effect": "NoSchedule"}],
        });
        let mut p = pod(json!({
            "nodeSelector": {"zone": "a"},
            "tolerations": [{"key": "x", "operator": "Exists"}],
        }));
        set_scheduling(&mut p, &scheduling).expect("admitted");
        assert_eq!(
            p["spec"]["nodeSelector"],
            json!({"zone": "a", "sandbox": "gvisor"})
        );
        assert_eq!(p["spec"]["tolerations"].as_array().map(Vec::len), Some(2));
        let mut p = pod(json!({"nodeSelector": {"sandbox": "kata"}}));
        let e = set_scheduling(&mut p, &scheduling).unwrap_err();
        assert!(
            e.to_string().contains("conflict: runtimeClass.scheduling.nodeSelector[sandbox] = gvisor; pod.spec.nodeSelector[sandbox] = kata"),
            "{e}"
        );
    }
}
