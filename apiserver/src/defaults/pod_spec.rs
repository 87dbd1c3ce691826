//! Defaults of a PodSpec, in a Pod or in any pod template: restart and DNS
//! policy, grace period, scheduler, and per container the pull policy,
//! termination message, port protocol, probe timings and requests from limits.

use serde_json::{json, Value};

use super::set_default;

/// The image pull policy upstream derives from the image reference:
/// `Always` for `:latest` or no tag, `IfNotPresent` otherwise.
pub fn pull_policy(image: &str) -> &'static str {
    if image.contains('@') {
        return "IfNotPresent";
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.rsplit_once(':') {
        Some((_, tag)) if tag != "latest" => "IfNotPresent",
        _ => "Always",
    }
}

fn probe(p: &mut Value) {
    for (k, v) in [
        ("timeoutSeconds", 1),
        ("periodSeconds", 10),
        ("successThreshold", 1),
        ("failureThreshold", 3),
    ] {
        set_default(p, &[k], json!(v));
    }
}

fn container(c: &mut Value) {
    let image = c
        .get("image")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    set_default(c, &["imagePullPolicy"], json!(pull_policy(&image)));
    set_default(
        c,
        &["terminationMessagePath"],
        json!("/dev/termination-log"),
    );
    set_default(c, &["terminationMessagePolicy"], json!("File"));
    if let Some(ports) = c.get_mut("ports").and_then(Value::as_array_mut) {
        for p in ports {
            set_default(p, &["protocol"], json!("TCP"));
        }
    }
    for probe_name in ["livenessProbe", "readinessProbe", "startupProbe"] {
        if let Some(p) = c.get_mut(probe_name).filter(|p| p.is_object()) {
            probe(p);
        }
    }
    // Limits without requests: the request is the limit.
    let limits = c
        .pointer("/resources/limits")
        .and_then(Value::as_object)
        .cloned();
    if let Some(limits) = limits {
        for (res, q) in limits {
            set_default(c, &["resources", "requests", &res], q);
        }
    }
}

/// Defaults of a PodSpec (in a Pod or in a template).
pub fn pod_spec(spec: &mut Value) {
    if !spec.is_object() {
        return;
    }
    set_default(spec, &["restartPolicy"], json!("Always"));
    set_default(spec, &["dnsPolicy"], json!("ClusterFirst"));
    set_default(spec, &["terminationGracePeriodSeconds"], json!(30));
    set_default(spec, &["schedulerName"], json!("default-scheduler"));
    set_default(spec, &["securityContext"], json!({}));
    set_default(spec, &["enableServiceLinks"], json!(true));
    for list in ["containers", "initContainers", "ephemeralContainers"] {
        if let Some(cs) = spec.get_mut(list).and_then(Value::as_array_mut) {
            for c in cs {
                container(c);
            }
        }
    }
    if let Some(vols) = spec.get_mut("volumes").and_then(Value::as_array_mut) {
        for v in vols {
            let Some(m) = v.as_object_mut() else { continue };
            if m.len() == 1 && m.contains_key("name") {
                m.insert("emptyDir".into(), json!({}));
            }
            for source in ["configMap", "secret"] {
                if let Some(s) = m.get_mut(source).filter(|s| s.is_object()) {
                    set_default(s, &["defaultMode"], json!(420));
                }
            }
            // An image volume pulls as a container image would by default.
            if let Some(img) = m.get_mut("image").filter(|s| s.is_object()) {
                let reference = img
                    .get("reference")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                set_default(img, &["pullPolicy"], json!(pull_policy(&reference)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_volumes_get_a_pull_policy_like_container_images() {
        let mut spec = json!({"volumes": [
            {"name": "a", "image": {"reference": "kitten:1.0"}},
            {"name": "b", "image": {"reference": "kitten"}},
            {"name": "c", "image": {"reference": "kitten:latest", "pullPolicy": "Never"}},
        ]});
        pod_spec(&mut spec);
        let policies: Vec<&Value> = spec["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| &v["image"]["pullPolicy"])
            .collect();
        assert_eq!(
            policies,
            [&json!("IfNotPresent"), &json!("Always"), &json!("Never")]
        );
    }
}
