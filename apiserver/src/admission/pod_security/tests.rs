//! The plug-in's decisions without a server: the three modes, exemptions,
//! the namespace warnings and which pod updates are re-checked.

use serde_json::json;

use super::*;

fn restricted_everywhere() -> Configuration {
    let lv = LevelVersion {
        level: Level::Restricted,
        version: Version::Latest,
    };
    Configuration {
        defaults: Policy {
            enforce: lv,
            audit: lv,
            warn: lv,
        },
        exemptions: config::Exemptions {
            runtime_classes: vec!["kata".into()],
            ..Default::default()
        },
    }
}

fn privileged_pod() -> Value {
    json!({"metadata": {"name": "x"}, "spec": {"containers": [
        {"name": "c", "image": "i", "securityContext": {"privileged": true}}]}})
}

#[test]
fn enforce_refuses_with_upstreams_message() {
    let config = Configuration::default();
    let admission = Admission { config: &config };
    let labels: Map<String, Value> =
        serde_json::from_value(json!({"pod-security.kubernetes.io/enforce": "baseline"}))
            .expect("labels");
    let (policy, errors) = admission.policy(&labels);
    let pod = privileged_pod();
    let err = admission
        .evaluate(&policy, &errors, &pod, true)
        .expect_err("refused");
    assert_eq!(
        err,
        "violates PodSecurity \"baseline:latest\": privileged (container \"c\" must not set securityContext.privileged=true)"
    );
    // Not enforced (a workload's template): a warning at the same level.
    let out = admission
        .evaluate(&policy, &errors, &pod, false)
        .expect("admitted");
    assert_eq!(
        out.warnings,
        ["would violate PodSecurity \"baseline:latest\": privileged (container \"c\" must not set securityContext.privileged=true)"]
    );
}

#[test]
fn audit_annotates_and_runtime_class_exempts() {
    let config = restricted_everywhere();
    let admission = Admission { config: &config };
    let (mut policy, errors) = admission.policy(&Map::new());
    policy.enforce = LevelVersion::PRIVILEGED;
    policy.warn = LevelVersion::PRIVILEGED;
    let pod = privileged_pod();
    let out = admission
        .evaluate(&policy, &errors, &pod, true)
        .expect("admitted");
    assert!(out.warnings.is_empty());
    assert_eq!(
        out.annotations["pod-security.kubernetes.io/enforce-policy"],
        "privileged:latest"
    );
    assert!(
        out.annotations["pod-security.kubernetes.io/audit-violations"].starts_with(
            "would violate PodSecurity \"restricted:latest\": privileged (container \"c\""
        )
    );
    let mut exempt = pod.clone();
    exempt["spec"]["runtimeClassName"] = json!("kata");
    let out = admission
        .evaluate(&config.defaults, &errors, &exempt, true)
        .expect("exempt");
    assert_eq!(out, Outcome::exempt("runtimeClass"));
}

#[test]
fn a_compliant_pod_passes_restricted() {
    let config = restricted_everywhere();
    let admission = Admission { config: &config };
    let pod = json!({"spec": {"securityContext": {"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [{"name": "c", "image": "i", "securityContext": {
            "allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}}}]}});
    let out = admission
        .evaluate(&config.defaults, &[], &pod, true)
        .expect("admitted");
    assert!(out.warnings.is_empty(), "{out:?}");
    assert!(!out
        .annotations
        .contains_key("pod-security.kubernetes.io/audit-violations"));
}

#[test]
fn an_exempt_namespace_with_labels_is_warned_about() {
    let config = Configuration::default();
    let admission = Admission { config: &config };
    let labels: Map<String, Value> = serde_json::from_value(json!({
        "pod-security.kubernetes.io/enforce": "restricted",
        "pod-security.kubernetes.io/audit": "baseline"}))
    .expect("labels");
    let (policy, _) = admission.policy(&labels);
    assert_eq!(
        admission.exempt_namespace_warning("ops", &policy, &labels).as_deref(),
        Some("namespace \"ops\" is exempt from Pod Security, and the policy (enforce=restricted:latest, audit=baseline:latest) will be ignored")
    );
    assert_eq!(
        admission.exempt_namespace_warning("ops", &Policy::default(), &Map::new()),
        None
    );
}

#[test]
fn only_image_and_container_changes_are_rechecked() {
    let old = json!({"spec": {"containers": [{"name": "c", "image": "a"}]}});
    let mut labels_only = old.clone();
    labels_only["metadata"] = json!({"labels": {"x": "y"}});
    assert!(!significant_update(&labels_only, &old));
    let image = json!({"spec": {"containers": [{"name": "c", "image": "b"}]}});
    assert!(significant_update(&image, &old));
    let mut ephemeral = old.clone();
    ephemeral["spec"]["ephemeralContainers"] = json!([{"name": "debug", "image": "busybox"}]);
    assert!(significant_update(&ephemeral, &old));
}

#[test]
fn one_pod_per_controller_is_checked_first() {
    let config = Configuration::default();
    let admission = Admission { config: &config };
    let owned = |name: &str, uid: &str| json!({"metadata": {"name": name, "ownerReferences": [{"uid": uid, "controller": true}]}});
    let pods = vec![
        owned("a1", "rs-a"),
        owned("a2", "rs-a"),
        json!({"metadata": {"name": "bare"}}),
        owned("b1", "rs-b"),
    ];
    let names: Vec<String> = admission
        .prioritize(pods)
        .iter()
        .map(|p| p["metadata"]["name"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(names, ["a1", "bare", "b1", "a2"]);
}

#[test]
fn workload_templates_are_found() {
    assert_eq!(pod_template("apps", "deployments"), Some("/spec/template"));
    assert_eq!(
        pod_template("batch", "cronjobs"),
        Some("/spec/jobTemplate/spec/template")
    );
    assert_eq!(pod_template("", "podtemplates"), Some("/template"));
    assert_eq!(pod_template("", "services"), None);
}
