//! The RBAC policy every cluster starts with (upstream's bootstrap policy):
//! the user-facing roles (`cluster-admin`, `admin`, `edit`, `view`), what
//! every client needs (`system:discovery`, `system:basic-user`,
//! `system:public-info-viewer`), and the roles of the cluster's own
//! components (`system:node`, `system:kube-scheduler`,
//! `system:kube-controller-manager`, `system:node-proxier`,
//! `system:kubelet-api-admin`, ...) and of each controller
//! (`system:controller:<name>`, [`super::controller_policy`]), with the
//! bindings that give them out (`system:masters` -> `cluster-admin`), and
//! the few namespaced Roles upstream has in `kube-system`
//! (`extension-apiserver-authentication-reader`).
//!
//! [`reconcile`] runs at every start: a missing object is created; an
//! existing one marked `rbac.authorization.kubernetes.io/autoupdate: "true"`
//! gets back any rule or subject it lost (extra ones a user added stay);
//! one whose annotation says `"false"` is left exactly as the user made it.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use super::rbac::GROUP;
use crate::storage::StorageError;
use crate::ApiServer;

/// The annotation that lets the server restore a default object.
pub const AUTOUPDATE: &str = "rbac.authorization.kubernetes.io/autoupdate";

const READ: &[&str] = &["get", "list", "watch"];
const WRITE: &[&str] = &["create", "delete", "deletecollection", "patch", "update"];

fn rule(verbs: &[&str], groups: &[&str], resources: &[&str]) -> Value {
    json!({"verbs": verbs, "apiGroups": groups, "resources": resources})
}

fn named(verbs: &[&str], groups: &[&str], resources: &[&str], names: &[&str]) -> Value {
    json!({"verbs": verbs, "apiGroups": groups, "resources": resources, "resourceNames": names})
}

fn urls(verbs: &[&str], urls: &[&str]) -> Value {
    json!({"verbs": verbs, "nonResourceURLs": urls})
}

fn read_write() -> Vec<&'static str> {
    READ.iter().chain(WRITE).copied().collect()
}

fn aggregated(name: &str, to: &str, labels: Value) -> Value {
    json!({
        "metadata": {"name": name, "labels": labels},
        "aggregationRule": {"clusterRoleSelectors": [
            {"matchLabels": {format!("rbac.authorization.k8s.io/aggregate-to-{to}"): "true"}}
        ]},
        "rules": [],
    })
}

fn role(name: &str, rules: Vec<Value>) -> Value {
    json!({"metadata": {"name": name}, "rules": rules})
}

fn labelled_role(name: &str, label: &str, rules: Vec<Value>) -> Value {
    json!({
        "metadata": {"name": name, "labels": {format!("rbac.authorization.k8s.io/aggregate-to-{label}"): "true"}},
        "rules": rules,
    })
}

/// What `view` aggregates: read access to the namespaced workload objects,
/// but not Secrets or RBAC.
fn view_rules() -> Vec<Value> {
    vec![
        rule(
            READ,
            &[""],
            &[
                "pods",
                "pods/log",
                "pods/status",
                "replicationcontrollers",
                "replicationcontrollers/scale",
                "replicationcontrollers/status",
                "serviceaccounts",
                "services",
                "services/status",
                "endpoints",
                "persistentvolumeclaims",
                "persistentvolumeclaims/status",
                "configmaps",
                "limitranges",
                "resourcequotas",
                "resourcequotas/status",
                "bindings",
                "namespaces",
                "namespaces/status",
                "events",
            ],
        ),
        rule(READ, &["events.k8s.io"], &["events"]),
        rule(READ, &["discovery.k8s.io"], &["endpointslices"]),
        rule(
            READ,
            &["apps"],
            &[
                "controllerrevisions",
                "daemonsets",
                "daemonsets/status",
                "deployments",
                "deployments/scale",
                "deployments/status",
                "replicasets",
                "replicasets/scale",
                "replicasets/status",
                "statefulsets",
                "statefulsets/scale",
                "statefulsets/status",
            ],
        ),
        rule(
            READ,
            &["autoscaling"],
            &[
                "horizontalpodautoscalers",
                "horizontalpodautoscalers/status",
            ],
        ),
        rule(
            READ,
            &["batch"],
            &["cronjobs", "cronjobs/status", "jobs", "jobs/status"],
        ),
        rule(
            READ,
            &["policy"],
            &["poddisruptionbudgets", "poddisruptionbudgets/status"],
        ),
        rule(
            READ,
            &["networking.k8s.io"],
            &["ingresses", "ingresses/status", "networkpolicies"],
        ),
    ]
}

/// What `edit` adds: writing those objects, Secrets, and the pod
/// subresources that run things (exec, attach, port-forward).
fn edit_rules() -> Vec<Value> {
    let rw = read_write();
    vec![
        rule(
            READ,
            &[""],
            &[
                "pods/attach",
                "pods/exec",
                "pods/portforward",
                "pods/proxy",
                "secrets",
                "services/proxy",
            ],
        ),
        rule(&["impersonate"], &[""], &["serviceaccounts"]),
        rule(
            WRITE,
            &[""],
            &[
                "pods",
                "pods/attach",
                "pods/exec",
                "pods/portforward",
                "pods/proxy",
            ],
        ),
        rule(
            &["create"],
            &[""],
            &["pods/eviction", "serviceaccounts/token"],
        ),
        rule(
            WRITE,
            &[""],
            &[
                "configmaps",
                "events",
                "persistentvolumeclaims",
                "replicationcontrollers",
                "replicationcontrollers/scale",
                "secrets",
                "serviceaccounts",
                "services",
                "services/proxy",
            ],
        ),
        rule(WRITE, &["events.k8s.io"], &["events"]),
        rule(
            WRITE,
            &["apps"],
            &[
                "daemonsets",
                "deployments",
                "deployments/rollback",
                "deployments/scale",
                "replicasets",
                "replicasets/scale",
                "statefulsets",
                "statefulsets/scale",
            ],
        ),
        rule(WRITE, &["autoscaling"], &["horizontalpodautoscalers"]),
        rule(WRITE, &["batch"], &["cronjobs", "jobs"]),
        rule(WRITE, &["policy"], &["poddisruptionbudgets"]),
        rule(
            WRITE,
            &["networking.k8s.io"],
            &["ingresses", "networkpolicies"],
        ),
        rule(&rw, &["coordination.k8s.io"], &["leases"]),
    ]
}

/// What a kubelet needs (further narrowed to its own objects by the Node
/// authorizer when that is on).
pub fn node_rules() -> Vec<Value> {
    vec![
        rule(&["create"], &["authentication.k8s.io"], &["tokenreviews"]),
        rule(
            &["create"],
            &["authorization.k8s.io"],
            &["localsubjectaccessreviews", "subjectaccessreviews"],
        ),
        rule(READ, &[""], &["services"]),
        rule(&["create", "get", "list", "watch"], &[""], &["nodes"]),
        rule(&["patch", "update"], &[""], &["nodes", "nodes/status"]),
        rule(
            &["create", "patch", "update"],
            &["", "events.k8s.io"],
            &["events"],
        ),
        rule(READ, &[""], &["pods"]),
        rule(&["create", "delete"], &[""], &["pods"]),
        rule(&["patch", "update"], &[""], &["pods/status"]),
        rule(
            &["create"],
            &[""],
            &["pods/eviction", "serviceaccounts/token"],
        ),
        rule(READ, &[""], &["configmaps", "secrets"]),
        rule(
            &["get"],
            &[""],
            &["endpoints", "persistentvolumeclaims", "persistentvolumes"],
        ),
        rule(
            &["get", "update", "patch"],
            &[""],
            &["persistentvolumeclaims/status"],
        ),
        rule(
            &["create", "get", "list", "watch"],
            &["certificates.k8s.io"],
            &["certificatesigningrequests"],
        ),
        rule(
            &["create", "delete", "get", "patch", "update"],
            &["coordination.k8s.io"],
            &["leases"],
        ),
        rule(&["get"], &["storage.k8s.io"], &["volumeattachments"]),
        rule(READ, &["storage.k8s.io"], &["csidrivers"]),
        // Ours: the kubelet is the node's local-path provisioner, which
        // reads the classes of the claims it provisions.
        rule(READ, &["storage.k8s.io"], &["storageclasses"]),
        rule(
            &["create", "delete", "get", "patch", "update"],
            &["storage.k8s.io"],
            &["csinodes"],
        ),
        rule(READ, &["node.k8s.io"], &["runtimeclasses"]),
        rule(READ, &["discovery.k8s.io"], &["endpointslices"]),
        // Ours: the kubelet enforces NetworkPolicies for its pods (a
        // network plugin's agent upstream, with a role of its own), which
        // select peers by namespace labels.
        rule(READ, &["networking.k8s.io"], &["networkpolicies"]),
        rule(READ, &[""], &["namespaces"]),
    ]
}

/// The default ClusterRoles.
pub fn cluster_roles() -> Vec<Value> {
    let rw = read_write();
    let mut roles = vec![
        role(
            "cluster-admin",
            vec![rule(&["*"], &["*"], &["*"]), urls(&["*"], &["*"])],
        ),
        role(
            "system:discovery",
            vec![urls(
                &["get"],
                &[
                    "/api",
                    "/api/*",
                    "/apis",
                    "/apis/*",
                    "/healthz",
                    "/livez",
                    "/openapi",
                    "/openapi/*",
                    "/readyz",
                    "/version",
                    "/version/",
                ],
            )],
        ),
        role(
            "system:public-info-viewer",
            vec![urls(
                &["get"],
                &["/healthz", "/livez", "/readyz", "/version", "/version/"],
            )],
        ),
        role(
            "system:service-account-issuer-discovery",
            vec![urls(
                &["get"],
                &[
                    "/.well-known/openid-configuration",
                    "/.well-known/openid-configuration/",
                    "/openid/v1/jwks",
                    "/openid/v1/jwks/",
                ],
            )],
        ),
        role(
            "system:basic-user",
            vec![
                rule(
                    &["create"],
                    &["authorization.k8s.io"],
                    &["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
                ),
                rule(
                    &["create"],
                    &["authentication.k8s.io"],
                    &["selfsubjectreviews"],
                ),
            ],
        ),
        role(
            "system:monitoring",
            vec![
                urls(
                    &["get"],
                    &[
                        "/healthz",
                        "/healthz/*",
                        "/livez",
                        "/livez/*",
                        "/metrics",
                        "/metrics/slis",
                        "/readyz",
                        "/readyz/*",
                    ],
                ),
                rule(&["get"], &[""], &["nodes/metrics"]),
            ],
        ),
        aggregated("admin", "admin", json!({})),
        aggregated(
            "edit",
            "edit",
            json!({"rbac.authorization.k8s.io/aggregate-to-admin": "true"}),
        ),
        aggregated(
            "view",
            "view",
            json!({"rbac.authorization.k8s.io/aggregate-to-edit": "true"}),
        ),
        labelled_role(
            "system:aggregate-to-admin",
            "admin",
            vec![
                rule(
                    &["create"],
                    &["authorization.k8s.io"],
                    &["localsubjectaccessreviews"],
                ),
                rule(&rw, &[GROUP], &["rolebindings", "roles"]),
            ],
        ),
        labelled_role("system:aggregate-to-edit", "edit", edit_rules()),
        labelled_role("system:aggregate-to-view", "view", view_rules()),
        // metrics-server installs this role with its APIService; the
        // apiserver serves metrics.k8s.io itself here, so it is a default
        // (through view, edit and admin may read metrics too).
        labelled_role(
            "system:aggregated-metrics-reader",
            "view",
            vec![rule(
                &["get", "list", "watch"],
                &["metrics.k8s.io"],
                &["pods", "nodes"],
            )],
        ),
        role("system:node", node_rules()),
        role(
            "system:node-proxier",
            vec![
                rule(&["list", "watch"], &[""], &["endpoints", "services"]),
                rule(&["get", "list", "watch"], &[""], &["nodes"]),
                rule(
                    &["create", "patch", "update"],
                    &["", "events.k8s.io"],
                    &["events"],
                ),
                rule(
                    &["list", "watch"],
                    &["discovery.k8s.io"],
                    &["endpointslices"],
                ),
            ],
        ),
        // Full use of the kubelet API (what a kubelet's SubjectAccessReview
        // asks for: nodes/proxy for exec, logs, port-forward ...); installs
        // bind it to the apiserver's --kubelet-client-certificate user.
        role(
            "system:kubelet-api-admin",
            vec![
                rule(&["get", "list", "watch"], &[""], &["nodes"]),
                rule(&["proxy"], &[""], &["nodes"]),
                rule(
                    &["*"],
                    &[""],
                    &[
                        "nodes/proxy",
                        "nodes/metrics",
                        "nodes/stats",
                        "nodes/log",
                        "nodes/pods",
                        "nodes/healthz",
                        "nodes/configz",
                    ],
                ),
            ],
        ),
        role(
            "system:node-bootstrapper",
            vec![rule(
                &["create", "get", "list", "watch"],
                &["certificates.k8s.io"],
                &["certificatesigningrequests"],
            )],
        ),
        // What the CSR approver asks for (upstream's names): a bootstrap
        // token's group bound to `nodeclient` gets its first node client
        // certificate approved; `system:nodes` bound to `selfnodeclient`
        // gets its renewals approved (kubeadm makes both bindings).
        role(
            "system:certificates.k8s.io:certificatesigningrequests:nodeclient",
            vec![rule(
                &["create"],
                &["certificates.k8s.io"],
                &["certificatesigningrequests/nodeclient"],
            )],
        ),
        role(
            "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient",
            vec![rule(
                &["create"],
                &["certificates.k8s.io"],
                &["certificatesigningrequests/selfnodeclient"],
            )],
        ),
        role(
            "system:certificates.k8s.io:kube-apiserver-client-approver",
            vec![named(
                &["approve"],
                &["certificates.k8s.io"],
                &["signers"],
                &["kubernetes.io/kube-apiserver-client"],
            )],
        ),
        role(
            "system:certificates.k8s.io:kube-apiserver-client-kubelet-approver",
            vec![named(
                &["approve"],
                &["certificates.k8s.io"],
                &["signers"],
                &["kubernetes.io/kube-apiserver-client-kubelet"],
            )],
        ),
        role(
            "system:certificates.k8s.io:kubelet-serving-approver",
            vec![named(
                &["approve"],
                &["certificates.k8s.io"],
                &["signers"],
                &["kubernetes.io/kubelet-serving"],
            )],
        ),
        role(
            "system:auth-delegator",
            vec![
                rule(&["create"], &["authentication.k8s.io"], &["tokenreviews"]),
                rule(
                    &["create"],
                    &["authorization.k8s.io"],
                    &["subjectaccessreviews"],
                ),
            ],
        ),
        role(
            "system:kube-dns",
            vec![rule(&["list", "watch"], &[""], &["endpoints", "services"])],
        ),
        role(
            "system:kube-scheduler",
            vec![
                rule(
                    &["create", "patch", "update"],
                    &["", "events.k8s.io"],
                    &["events"],
                ),
                rule(&["create"], &["coordination.k8s.io"], &["leases"]),
                named(
                    &["get", "list", "update", "watch"],
                    &["coordination.k8s.io"],
                    &["leases"],
                    &["kube-scheduler"],
                ),
                rule(
                    READ,
                    &[""],
                    &[
                        "namespaces",
                        "nodes",
                        "persistentvolumeclaims",
                        "persistentvolumes",
                        "replicationcontrollers",
                        "services",
                    ],
                ),
                rule(&["delete", "get", "list", "watch"], &[""], &["pods"]),
                rule(&["create"], &[""], &["bindings", "pods/binding"]),
                rule(&["patch", "update"], &[""], &["pods/status"]),
                rule(READ, &["apps"], &["replicasets", "statefulsets"]),
                rule(READ, &["policy"], &["poddisruptionbudgets"]),
                // Ours: the scheduler caches PriorityClasses for preemption
                // (upstream's reads only the pods' spec.priority).
                rule(READ, &["scheduling.k8s.io"], &["priorityclasses"]),
                rule(
                    READ,
                    &["storage.k8s.io"],
                    &[
                        "csidrivers",
                        "csinodes",
                        "csistoragecapacities",
                        "storageclasses",
                        "volumeattachments",
                    ],
                ),
                rule(&["create"], &["authentication.k8s.io"], &["tokenreviews"]),
                rule(
                    &["create"],
                    &["authorization.k8s.io"],
                    &["subjectaccessreviews"],
                ),
            ],
        ),
        role(
            "system:volume-scheduler",
            vec![
                rule(
                    &["get", "list", "patch", "update", "watch"],
                    &[""],
                    &["persistentvolumes"],
                ),
                rule(READ, &["storage.k8s.io"], &["storageclasses"]),
                rule(
                    &["get", "list", "patch", "update", "watch"],
                    &[""],
                    &["persistentvolumeclaims"],
                ),
            ],
        ),
        role(
            "system:kube-controller-manager",
            vec![
                rule(
                    &["create", "patch", "update"],
                    &["", "events.k8s.io"],
                    &["events"],
                ),
                rule(&["create"], &["coordination.k8s.io"], &["leases"]),
                named(
                    &["get", "update"],
                    &["coordination.k8s.io"],
                    &["leases"],
                    &["kube-controller-manager"],
                ),
                rule(
                    &["create", "get", "update"],
                    &[""],
                    &["secrets", "serviceaccounts"],
                ),
                rule(&["delete"], &[""], &["secrets"]),
                rule(&["get"], &[""], &["configmaps", "namespaces"]),
                rule(&["list", "watch"], &["*"], &["*"]),
                rule(&["create"], &["authentication.k8s.io"], &["tokenreviews"]),
                rule(
                    &["create"],
                    &["authorization.k8s.io"],
                    &["subjectaccessreviews"],
                ),
                rule(&["create"], &[""], &["serviceaccounts/token"]),
            ],
        ),
    ];
    roles.extend(super::controller_policy::controller_roles());
    roles
}

/// The default Roles in `kube-system`: reading the
/// `extension-apiserver-authentication` ConfigMap, which extension
/// apiservers need to trust the aggregator's proxy
/// ([`crate::aggregator::authentication_trust`]).
///
/// And, as upstream, the roles of the controllers that may touch only one
/// or two namespaces: the bootstrap signer (bootstrap token Secrets in
/// `kube-system`, `cluster-info` in `kube-public`) and the token cleaner.
pub fn namespaced_roles() -> Vec<Value> {
    let events = rule(
        &["create", "patch", "update"],
        &["", "events.k8s.io"],
        &["events"],
    );
    vec![
        json!({
            "metadata": {"name": "extension-apiserver-authentication-reader", "namespace": "kube-system"},
            "rules": [named(
                &["get", "list", "watch"],
                &[""],
                &["configmaps"],
                &["extension-apiserver-authentication"],
            )],
        }),
        json!({
            "metadata": {"name": "system:controller:bootstrap-signer", "namespace": "kube-system"},
            "rules": [rule(&["get", "list", "watch"], &[""], &["secrets"])],
        }),
        json!({
            "metadata": {"name": "system:controller:bootstrap-signer", "namespace": "kube-public"},
            "rules": [
                rule(&["get", "list", "watch"], &[""], &["configmaps"]),
                named(&["update"], &[""], &["configmaps"], &["cluster-info"]),
                events.clone(),
            ],
        }),
        json!({
            "metadata": {"name": "system:controller:token-cleaner", "namespace": "kube-system"},
            "rules": [rule(&["delete", "get", "list", "watch"], &[""], &["secrets"]), events],
        }),
    ]
}

/// The default RoleBindings in `kube-system`.
pub fn namespaced_role_bindings() -> Vec<Value> {
    let controller = |name: &str, account: &str, namespace: &str| {
        json!({
            "metadata": {"name": name, "namespace": namespace},
            "roleRef": {"apiGroup": GROUP, "kind": "Role", "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": "kube-system"}],
        })
    };
    vec![
        json!({
            "metadata": {"name": "system::extension-apiserver-authentication-reader", "namespace": "kube-system"},
            "roleRef": {"apiGroup": GROUP, "kind": "Role", "name": "extension-apiserver-authentication-reader"},
            "subjects": [user("system:kube-controller-manager"), user("system:kube-scheduler")],
        }),
        controller(
            "system:controller:bootstrap-signer",
            "bootstrap-signer",
            "kube-system",
        ),
        controller(
            "system:controller:bootstrap-signer",
            "bootstrap-signer",
            "kube-public",
        ),
        controller(
            "system:controller:token-cleaner",
            "token-cleaner",
            "kube-system",
        ),
    ]
}

fn binding(name: &str, role: &str, subjects: Value) -> Value {
    json!({
        "metadata": {"name": name},
        "roleRef": {"apiGroup": GROUP, "kind": "ClusterRole", "name": role},
        "subjects": subjects,
    })
}

fn group(name: &str) -> Value {
    json!({"apiGroup": GROUP, "kind": "Group", "name": name})
}

fn user(name: &str) -> Value {
    json!({"apiGroup": GROUP, "kind": "User", "name": name})
}

/// The default ClusterRoleBindings.
pub fn cluster_role_bindings() -> Vec<Value> {
    let mut bindings = vec![
        binding(
            "cluster-admin",
            "cluster-admin",
            json!([group("system:masters")]),
        ),
        binding(
            "system:monitoring",
            "system:monitoring",
            json!([group("system:monitoring")]),
        ),
        binding(
            "system:discovery",
            "system:discovery",
            json!([group("system:authenticated")]),
        ),
        binding(
            "system:basic-user",
            "system:basic-user",
            json!([group("system:authenticated")]),
        ),
        binding(
            "system:public-info-viewer",
            "system:public-info-viewer",
            json!([
                group("system:authenticated"),
                group("system:unauthenticated")
            ]),
        ),
        binding(
            "system:service-account-issuer-discovery",
            "system:service-account-issuer-discovery",
            json!([group("system:serviceaccounts")]),
        ),
        binding(
            "system:node-proxier",
            "system:node-proxier",
            json!([user("system:kube-proxy")]),
        ),
        binding(
            "system:kube-dns",
            "system:kube-dns",
            json!([{"kind": "ServiceAccount", "name": "kube-dns", "namespace": "kube-system"}]),
        ),
        binding(
            "system:kube-scheduler",
            "system:kube-scheduler",
            json!([user("system:kube-scheduler")]),
        ),
        binding(
            "system:volume-scheduler",
            "system:volume-scheduler",
            json!([user("system:kube-scheduler")]),
        ),
        binding(
            "system:kube-controller-manager",
            "system:kube-controller-manager",
            json!([user("system:kube-controller-manager")]),
        ),
        // Nodes get their rules from the Node authorizer; the binding
        // exists with no subjects, as upstream.
        binding("system:node", "system:node", json!([])),
    ];
    bindings.extend(super::controller_policy::controller_role_bindings());
    bindings
}

/// Stamps the labels and the autoupdate annotation every default object
/// carries.
fn with_defaults(mut obj: Value, kind: &str) -> Value {
    obj["apiVersion"] = json!(format!("{GROUP}/v1"));
    obj["kind"] = json!(kind);
    let meta = &mut obj["metadata"];
    if !meta["labels"].is_object() {
        meta["labels"] = json!({});
    }
    meta["labels"]["kubernetes.io/bootstrapping"] = json!("rbac-defaults");
    meta["annotations"] = json!({AUTOUPDATE: "true"});
    obj
}

/// Adds to `current[field]` the entries of `desired[field]` it lacks;
/// whether anything was added.
fn add_missing(current: &mut Value, desired: &Value, field: &str) -> bool {
    let wanted = desired[field].as_array().cloned().unwrap_or_default();
    if !current[field].is_array() {
        current[field] = json!([]);
    }
    let Some(have) = current[field].as_array_mut() else {
        return false;
    };
    let mut changed = false;
    for w in wanted {
        if !have.contains(&w) {
            have.push(w);
            changed = true;
        }
    }
    changed
}

/// Creates or repairs one default object; false while etcd is away.
async fn ensure(
    server: &ApiServer,
    plural: &str,
    kind: &str,
    desired: Value,
    fields: &[&str],
) -> bool {
    let Some(res) = apimachinery::resources::find(GROUP, "v1", plural) else {
        return true;
    };
    let name = desired["metadata"]["name"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let namespace = desired["metadata"]["namespace"]
        .as_str()
        .map(str::to_string);
    let key = server
        .store
        .key(res.storage_name(), namespace.as_deref(), &name);
    let desired = with_defaults(desired, kind);
    for _ in 0..5 {
        match server.store.get(&key).await {
            Ok(None) => {
                let mut obj = desired.clone();
                crate::registry::prepare_for_create(
                    res,
                    &mut obj,
                    &uuid::Uuid::new_v4().to_string(),
                );
                match server.store.create(&key, &obj, None).await {
                    Ok(_) => {
                        tracing::info!(kind, name, "created bootstrap RBAC object");
                        return true;
                    }
                    Err(StorageError::AlreadyExists) => continue,
                    Err(_) => return false,
                }
            }
            Ok(Some(current)) => {
                let mut obj = current.object;
                let autoupdate = obj
                    .pointer(&format!(
                        "/metadata/annotations/{}",
                        AUTOUPDATE.replace('/', "~1")
                    ))
                    .and_then(Value::as_str);
                if autoupdate == Some("false") {
                    return true;
                }
                let mut changed = false;
                for field in fields {
                    changed |= add_missing(&mut obj, &desired, field);
                }
                if desired.get("aggregationRule").is_some()
                    && obj.get("aggregationRule") != desired.get("aggregationRule")
                {
                    obj["aggregationRule"] = desired["aggregationRule"].clone();
                    changed = true;
                }
                if !changed {
                    return true;
                }
                match server.store.update(&key, &obj, current.mod_revision).await {
                    Ok(_) => {
                        tracing::info!(kind, name, "reconciled bootstrap RBAC object");
                        return true;
                    }
                    Err(StorageError::Conflict) => continue,
                    Err(_) => return false,
                }
            }
            Err(_) => return false,
        }
    }
    true
}

/// Creates and reconciles the whole policy, retrying until etcd answers;
/// marks RBAC ready when done.
pub async fn reconcile(server: Arc<ApiServer>) {
    let mut delay = Duration::from_millis(100);
    loop {
        let mut ok = true;
        for role in cluster_roles() {
            // An aggregated role's rules belong to the aggregation
            // controller; only its selectors are the policy's.
            let fields: &[&str] = if role.get("aggregationRule").is_some() {
                &[]
            } else {
                &["rules"]
            };
            ok &= ensure(&server, "clusterroles", "ClusterRole", role, fields).await;
        }
        for b in cluster_role_bindings() {
            ok &= ensure(
                &server,
                "clusterrolebindings",
                "ClusterRoleBinding",
                b,
                &["subjects"],
            )
            .await;
        }
        for role in namespaced_roles() {
            ok &= ensure(&server, "roles", "Role", role, &["rules"]).await;
        }
        for b in namespaced_role_bindings() {
            ok &= ensure(&server, "rolebindings", "RoleBinding", b, &["subjects"]).await;
        }
        if ok {
            server
                .authorizer
                .rbac
                .policy_ready
                .store(true, Ordering::Release);
            return;
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(2));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_default_role_parses_as_a_cluster_role() {
        for r in cluster_roles() {
            let r = with_defaults(r, "ClusterRole");
            let parsed: Result<k8s_openapi::api::rbac::v1::ClusterRole, _> =
                serde_json::from_value(r.clone());
            assert!(parsed.is_ok(), "{r}");
        }
        for b in cluster_role_bindings() {
            let b = with_defaults(b, "ClusterRoleBinding");
            let parsed: Result<k8s_openapi::api::rbac::v1::ClusterRoleBinding, _> =
                serde_json::from_value(b.clone());
            assert!(parsed.is_ok(), "{b}");
        }
    }

    #[test]
    fn reconciling_adds_lost_entries_and_keeps_extra_ones() {
        let desired = json!({"rules": [{"verbs": ["get"]}, {"verbs": ["list"]}]});
        let mut current = json!({"rules": [{"verbs": ["get"]}, {"verbs": ["delete"]}]});
        assert!(add_missing(&mut current, &desired, "rules"));
        assert_eq!(
            current["rules"],
            json!([{"verbs": ["get"]}, {"verbs": ["delete"]}, {"verbs": ["list"]}])
        );
        assert!(!add_missing(&mut current, &desired, "rules"));
    }
}
