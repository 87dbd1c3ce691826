//! The Node authorizer and NodeRestriction: what a kubelet, authenticated
//! as `system:node:<name>` in `system:nodes`, may do. It has an opinion
//! only on such users (everyone else goes on to the next mode):
//!
//! - Secrets and ConfigMaps: `get` of those a pod bound to the node
//!   references (volumes, env, envFrom, image pull secrets); a
//!   ServiceAccount token only for an account such a pod runs as.
//!   Everything else of that kind is refused: "no relationship found".
//!   Ours, not upstream's: every node may also read (by name) a Secret that
//!   `spec.tls` of an Ingress of the built-in class names, because every
//!   kubelet's ingress proxy serves those Ingresses
//!   ([`apimachinery::ingress_class::CONTROLLER`], docs/ingress.md). That
//!   way nodes need no RBAC grant on Secrets at all.
//! - PersistentVolumeClaims and PersistentVolumes: read (unlike upstream,
//!   whose nodes get only their pods' claims and volumes: here the kubelet
//!   is also the node's local-path provisioner, which watches them);
//!   volumes may be created and deleted, but only local-path volumes
//!   pinned to the node itself ([`admit_volume`], NodeRestriction's part).
//! - its own Node (and `nodes/status`) and its own Lease in
//!   `kube-node-lease` may be changed, other nodes only read;
//! - pods' status, deletion and eviction only for pods bound to it (what
//!   upstream's NodeRestriction admission adds to the authorizer);
//! - everything else a kubelet does is what `system:node` lists
//!   ([`super::bootstrap_policy::node_rules`]).
//!
//! Which pod is on which node and what it references is the [`NodeGraph`],
//! kept from the pods' watch cache like any informer ([`crate::storage::informer`]).

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use k8s_openapi::api::rbac::v1::PolicyRule;
use serde_json::Value;

use super::rbac::rule_allows;
use super::{Attributes, Decision};
use crate::storage::watch_cache::EventType;
use crate::ApiServer;

/// The group every node is in.
pub const NODES_GROUP: &str = "system:nodes";
/// The prefix of every node's user name.
pub const NODE_USER_PREFIX: &str = "system:node:";

/// What one pod ties to its node.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodRefs {
    /// `spec.nodeName` (empty: not scheduled).
    pub node: String,
    /// Secrets it references.
    pub secrets: BTreeSet<String>,
    /// ConfigMaps it references.
    pub configmaps: BTreeSet<String>,
    /// PersistentVolumeClaims it mounts.
    pub claims: BTreeSet<String>,
    /// Its ServiceAccount.
    pub service_account: String,
}

/// What a pod references, from its spec.
pub fn refs_of(pod: &Value) -> PodRefs {
    let s = |v: &Value, p: &str| {
        v.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let items = |v: &Value, p: &str| {
        v.pointer(p)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let mut refs = PodRefs {
        node: s(pod, "/spec/nodeName"),
        service_account: match s(pod, "/spec/serviceAccountName") {
            sa if sa.is_empty() => "default".into(),
            sa => sa,
        },
        ..Default::default()
    };
    let add = |set: &mut BTreeSet<String>, name: String| {
        if !name.is_empty() {
            set.insert(name);
        }
    };
    for ips in items(pod, "/spec/imagePullSecrets") {
        add(&mut refs.secrets, s(&ips, "/name"));
    }
    for vol in items(pod, "/spec/volumes") {
        add(&mut refs.secrets, s(&vol, "/secret/secretName"));
        add(&mut refs.configmaps, s(&vol, "/configMap/name"));
        add(
            &mut refs.claims,
            s(&vol, "/persistentVolumeClaim/claimName"),
        );
        for src in items(&vol, "/projected/sources") {
            add(&mut refs.secrets, s(&src, "/secret/name"));
            add(&mut refs.configmaps, s(&src, "/configMap/name"));
        }
    }
    for list in [
        "/spec/containers",
        "/spec/initContainers",
        "/spec/ephemeralContainers",
    ] {
        for c in items(pod, list) {
            for env in items(&c, "/env") {
                add(&mut refs.secrets, s(&env, "/valueFrom/secretKeyRef/name"));
                add(
                    &mut refs.configmaps,
                    s(&env, "/valueFrom/configMapKeyRef/name"),
                );
            }
            for from in items(&c, "/envFrom") {
                add(&mut refs.secrets, s(&from, "/secretRef/name"));
                add(&mut refs.configmaps, s(&from, "/configMapRef/name"));
            }
        }
    }
    refs
}

/// Pods by `(namespace, name)`, with what they tie to their node; and the
/// Ingresses and IngressClasses that decide which TLS Secrets every node's
/// ingress proxy may read.
#[derive(Debug, Default)]
pub struct NodeGraph {
    pods: Objects<PodRefs>,
    ingresses: Objects<Value>,
    ingress_classes: Objects<Value>,
}

/// What the graph keeps of each object of one kind, by `(namespace, name)`,
/// as its informer last saw it; and whether the kind was listed.
#[derive(Debug, Default)]
struct Objects<T> {
    items: RwLock<HashMap<(String, String), T>>,
    synced: AtomicBool,
}

fn key_of(object: &Value) -> (String, String) {
    let meta = |k: &str| {
        object
            .pointer(&format!("/metadata/{k}"))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    (meta("namespace"), meta("name"))
}

impl<T> Objects<T> {
    /// The map, also after a panicked writer: it holds plain data, whole
    /// after every insert or remove.
    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<(String, String), T>> {
        match self.items.write() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<(String, String), T>> {
        match self.items.read() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Adds, replaces or removes one object, kept as `keep` makes it.
    fn apply(&self, event: EventType, object: &Value, keep: impl Fn(&Value) -> T) {
        let key = key_of(object);
        if event == EventType::Deleted {
            self.write().remove(&key);
        } else {
            self.write().insert(key, keep(object));
        }
    }

    /// Replaces every object (after a list).
    fn replace(&self, objects: &[Value], keep: impl Fn(&Value) -> T) {
        let mut items = self.write();
        items.clear();
        items.extend(objects.iter().map(|o| (key_of(o), keep(o))));
        drop(items);
        self.synced.store(true, Ordering::Release);
    }
}

impl NodeGraph {
    /// Adds, replaces or removes one pod.
    pub fn apply(&self, event: EventType, pod: &Value) {
        self.pods.apply(event, pod, refs_of);
    }

    /// Replaces every pod (after a list).
    pub fn replace(&self, pods: &[Value]) {
        self.pods.replace(pods, refs_of);
    }

    /// Adds, replaces or removes one Ingress.
    pub fn apply_ingress(&self, event: EventType, ingress: &Value) {
        self.ingresses.apply(event, ingress, Value::clone);
    }

    /// Replaces every Ingress (after a list).
    pub fn replace_ingresses(&self, ingresses: &[Value]) {
        self.ingresses.replace(ingresses, Value::clone);
    }

    /// Adds, replaces or removes one IngressClass.
    pub fn apply_ingress_class(&self, event: EventType, class: &Value) {
        self.ingress_classes.apply(event, class, Value::clone);
    }

    /// Replaces every IngressClass (after a list).
    pub fn replace_ingress_classes(&self, classes: &[Value]) {
        self.ingress_classes.replace(classes, Value::clone);
    }

    /// Whether pods, Ingresses and IngressClasses were listed (or the graph
    /// is not used).
    pub fn is_ready(&self) -> bool {
        [
            &self.pods.synced,
            &self.ingresses.synced,
            &self.ingress_classes.synced,
        ]
        .iter()
        .all(|s| s.load(Ordering::Acquire))
    }

    /// Marks the graph ready without following anything (Node mode is off).
    pub fn mark_unused(&self) {
        for synced in [
            &self.pods.synced,
            &self.ingresses.synced,
            &self.ingress_classes.synced,
        ] {
            synced.store(true, Ordering::Release);
        }
    }

    /// Whether `spec.tls` of an Ingress in `namespace` that the built-in
    /// ingress proxy serves names the Secret `name`.
    fn ingress_tls_secret(&self, namespace: &str, name: &str) -> bool {
        let classes = self.ingress_classes.read();
        let class_refs: Vec<&Value> = classes.values().collect();
        self.ingresses.read().iter().any(|((ns, _), ingress)| {
            ns == namespace
                && ingress
                    .pointer("/spec/tls")
                    .and_then(Value::as_array)
                    .is_some_and(|tls| {
                        tls.iter()
                            .any(|t| t.get("secretName").and_then(Value::as_str) == Some(name))
                    })
                && apimachinery::ingress_class::handled_by(
                    ingress,
                    &class_refs,
                    apimachinery::ingress_class::CONTROLLER,
                )
        })
    }

    /// The node a pod is bound to.
    pub fn node_of(&self, namespace: &str, pod: &str) -> Option<String> {
        self.pods
            .read()
            .get(&(namespace.to_string(), pod.to_string()))
            .map(|p| p.node.clone())
    }

    /// Whether a pod bound to `node` in `namespace` has what `what` looks
    /// for.
    fn related(&self, node: &str, namespace: &str, what: impl Fn(&PodRefs) -> bool) -> bool {
        self.pods
            .read()
            .iter()
            .any(|((ns, _), refs)| ns == namespace && refs.node == node && what(refs))
    }
}

/// Starts following pods, Ingresses and IngressClasses into `server`'s
/// node graph.
pub fn start(server: &Arc<ApiServer>) {
    type OnList = fn(&NodeGraph, &[Value]);
    type OnEvent = fn(&NodeGraph, EventType, &Value);
    let kinds: [(&str, &str, OnList, OnEvent); 3] = [
        ("", "pods", NodeGraph::replace, NodeGraph::apply),
        (
            "networking.k8s.io",
            "ingresses",
            NodeGraph::replace_ingresses,
            NodeGraph::apply_ingress,
        ),
        (
            "networking.k8s.io",
            "ingressclasses",
            NodeGraph::replace_ingress_classes,
            NodeGraph::apply_ingress_class,
        ),
    ];
    for (group, plural, on_list, on_event) in kinds {
        let Some(resource) = apimachinery::resources::find(group, "v1", plural) else {
            tracing::error!(plural, "missing from the resource table");
            continue;
        };
        let (listed, changed) = (
            Arc::clone(&server.authorizer.nodes),
            Arc::clone(&server.authorizer.nodes),
        );
        tokio::spawn(crate::storage::informer::follow(
            server.store.clone(),
            server.cache(resource),
            server.stopping.subscribe(),
            resource,
            move |objects, _| on_list(&listed, objects),
            move |event, object, _| on_event(&changed, event, object),
        ));
    }
}

/// NodeRestriction for PersistentVolumes: a node creates or deletes only
/// volumes of the local-path provisioner pinned to itself by their node
/// affinity. Other users and kinds pass.
pub fn admit_volume(
    user: &crate::authentication::UserInfo,
    resource: &apimachinery::resources::ResourceInfo,
    volume: &Value,
) -> Result<(), crate::errors::ApiError> {
    let Some(node) = node_name(user) else {
        return Ok(());
    };
    if !resource.group.is_empty() || resource.plural != "persistentvolumes" {
        return Ok(());
    }
    let pv: Option<k8s_openapi::api::core::v1::PersistentVolume> =
        serde_json::from_value(volume.clone()).ok();
    let ok = pv.as_ref().is_some_and(|pv| {
        component_base::storage::pinned_node(pv) == Some(node)
            && pv
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(component_base::storage::ANN_PROVISIONED_BY))
                .map(String::as_str)
                == Some(component_base::storage::LOCAL_PATH_PROVISIONER)
    });
    if ok {
        return Ok(());
    }
    let name = volume
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    Err(crate::errors::ApiError::Forbidden(
        crate::errors::Target {
            group: String::new(),
            resource: "persistentvolumes".into(),
            name: name.into(),
        },
        format!(
            "persistentvolumes \"{name}\" is forbidden: node \"{node}\" may only create or delete {} volumes pinned to itself",
            component_base::storage::LOCAL_PATH_PROVISIONER
        ),
    ))
}

/// The node name of a kubelet identity.
pub fn node_name(user: &crate::authentication::UserInfo) -> Option<&str> {
    let name = user.username.strip_prefix(NODE_USER_PREFIX)?;
    (!name.is_empty() && user.groups.iter().any(|g| g == NODES_GROUP)).then_some(name)
}

fn node_rules() -> Vec<PolicyRule> {
    super::bootstrap_policy::node_rules()
        .into_iter()
        .filter_map(|r| serde_json::from_value(r).ok())
        .collect()
}

fn no_relationship(node: &str) -> Decision {
    Decision::deny(format!(
        "no relationship found between node '{node}' and this object"
    ))
}

/// The decision on a node's request; `None` for other users.
pub fn authorize(graph: &NodeGraph, a: &Attributes) -> Option<Decision> {
    let node = node_name(&a.user)?;
    let core = a.resource_request && a.api_group.is_empty();
    if core {
        let (ns, name) = (a.namespace.as_str(), a.name.as_str());
        let referenced = |pick: fn(&PodRefs) -> &BTreeSet<String>| {
            a.verb == "get"
                && !name.is_empty()
                && graph.related(node, ns, |r| pick(r).contains(name))
        };
        // The built-in ingress proxy's TLS Secrets, by name only (a get, or
        // a list/watch narrowed to the name).
        let ingress_tls = || {
            !name.is_empty()
                && matches!(a.verb.as_str(), "get" | "list" | "watch")
                && graph.ingress_tls_secret(ns, name)
        };
        let verdict = match (a.resource.as_str(), a.subresource.as_str()) {
            ("secrets", "") => Some(referenced(|r| &r.secrets) || ingress_tls()),
            ("configmaps", "") => Some(referenced(|r| &r.configmaps)),
            // The node's local-path provisioner watches claims and
            // volumes, and creates and deletes its own volumes
            // ([`admit_volume`] checks which).
            ("persistentvolumeclaims", "") | ("persistentvolumes", "")
                if matches!(a.verb.as_str(), "get" | "list" | "watch") =>
            {
                Some(true)
            }
            ("persistentvolumes", "") => Some(matches!(a.verb.as_str(), "create" | "delete")),
            ("persistentvolumes", _) => Some(false),
            ("serviceaccounts", "token") => {
                Some(a.verb == "create" && graph.related(node, ns, |r| r.service_account == name))
            }
            _ => None,
        };
        match verdict {
            Some(true) => return Some(Decision::allow("")),
            Some(false) => return Some(no_relationship(node)),
            None => {}
        }
        if a.resource == "nodes"
            && matches!(a.verb.as_str(), "update" | "patch" | "delete")
            && a.name != node
        {
            return Some(Decision::deny(format!(
                "node '{node}' cannot modify node '{}'",
                a.name
            )));
        }
        let changes_pod = matches!(
            (a.subresource.as_str(), a.verb.as_str()),
            ("status", "update" | "patch") | ("", "delete") | ("eviction", "create")
        );
        if a.resource == "pods" && changes_pod {
            let bound = graph.node_of(ns, name);
            if bound.as_deref() != Some(node) {
                return Some(Decision::deny(format!(
                    "node '{node}' can only change pods bound to it"
                )));
            }
        }
    }
    if a.resource_request
        && a.api_group == "coordination.k8s.io"
        && a.resource == "leases"
        && !matches!(a.verb.as_str(), "get" | "list" | "watch")
        && (a.namespace != "kube-node-lease" || (!a.name.is_empty() && a.name != node))
    {
        return Some(Decision::deny(format!(
            "node '{node}' can only change its own Lease"
        )));
    }
    if node_rules().iter().any(|r| rule_allows(r, a)) {
        return Some(Decision::allow(""));
    }
    Some(Decision::deny(""))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authentication::UserInfo;
    use http::Method;
    use serde_json::json;

    fn kubelet(name: &str) -> UserInfo {
        UserInfo::authenticated(format!("system:node:{name}"), vec![NODES_GROUP.into()])
    }

    fn graph() -> NodeGraph {
        let g = NodeGraph::default();
        g.replace(&[
            json!({"metadata": {"name": "web", "namespace": "dev"}, "spec": {
                "nodeName": "n1", "serviceAccountName": "robot",
                "imagePullSecrets": [{"name": "pull"}],
                "volumes": [{"name": "a", "secret": {"secretName": "s1"}},
                            {"name": "b", "projected": {"sources": [{"configMap": {"name": "cm1"}}]}},
                            {"name": "c", "persistentVolumeClaim": {"claimName": "data"}}],
                "containers": [{"name": "c", "env": [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "s-env", "key": "k"}}}],
                                "envFrom": [{"configMapRef": {"name": "cm-env"}}]}]}}),
            json!({"metadata": {"name": "db", "namespace": "dev"}, "spec": {
                "nodeName": "n2", "volumes": [{"name": "a", "secret": {"secretName": "s2"}}], "containers": []}}),
        ]);
        g
    }

    fn ask(g: &NodeGraph, user: UserInfo, method: Method, path: &str) -> Option<bool> {
        authorize(g, &Attributes::from_request(user, &method, path, false)).map(|d| d.allowed)
    }

    #[test]
    fn every_node_reads_the_tls_secrets_of_the_built_in_ingress_class() {
        let g = graph();
        g.replace_ingress_classes(&[
            json!({"metadata": {"name": "minik8s"},
                   "spec": {"controller": apimachinery::ingress_class::CONTROLLER}}),
            json!({"metadata": {"name": "nginx"}, "spec": {"controller": "k8s.io/ingress-nginx"}}),
        ]);
        g.replace_ingresses(&[
            json!({"metadata": {"name": "site", "namespace": "dev"},
                   "spec": {"ingressClassName": "minik8s", "tls": [{"secretName": "site-tls"}]}}),
            json!({"metadata": {"name": "other", "namespace": "dev"},
                   "spec": {"ingressClassName": "nginx", "tls": [{"secretName": "nginx-tls"}]}}),
        ]);
        let get = |node: &str, path: &str| ask(&g, kubelet(node), Method::GET, path);
        for node in ["n1", "n2", "n3"] {
            assert_eq!(
                get(node, "/api/v1/namespaces/dev/secrets/site-tls"),
                Some(true)
            );
            // A watch narrowed to the name is a read of that one Secret.
            let watch = Attributes::from_request(
                kubelet(node),
                &Method::GET,
                "/api/v1/namespaces/dev/secrets",
                true,
            )
            .with_field_selector_name(Some("fieldSelector=metadata.name%3Dsite-tls"));
            assert_eq!(authorize(&g, &watch).map(|d| d.allowed), Some(true));
        }
        for path in [
            // Another controller's Ingress, another namespace, the whole
            // list, a write.
            "/api/v1/namespaces/dev/secrets/nginx-tls",
            "/api/v1/namespaces/prod/secrets/site-tls",
            "/api/v1/namespaces/dev/secrets",
        ] {
            assert_eq!(get("n3", path), Some(false), "{path}");
        }
        assert_eq!(
            ask(
                &g,
                kubelet("n3"),
                Method::DELETE,
                "/api/v1/namespaces/dev/secrets/site-tls"
            ),
            Some(false)
        );
        // The Ingress gone, so is the grant.
        g.apply_ingress(
            EventType::Deleted,
            &json!({"metadata": {"name": "site", "namespace": "dev"}}),
        );
        assert_eq!(
            get("n1", "/api/v1/namespaces/dev/secrets/site-tls"),
            Some(false)
        );
    }

    #[test]
    fn a_node_reads_only_what_its_pods_reference() {
        let g = graph();
        for path in [
            "secrets/s1",
            "secrets/pull",
            "secrets/s-env",
            "configmaps/cm1",
            "configmaps/cm-env",
            "persistentvolumeclaims/data",
        ] {
            assert_eq!(
                ask(
                    &g,
                    kubelet("n1"),
                    Method::GET,
                    &format!("/api/v1/namespaces/dev/{path}")
                ),
                Some(true),
                "{path}"
            );
        }
        assert_eq!(
            ask(
                &g,
                kubelet("n1"),
                Method::GET,
                "/api/v1/namespaces/dev/secrets/s2"
            ),
            Some(false)
        );
        assert_eq!(
            ask(
                &g,
                kubelet("n2"),
                Method::GET,
                "/api/v1/namespaces/dev/secrets/s2"
            ),
            Some(true)
        );
        assert_eq!(
            ask(
                &g,
                kubelet("n1"),
                Method::GET,
                "/api/v1/namespaces/other/secrets/s1"
            ),
            Some(false)
        );
        assert_eq!(
            ask(
                &g,
                kubelet("n1"),
                Method::GET,
                "/api/v1/namespaces/dev/secrets"
            ),
            Some(false),
            "no lists"
        );
        assert_eq!(
            ask(
                &g,
                kubelet("n1"),
                Method::POST,
                "/api/v1/namespaces/dev/serviceaccounts/robot/token"
            ),
            Some(true)
        );
        assert_eq!(
            ask(
                &g,
                kubelet("n2"),
                Method::POST,
                "/api/v1/namespaces/dev/serviceaccounts/robot/token"
            ),
            Some(false)
        );
        let d = authorize(
            &g,
            &Attributes::from_request(
                kubelet("n1"),
                &Method::GET,
                "/api/v1/namespaces/dev/secrets/s2",
                false,
            ),
        );
        assert_eq!(
            d.map(|d| d.reason),
            Some("no relationship found between node 'n1' and this object".into())
        );
    }

    #[test]
    fn a_node_changes_only_itself_and_its_pods() {
        let g = graph();
        assert_eq!(
            ask(&g, kubelet("n1"), Method::PATCH, "/api/v1/nodes/n1/status"),
            Some(true)
        );
        assert_eq!(
            ask(&g, kubelet("n1"), Method::PATCH, "/api/v1/nodes/n2/status"),
            Some(false)
        );
        assert_eq!(
            ask(&g, kubelet("n1"), Method::GET, "/api/v1/nodes/n2"),
            Some(true)
        );
        assert_eq!(
            ask(
                &g,
                kubelet("n1"),
                Method::PUT,
                "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/n1"
            ),
            Some(true)
        );
        assert_eq!(
            ask(
                &g,
                kubelet("n1"),
                Method::PUT,
                "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/n2"
            ),
            Some(false)
        );
        assert_eq!(
            ask(
                &g,
                kubelet("n1"),
                Method::PATCH,
                "/api/v1/namespaces/dev/pods/web/status"
            ),
            Some(true)
        );
        assert_eq!(
            ask(
                &g,
                kubelet("n1"),
                Method::PATCH,
                "/api/v1/namespaces/dev/pods/db/status"
            ),
            Some(false)
        );
        assert_eq!(
            ask(
                &g,
                kubelet("n1"),
                Method::DELETE,
                "/api/v1/namespaces/dev/pods/db"
            ),
            Some(false)
        );
        assert_eq!(
            ask(
                &g,
                kubelet("n1"),
                Method::DELETE,
                "/api/v1/namespaces/dev/services/s"
            ),
            Some(false)
        );
        g.apply(
            EventType::Deleted,
            &json!({"metadata": {"name": "web", "namespace": "dev"}}),
        );
        assert_eq!(
            ask(
                &g,
                kubelet("n1"),
                Method::GET,
                "/api/v1/namespaces/dev/secrets/s1"
            ),
            Some(false),
            "the pod is gone"
        );
    }

    #[test]
    fn other_users_get_no_opinion() {
        let g = graph();
        assert_eq!(
            ask(
                &g,
                UserInfo::authenticated("jane", vec![]),
                Method::GET,
                "/api/v1/nodes"
            ),
            None
        );
        let not_in_group = UserInfo::authenticated("system:node:n1", vec![]);
        assert_eq!(ask(&g, not_in_group, Method::GET, "/api/v1/nodes"), None);
    }
}
