//! Pod Security admission on a real apiserver, driven with the real
//! kubectl as a cluster user would: a namespace's
//! `pod-security.kubernetes.io/*` labels refuse pods that fail the
//! enforced level with upstream's 403, make kubectl print `Warning:` lines
//! for the warn level, warn (never refuse) about workloads' pod templates,
//! refuse invalid label values and warn about existing pods when a
//! stricter level is set; the `--admission-control-config-file` gives
//! cluster-wide defaults and exempt users and namespaces.

use std::path::Path;

use tests::harness::{kubectl_cached, unique, ApiServer, Etcd, KubectlOutput};

/// A pod with one container `c`, with this container security context
/// (YAML flow mapping) and this pod security context.
fn pod(name: &str, container_sc: &str, pod_sc: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  securityContext: {pod_sc}\n  \
         containers:\n  - name: c\n    image: busybox\n    securityContext: {container_sc}\n"
    )
}

const PRIVILEGED: &str = "{privileged: true}";

const RESTRICTED_MESSAGE: &str = "violates PodSecurity \"restricted:latest\": privileged (container \"c\" must not set securityContext.privileged=true), allowPrivilegeEscalation != false (container \"c\" must set securityContext.allowPrivilegeEscalation=false), unrestricted capabilities (container \"c\" must set securityContext.capabilities.drop=[\"ALL\"]), runAsNonRoot != true (pod or container \"c\" must set securityContext.runAsNonRoot=true), seccompProfile (pod or container \"c\" must set securityContext.seccompProfile.type to \"RuntimeDefault\" or \"Localhost\")";

struct Kubectl<'a> {
    url: &'a str,
    dir: &'a Path,
}

impl Kubectl<'_> {
    fn run(&self, args: &[&str]) -> KubectlOutput {
        kubectl_cached(self.url, &self.dir.join("cache"), args).expect("kubectl runs")
    }

    /// `kubectl label namespace` with these `key=value`s.
    fn label(&self, namespace: &str, labels: &[&str]) -> KubectlOutput {
        let mut all = vec!["label", "namespace", namespace];
        all.extend_from_slice(labels);
        self.run(&all)
    }

    /// `kubectl apply -f` of `yaml` in `namespace`.
    fn apply(&self, namespace: &str, yaml: &str, args: &[&str]) -> KubectlOutput {
        let file = self.dir.join(format!("{}.yaml", unique("manifest")));
        std::fs::write(&file, yaml).expect("write manifest");
        let file = file.to_str().expect("utf-8").to_string();
        let mut all = vec!["apply", "-n", namespace, "-f", &file];
        all.extend_from_slice(args);
        self.run(&all)
    }
}

#[tokio::test]
async fn namespace_labels_enforce_warn_and_are_validated() {
    let etcd = Etcd::start().await.expect("etcd");
    let api = ApiServer::start(&etcd).await.expect("apiserver");
    let dir = tempfile::tempdir().expect("tempdir");
    let k = Kubectl {
        url: &api.url,
        dir: dir.path(),
    };

    // enforce=restricted: a privileged pod is refused with upstream's 403.
    let restricted = unique("restricted");
    assert!(k.run(&["create", "namespace", &restricted]).success);
    let out = k.label(
        &restricted,
        &["pod-security.kubernetes.io/enforce=restricted"],
    );
    assert!(out.success, "{}", out.stderr);
    let out = k.apply(&restricted, &pod("priv", PRIVILEGED, "{}"), &[]);
    assert!(
        !out.success,
        "a privileged pod was admitted: {}",
        out.stdout
    );
    assert!(
        out.stderr
            .contains(&format!("pods \"priv\" is forbidden: {RESTRICTED_MESSAGE}")),
        "{}",
        out.stderr
    );

    // A compliant pod is admitted, without warnings.
    let compliant = pod(
        "ok",
        "{allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}",
        "{runAsNonRoot: true, seccompProfile: {type: RuntimeDefault}}",
    );
    let out = k.apply(&restricted, &compliant, &[]);
    assert!(out.success, "{}", out.stderr);
    assert!(!out.stderr.contains("Warning:"), "{}", out.stderr);

    // A Deployment with a privileged template is admitted with a warning
    // (warn follows enforce): only its pods are refused.
    let deployment = format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web}}\nspec:\n  \
         selector: {{matchLabels: {{app: web}}}}\n  template:\n    metadata: {{labels: {{app: web}}}}\n    \
         spec:\n      containers:\n      - name: c\n        image: busybox\n        securityContext: {PRIVILEGED}\n"
    );
    let out = k.apply(&restricted, &deployment, &[]);
    assert!(out.success, "{}", out.stderr);
    assert!(
        out.stderr.contains(
            "Warning: would violate PodSecurity \"restricted:latest\": privileged (container \"c\""
        ),
        "{}",
        out.stderr
    );

    // warn=baseline: the privileged pod is admitted and kubectl prints the
    // warning.
    let warned = unique("warned");
    assert!(k.run(&["create", "namespace", &warned]).success);
    let out = k.label(
        &warned,
        &[
            "pod-security.kubernetes.io/warn=baseline",
            "pod-security.kubernetes.io/warn-version=v1.30",
        ],
    );
    assert!(out.success, "{}", out.stderr);
    let out = k.apply(&warned, &pod("priv", PRIVILEGED, "{}"), &[]);
    assert!(out.success, "{}", out.stderr);
    assert!(
        out.stderr.contains(
            "Warning: would violate PodSecurity \"baseline:v1.30\": privileged (container \"c\" must not set securityContext.privileged=true)"
        ),
        "{}",
        out.stderr
    );

    // An invalid level is refused.
    let out = k.label(&warned, &["pod-security.kubernetes.io/enforce=bogus"]);
    assert!(!out.success, "an invalid level was accepted");
    assert!(
        out.stderr.contains(&format!(
            "The Namespace \"{warned}\" is invalid: metadata.labels[pod-security.kubernetes.io/enforce]: Invalid value: \"bogus\": must be one of privileged, baseline, restricted"
        )),
        "{}",
        out.stderr
    );

    // Enforcing baseline where a privileged pod runs: allowed, with
    // upstream's warnings about the existing pod.
    let out = k.label(&warned, &["pod-security.kubernetes.io/enforce=baseline"]);
    assert!(out.success, "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!(
            "Warning: existing pods in namespace \"{warned}\" violate the new PodSecurity enforce level \"baseline:latest\""
        )),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("Warning: priv: privileged"),
        "{}",
        out.stderr
    );
    // ... and from then on the pod's like are refused.
    let out = k.apply(&warned, &pod("priv2", PRIVILEGED, "{}"), &[]);
    assert!(!out.success);
    assert!(
        out.stderr.contains("pods \"priv2\" is forbidden: violates PodSecurity \"baseline:latest\": privileged (container \"c\" must not set securityContext.privileged=true)"),
        "{}",
        out.stderr
    );

    // The default namespace stays privileged.
    let out = k.apply("default", &pod("priv", PRIVILEGED, "{}"), &[]);
    assert!(out.success, "{}", out.stderr);
    assert!(!out.stderr.contains("Warning:"), "{}", out.stderr);
}

#[tokio::test]
async fn configured_defaults_and_exemptions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("admission.yaml");
    std::fs::write(
        &config,
        "apiVersion: apiserver.config.k8s.io/v1\nkind: AdmissionConfiguration\nplugins:\n\
         - name: PodSecurity\n  configuration:\n    apiVersion: pod-security.admission.config.k8s.io/v1\n\
         \x20   kind: PodSecurityConfiguration\n    defaults: {enforce: baseline}\n\
         \x20   exemptions: {usernames: [jane], namespaces: [ops]}\n",
    )
    .expect("write config");
    let etcd = Etcd::start().await.expect("etcd");
    let api = ApiServer::start_with(
        &etcd,
        &[
            "--admission-control-config-file",
            config.to_str().expect("utf-8"),
        ],
    )
    .await
    .expect("apiserver");
    let k = Kubectl {
        url: &api.url,
        dir: dir.path(),
    };
    let dev = unique("dev");
    for ns in [dev.as_str(), "ops"] {
        assert!(k.run(&["create", "namespace", ns]).success);
    }

    // The default level applies to a namespace without labels.
    let out = k.apply(&dev, &pod("priv", PRIVILEGED, "{}"), &[]);
    assert!(!out.success);
    assert!(
        out.stderr
            .contains("violates PodSecurity \"baseline:latest\": privileged"),
        "{}",
        out.stderr
    );
    // An exempt user passes.
    let out = k.apply(&dev, &pod("priv", PRIVILEGED, "{}"), &["--as", "jane"]);
    assert!(out.success, "{}", out.stderr);
    // So does anyone in an exempt namespace.
    let out = k.apply("ops", &pod("priv", PRIVILEGED, "{}"), &[]);
    assert!(out.success, "{}", out.stderr);
    assert!(!out.stderr.contains("Warning:"), "{}", out.stderr);
    // Labels on an exempt namespace are ignored, and kubectl says so.
    let out = k.label("ops", &["pod-security.kubernetes.io/enforce=restricted"]);
    assert!(out.success, "{}", out.stderr);
    assert!(
        out.stderr.contains("Warning: namespace \"ops\" is exempt from Pod Security, and the policy (enforce=restricted:latest) will be ignored"),
        "{}",
        out.stderr
    );
}
