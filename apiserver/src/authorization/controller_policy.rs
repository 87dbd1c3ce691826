//! The roles of the controller-manager's controllers (upstream's
//! `controller_policy`): one ClusterRole `system:controller:<name>` per
//! controller, with only what that controller does, bound to the
//! ServiceAccount `kube-system/<name>`.
//!
//! They matter when the controller-manager runs with
//! `--use-service-account-credentials`: each controller then talks to the
//! apiserver with a token of its own ServiceAccount instead of the
//! controller-manager's identity, so the audit log and `managedFields` say
//! which controller made a change, and a controller can do no more than its
//! job (the deployment controller can touch ReplicaSets, not Secrets).
//! Without the flag every controller acts as `system:kube-controller-manager`
//! and these roles are unused. Part of the bootstrap policy
//! ([`super::bootstrap_policy`]), reconciled the same way.
//!
//! One difference from upstream's roles: our controllers write objects and
//! their status with JSON merge patches where upstream's send whole-object
//! updates, so every rule here that allows `update` allows `patch` of the
//! same resources too (either verb can change any field of them; nothing is
//! granted that update did not already allow). And our resourcequota
//! controller reads each quota afresh before counting (a charge admission
//! makes meanwhile then fails its status write instead of being lost), so
//! its role may also `get` ResourceQuotas.

use serde_json::{json, Value};

use super::rbac::GROUP;

/// The prefix of every controller role's name.
pub const ROLE_PREFIX: &str = "system:controller:";
/// Where the controllers' ServiceAccounts live.
pub const NAMESPACE: &str = "kube-system";

const LEGACY: &str = "";
const APPS: &str = "apps";
const EXTENSIONS: &str = "extensions";
const BATCH: &str = "batch";
const POLICY: &str = "policy";
const DISCOVERY: &str = "discovery.k8s.io";
const AUTOSCALING: &str = "autoscaling";
const STORAGE: &str = "storage.k8s.io";

/// A rule; `update` brings `patch` along (see the module docs).
fn rule(verbs: &[&str], groups: &[&str], resources: &[&str]) -> Value {
    let mut verbs = verbs.to_vec();
    if verbs.contains(&"update") && !verbs.contains(&"patch") {
        verbs.push("patch");
    }
    json!({"verbs": verbs, "apiGroups": groups, "resources": resources})
}

/// Every controller records Events.
fn events() -> Value {
    rule(
        &["create", "update", "patch"],
        &[LEGACY, "events.k8s.io"],
        &["events"],
    )
}

/// Both EndpointSlice controllers write slices...
fn endpointslice_writes() -> Value {
    rule(
        &["get", "list", "watch", "create", "update", "delete"],
        &[DISCOVERY],
        &["endpointslices"],
    )
}

/// ...including ones for endpoints the API keeps users from naming.
fn endpointslice_restricted() -> Value {
    rule(&["create"], &[DISCOVERY], &["endpointslices/restricted"])
}

/// The rules of each controller's role, by ServiceAccount name.
fn controller_rules() -> Vec<(&'static str, Vec<Value>)> {
    const READ: &[&str] = &["get", "list", "watch"];
    vec![
        (
            "cronjob-controller",
            vec![
                rule(&["get", "list", "watch", "update"], &[BATCH], &["cronjobs"]),
                rule(
                    &[
                        "get", "list", "watch", "create", "update", "delete", "patch",
                    ],
                    &[BATCH],
                    &["jobs"],
                ),
                rule(&["update"], &[BATCH], &["cronjobs/status"]),
                rule(&["update"], &[BATCH], &["cronjobs/finalizers"]),
                rule(&["list", "watch", "delete"], &[LEGACY], &["pods"]),
                events(),
            ],
        ),
        (
            "daemon-set-controller",
            vec![
                rule(READ, &[EXTENSIONS, APPS], &["daemonsets"]),
                rule(&["update"], &[EXTENSIONS, APPS], &["daemonsets/status"]),
                rule(&["update"], &[EXTENSIONS, APPS], &["daemonsets/finalizers"]),
                rule(&["list", "watch"], &[LEGACY], &["nodes"]),
                rule(
                    &["list", "watch", "create", "delete", "patch"],
                    &[LEGACY],
                    &["pods"],
                ),
                rule(&["create"], &[LEGACY], &["pods/binding"]),
                rule(
                    &[
                        "get", "list", "watch", "create", "delete", "update", "patch",
                    ],
                    &[APPS],
                    &["controllerrevisions"],
                ),
                events(),
            ],
        ),
        (
            "deployment-controller",
            vec![
                rule(
                    &["get", "list", "watch", "update"],
                    &[EXTENSIONS, APPS],
                    &["deployments"],
                ),
                rule(&["update"], &[EXTENSIONS, APPS], &["deployments/status"]),
                rule(
                    &["update"],
                    &[EXTENSIONS, APPS],
                    &["deployments/finalizers"],
                ),
                rule(
                    &[
                        "get", "list", "watch", "create", "update", "patch", "delete",
                    ],
                    &[APPS, EXTENSIONS],
                    &["replicasets"],
                ),
                rule(&["get", "list", "watch", "update"], &[LEGACY], &["pods"]),
                events(),
            ],
        ),
        (
            "disruption-controller",
            vec![
                rule(READ, &[EXTENSIONS, APPS], &["deployments"]),
                rule(READ, &[APPS, EXTENSIONS], &["replicasets"]),
                rule(READ, &[LEGACY], &["replicationcontrollers"]),
                rule(READ, &[POLICY], &["poddisruptionbudgets"]),
                rule(READ, &[APPS], &["statefulsets"]),
                rule(&["update"], &[POLICY], &["poddisruptionbudgets/status"]),
                rule(&["patch", "update"], &[LEGACY], &["pods/status"]),
                rule(&["get"], &["*"], &["*/scale"]),
                events(),
            ],
        ),
        (
            "endpoint-controller",
            vec![
                rule(READ, &[LEGACY], &["services", "pods"]),
                rule(
                    &["get", "list", "watch", "create", "update", "delete"],
                    &[LEGACY],
                    &["endpoints"],
                ),
                rule(&["create"], &[LEGACY], &["endpoints/restricted"]),
                events(),
            ],
        ),
        (
            "endpointslice-controller",
            vec![
                rule(READ, &[LEGACY], &["services", "pods", "nodes"]),
                rule(&["update"], &[LEGACY], &["services/finalizers"]),
                endpointslice_writes(),
                endpointslice_restricted(),
                events(),
            ],
        ),
        (
            "endpointslicemirroring-controller",
            vec![
                rule(READ, &[LEGACY], &["services", "endpoints"]),
                rule(&["update"], &[LEGACY], &["services/finalizers"]),
                rule(&["update"], &[LEGACY], &["endpoints/finalizers"]),
                endpointslice_writes(),
                endpointslice_restricted(),
                events(),
            ],
        ),
        (
            "generic-garbage-collector",
            vec![
                rule(
                    &["get", "list", "watch", "patch", "update", "delete"],
                    &["*"],
                    &["*"],
                ),
                events(),
            ],
        ),
        (
            "horizontal-pod-autoscaler",
            vec![
                rule(READ, &[AUTOSCALING], &["horizontalpodautoscalers"]),
                rule(
                    &["update"],
                    &[AUTOSCALING],
                    &["horizontalpodautoscalers/status"],
                ),
                rule(&["get", "update"], &["*"], &["*/scale"]),
                rule(&["list", "watch"], &[LEGACY], &["pods"]),
                rule(&["list", "watch"], &["metrics.k8s.io"], &["pods"]),
                rule(READ, &["custom.metrics.k8s.io"], &["*"]),
                rule(READ, &["external.metrics.k8s.io"], &["*"]),
                events(),
            ],
        ),
        (
            "job-controller",
            vec![
                rule(
                    &["get", "list", "watch", "update", "patch"],
                    &[BATCH],
                    &["jobs"],
                ),
                rule(&["update"], &[BATCH], &["jobs/status"]),
                rule(&["update"], &[BATCH], &["jobs/finalizers"]),
                rule(
                    &["list", "watch", "create", "delete", "patch"],
                    &[LEGACY],
                    &["pods"],
                ),
                events(),
            ],
        ),
        (
            "namespace-controller",
            vec![
                rule(
                    &["get", "list", "watch", "delete"],
                    &[LEGACY],
                    &["namespaces"],
                ),
                rule(
                    &["update"],
                    &[LEGACY],
                    &["namespaces/finalize", "namespaces/status"],
                ),
                rule(
                    &["get", "list", "watch", "delete", "deletecollection"],
                    &["*"],
                    &["*"],
                ),
            ],
        ),
        (
            "node-controller",
            vec![
                rule(
                    &["get", "list", "watch", "update", "delete", "patch"],
                    &[LEGACY],
                    &["nodes"],
                ),
                rule(&["patch", "update"], &[LEGACY], &["nodes/status"]),
                rule(&["patch", "update"], &[LEGACY], &["pods/status"]),
                rule(&["list", "watch", "get", "delete"], &[LEGACY], &["pods"]),
                events(),
            ],
        ),
        (
            "persistent-volume-binder",
            vec![
                rule(
                    &["get", "list", "watch", "update", "create", "delete"],
                    &[LEGACY],
                    &["persistentvolumes"],
                ),
                rule(&["update"], &[LEGACY], &["persistentvolumes/status"]),
                rule(
                    &["get", "list", "watch", "update"],
                    &[LEGACY],
                    &["persistentvolumeclaims"],
                ),
                rule(&["update"], &[LEGACY], &["persistentvolumeclaims/status"]),
                rule(
                    &["list", "watch", "get", "create", "delete"],
                    &[LEGACY],
                    &["pods"],
                ),
                rule(READ, &[STORAGE], &["storageclasses"]),
                rule(&["list", "watch"], &[LEGACY], &["nodes"]),
                events(),
                rule(&["watch"], &[LEGACY], &["events"]),
            ],
        ),
        (
            "pod-garbage-collector",
            vec![
                rule(&["list", "watch", "delete"], &[LEGACY], &["pods"]),
                rule(READ, &[LEGACY], &["nodes"]),
                rule(&["patch"], &[LEGACY], &["pods/status"]),
            ],
        ),
        (
            "replicaset-controller",
            vec![
                rule(
                    &["get", "list", "watch", "update"],
                    &[APPS, EXTENSIONS],
                    &["replicasets"],
                ),
                rule(&["update"], &[APPS, EXTENSIONS], &["replicasets/status"]),
                rule(
                    &["update"],
                    &[APPS, EXTENSIONS],
                    &["replicasets/finalizers"],
                ),
                rule(
                    &["list", "watch", "patch", "create", "delete"],
                    &[LEGACY],
                    &["pods"],
                ),
                events(),
            ],
        ),
        (
            "replication-controller",
            vec![
                rule(
                    &["get", "list", "watch", "update"],
                    &[LEGACY],
                    &["replicationcontrollers"],
                ),
                rule(&["update"], &[LEGACY], &["replicationcontrollers/status"]),
                rule(
                    &["update"],
                    &[LEGACY],
                    &["replicationcontrollers/finalizers"],
                ),
                rule(
                    &["list", "watch", "patch", "create", "delete"],
                    &[LEGACY],
                    &["pods"],
                ),
                events(),
            ],
        ),
        (
            "resourcequota-controller",
            vec![
                rule(&["list", "watch"], &["*"], &["*"]),
                // Ours reads the quota afresh before counting (upstream's
                // reads its cache): see the module docs.
                rule(&["get"], &[LEGACY], &["resourcequotas"]),
                rule(&["update"], &[LEGACY], &["resourcequotas/status"]),
                events(),
            ],
        ),
        (
            "service-account-controller",
            vec![rule(&["create"], &[LEGACY], &["serviceaccounts"]), events()],
        ),
        (
            "service-controller",
            vec![
                rule(READ, &[LEGACY], &["services"]),
                rule(&["patch", "update"], &[LEGACY], &["services/status"]),
                rule(&["list", "watch"], &[LEGACY], &["nodes"]),
                events(),
            ],
        ),
        (
            "statefulset-controller",
            vec![
                rule(&["list", "watch"], &[LEGACY], &["pods"]),
                rule(READ, &[APPS], &["statefulsets"]),
                rule(&["update"], &[APPS], &["statefulsets/status"]),
                rule(&["update"], &[APPS], &["statefulsets/finalizers"]),
                rule(
                    &["get", "create", "delete", "update", "patch"],
                    &[LEGACY],
                    &["pods"],
                ),
                rule(
                    &[
                        "get", "create", "delete", "update", "patch", "list", "watch",
                    ],
                    &[APPS],
                    &["controllerrevisions"],
                ),
                rule(
                    &["get", "create", "list", "watch"],
                    &[LEGACY],
                    &["persistentvolumeclaims"],
                ),
                rule(
                    &["update", "delete"],
                    &[LEGACY],
                    &["persistentvolumeclaims"],
                ),
                rule(&["update"], &[LEGACY], &["pods/finalizers"]),
                events(),
            ],
        ),
        (
            "pvc-protection-controller",
            vec![
                rule(
                    &["get", "list", "watch", "update"],
                    &[LEGACY],
                    &["persistentvolumeclaims"],
                ),
                rule(&["update"], &[LEGACY], &["persistentvolumeclaims/status"]),
                rule(&["list", "watch", "get"], &[LEGACY], &["pods"]),
                events(),
            ],
        ),
        (
            "pv-protection-controller",
            vec![
                rule(
                    &["get", "list", "watch", "update"],
                    &[LEGACY],
                    &["persistentvolumes"],
                ),
                events(),
            ],
        ),
        // The CSR approver and signer (upstream's certificate-controller):
        // read CSRs, write approvals and certificates, ask
        // SubjectAccessReviews, and approve and sign for the signers.
        (
            "certificate-controller",
            vec![
                rule(
                    &["delete", "get", "list", "watch"],
                    &["certificates.k8s.io"],
                    &["certificatesigningrequests"],
                ),
                rule(
                    &["update"],
                    &["certificates.k8s.io"],
                    &[
                        "certificatesigningrequests/approval",
                        "certificatesigningrequests/status",
                    ],
                ),
                rule(&["approve"], &["certificates.k8s.io"], &["signers"]),
                rule(&["sign"], &["certificates.k8s.io"], &["signers"]),
                rule(
                    &["create"],
                    &["authorization.k8s.io"],
                    &["subjectaccessreviews"],
                ),
                events(),
            ],
        ),
        (
            "root-ca-cert-publisher",
            vec![
                rule(&["create", "update"], &[LEGACY], &["configmaps"]),
                events(),
            ],
        ),
    ]
}

/// The controller roles: `system:controller:<name>`.
pub fn controller_roles() -> Vec<Value> {
    controller_rules()
        .into_iter()
        .map(|(name, rules)| {
            json!({"metadata": {"name": format!("{ROLE_PREFIX}{name}")}, "rules": rules})
        })
        .collect()
}

/// Their bindings, each to the ServiceAccount `kube-system/<name>`.
pub fn controller_role_bindings() -> Vec<Value> {
    controller_rules()
        .into_iter()
        .map(|(name, _)| {
            let role = format!("{ROLE_PREFIX}{name}");
            json!({
                "metadata": {"name": role},
                "roleRef": {"apiGroup": GROUP, "kind": "ClusterRole", "name": role},
                "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": NAMESPACE}],
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_role_is_bound_to_its_own_account() {
        let roles = controller_roles();
        let bindings = controller_role_bindings();
        assert_eq!(roles.len(), bindings.len());
        for (role, binding) in roles.iter().zip(&bindings) {
            let name = role["metadata"]["name"].as_str().expect("name");
            assert_eq!(binding["roleRef"]["name"], name);
            let account = binding["subjects"][0]["name"].as_str().expect("subject");
            assert_eq!(name, format!("{ROLE_PREFIX}{account}"));
            assert_eq!(binding["subjects"][0]["namespace"], NAMESPACE);
        }
        let mut names: Vec<String> = roles
            .iter()
            .map(|r| r["metadata"]["name"].to_string())
            .collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), roles.len(), "no role twice");
    }
}
