//! Role-based access control: who may do what, from the Roles,
//! ClusterRoles, RoleBindings and ClusterRoleBindings in etcd.
//!
//! [`Rbac`] keeps the four kinds in memory, fed like an informer (a list,
//! then the resource's watch cache from that revision; relisted when the
//! cache resets), so a decision never waits for etcd. A request is allowed
//! when any rule reaches it:
//!
//! ```text
//! ClusterRoleBinding --subject matches--> ClusterRole rules, everywhere
//! RoleBinding in ns  --subject matches--> Role (in ns) or ClusterRole rules,
//!                                         for requests in ns only
//! ```
//!
//! A rule matches a resource request when its verbs, apiGroups, resources
//! (`pods`, `pods/log`, `*/scale`, `*`) and resourceNames (when given) all
//! do; a path request when its verbs and nonResourceURLs (`/healthz`,
//! `/api/*`, `*`) do. There is no deny rule: RBAC only ever adds.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use k8s_openapi::api::rbac::v1::{
    ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef, Subject,
};
use serde_json::{json, Value};

use super::{Attributes, Decision};
use crate::authentication::UserInfo;
use crate::storage::watch_cache::EventType;
use crate::ApiServer;

/// The API group of RBAC.
pub const GROUP: &str = "rbac.authorization.k8s.io";

/// The four kinds RBAC reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Namespaced rules.
    Role,
    /// Cluster-wide rules.
    ClusterRole,
    /// Grants a Role or ClusterRole in one namespace.
    RoleBinding,
    /// Grants a ClusterRole everywhere.
    ClusterRoleBinding,
}

impl Kind {
    /// Every kind.
    pub const ALL: [Kind; 4] = [
        Kind::Role,
        Kind::ClusterRole,
        Kind::RoleBinding,
        Kind::ClusterRoleBinding,
    ];

    /// The plural resource name.
    pub fn plural(self) -> &'static str {
        match self {
            Kind::Role => "roles",
            Kind::ClusterRole => "clusterroles",
            Kind::RoleBinding => "rolebindings",
            Kind::ClusterRoleBinding => "clusterrolebindings",
        }
    }

    fn index(self) -> usize {
        match self {
            Kind::Role => 0,
            Kind::ClusterRole => 1,
            Kind::RoleBinding => 2,
            Kind::ClusterRoleBinding => 3,
        }
    }
}

/// `(namespace, name)`; the namespace is empty for cluster-scoped kinds.
type Key = (String, String);

#[derive(Debug, Default)]
struct State {
    roles: HashMap<Key, Role>,
    cluster_roles: HashMap<String, ClusterRole>,
    role_bindings: HashMap<Key, RoleBinding>,
    cluster_role_bindings: HashMap<String, ClusterRoleBinding>,
}

/// The RBAC objects, kept current (see the module docs).
#[derive(Debug)]
pub struct Rbac {
    state: RwLock<State>,
    /// Per kind: listed at least once.
    synced: [std::sync::atomic::AtomicBool; 4],
    /// The bootstrap policy is in place (or RBAC is off).
    pub policy_ready: std::sync::atomic::AtomicBool,
    /// Wakes the aggregation controller when ClusterRoles change.
    pub cluster_roles_changed: tokio::sync::Notify,
}

impl Default for Rbac {
    fn default() -> Rbac {
        Rbac {
            state: RwLock::default(),
            synced: Default::default(),
            policy_ready: std::sync::atomic::AtomicBool::new(false),
            cluster_roles_changed: tokio::sync::Notify::new(),
        }
    }
}

/// Whether `subject` names `user` (a ServiceAccount subject without a
/// namespace is in `binding_ns`).
pub fn subject_matches(subject: &Subject, user: &UserInfo, binding_ns: &str) -> bool {
    match subject.kind.as_str() {
        "User" => subject.name == user.username,
        "Group" => user.groups.contains(&subject.name),
        "ServiceAccount" => {
            let ns = subject
                .namespace
                .as_deref()
                .filter(|n| !n.is_empty())
                .unwrap_or(binding_ns);
            user.username == format!("system:serviceaccount:{ns}:{}", subject.name)
        }
        _ => false,
    }
}

fn has(list: &Option<Vec<String>>, value: &str, wildcard: bool) -> bool {
    list.as_deref()
        .unwrap_or_default()
        .iter()
        .any(|v| v == value || (wildcard && v == "*"))
}

/// Whether one rule reaches the request.
pub fn rule_allows(rule: &PolicyRule, a: &Attributes) -> bool {
    if !rule.verbs.iter().any(|v| v == "*" || *v == a.verb) {
        return false;
    }
    if !a.resource_request {
        return rule
            .non_resource_urls
            .as_deref()
            .unwrap_or_default()
            .iter()
            .any(|u| {
                u == "*"
                    || *u == a.path
                    || u.strip_suffix('*')
                        .is_some_and(|prefix| a.path.starts_with(prefix))
            });
    }
    if !has(&rule.api_groups, &a.api_group, true) {
        return false;
    }
    let combined = if a.subresource.is_empty() {
        a.resource.clone()
    } else {
        format!("{}/{}", a.resource, a.subresource)
    };
    let resource_ok = rule
        .resources
        .as_deref()
        .unwrap_or_default()
        .iter()
        .any(|r| {
            r == "*"
                || *r == combined
                || (!a.subresource.is_empty()
                    && r.strip_prefix("*/").is_some_and(|s| s == a.subresource))
        });
    if !resource_ok {
        return false;
    }
    match rule.resource_names.as_deref() {
        None | Some([]) => true,
        Some(names) => !a.name.is_empty() && names.contains(&a.name),
    }
}

impl Rbac {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        match self.state.read() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        match self.state.write() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Whether every kind was listed and the bootstrap policy is in place.
    pub fn is_ready(&self) -> bool {
        self.synced
            .iter()
            .all(|s| s.load(std::sync::atomic::Ordering::Acquire))
            && self.policy_ready.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Marks RBAC as ready without following etcd (RBAC is off).
    pub fn mark_unused(&self) {
        for s in &self.synced {
            s.store(true, std::sync::atomic::Ordering::Release);
        }
        self.policy_ready
            .store(true, std::sync::atomic::Ordering::Release);
    }

    /// Adds, replaces or removes one object.
    pub fn apply(&self, kind: Kind, event: EventType, obj: &Value) {
        let meta = |k: &str| {
            obj.pointer(&format!("/metadata/{k}"))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let key = (meta("namespace"), meta("name"));
        let deleted = event == EventType::Deleted;
        let mut state = self.write();
        macro_rules! put {
            ($map:expr, $key:expr) => {
                if deleted {
                    $map.remove(&$key);
                } else {
                    match serde_json::from_value(obj.clone()) {
                        Ok(v) => {
                            $map.insert($key, v);
                        }
                        Err(e) => {
                            tracing::warn!(kind = kind.plural(), name = %key.1, error = %e, "ignoring an undecodable RBAC object");
                            $map.remove(&$key);
                        }
                    }
                }
            };
        }
        match kind {
            Kind::Role => put!(state.roles, key),
            Kind::ClusterRole => put!(state.cluster_roles, key.1.clone()),
            Kind::RoleBinding => put!(state.role_bindings, key),
            Kind::ClusterRoleBinding => put!(state.cluster_role_bindings, key.1.clone()),
        }
        drop(state);
        if kind == Kind::ClusterRole {
            self.cluster_roles_changed.notify_one();
        }
    }

    /// Replaces every object of a kind (after a list).
    pub fn replace(&self, kind: Kind, objects: &[Value]) {
        {
            let mut state = self.write();
            match kind {
                Kind::Role => state.roles.clear(),
                Kind::ClusterRole => state.cluster_roles.clear(),
                Kind::RoleBinding => state.role_bindings.clear(),
                Kind::ClusterRoleBinding => state.cluster_role_bindings.clear(),
            }
        }
        for obj in objects {
            self.apply(kind, EventType::Added, obj);
        }
        self.synced[kind.index()].store(true, std::sync::atomic::Ordering::Release);
        if kind == Kind::ClusterRole {
            self.cluster_roles_changed.notify_one();
        }
    }

    /// Every ClusterRole, for the aggregation controller.
    pub fn cluster_roles(&self) -> Vec<ClusterRole> {
        self.read().cluster_roles.values().cloned().collect()
    }

    /// The rules a role reference grants, seen from `namespace` (a Role is
    /// looked up there).
    fn role_rules(state: &State, role_ref: &RoleRef, namespace: &str) -> Vec<PolicyRule> {
        match role_ref.kind.as_str() {
            "ClusterRole" => state
                .cluster_roles
                .get(&role_ref.name)
                .and_then(|r| r.rules.clone())
                .unwrap_or_default(),
            "Role" => state
                .roles
                .get(&(namespace.to_string(), role_ref.name.clone()))
                .and_then(|r| r.rules.clone())
                .unwrap_or_default(),
            _ => Vec::new(),
        }
    }

    /// Calls `visit` with each rule that applies to `user` in `namespace`
    /// (cluster-wide rules always; a namespace's bindings only for a
    /// non-empty namespace) and a description of where it comes from,
    /// until `visit` returns true.
    fn visit(
        &self,
        user: &UserInfo,
        namespace: &str,
        mut visit: impl FnMut(&PolicyRule, &dyn Fn() -> String) -> bool,
    ) {
        let state = self.read();
        for (name, binding) in &state.cluster_role_bindings {
            let subjects = binding.subjects.as_deref().unwrap_or_default();
            let Some(subject) = subjects.iter().find(|s| subject_matches(s, user, "")) else {
                continue;
            };
            if binding.role_ref.kind != "ClusterRole" {
                continue;
            }
            for rule in Self::role_rules(&state, &binding.role_ref, "") {
                let how = || {
                    format!(
                        "ClusterRoleBinding {name:?} of ClusterRole {:?} to {} {:?}",
                        binding.role_ref.name, subject.kind, subject.name
                    )
                };
                if visit(&rule, &how) {
                    return;
                }
            }
        }
        if namespace.is_empty() {
            return;
        }
        for ((ns, name), binding) in &state.role_bindings {
            if ns != namespace {
                continue;
            }
            let subjects = binding.subjects.as_deref().unwrap_or_default();
            let Some(subject) = subjects.iter().find(|s| subject_matches(s, user, ns)) else {
                continue;
            };
            for rule in Self::role_rules(&state, &binding.role_ref, ns) {
                let how = || {
                    format!(
                        "RoleBinding \"{name}/{ns}\" of {} {:?} to {} {:?}",
                        binding.role_ref.kind, binding.role_ref.name, subject.kind, subject.name
                    )
                };
                if visit(&rule, &how) {
                    return;
                }
            }
        }
    }

    /// Decides on a request: allowed by the first rule that reaches it.
    pub fn authorize(&self, a: &Attributes) -> Decision {
        let mut found = None;
        self.visit(&a.user, &a.namespace, |rule, how| {
            if rule_allows(rule, a) {
                found = Some(how());
                true
            } else {
                false
            }
        });
        match found {
            Some(how) => Decision::allow(format!("RBAC: allowed by {how}")),
            // As upstream, a refusal by RBAC gives no reason: the message
            // already says who could not do what.
            None => Decision::deny(""),
        }
    }

    /// The rules a binding's role reference grants in `namespace`.
    pub fn rules_of_ref(&self, role_ref: &RoleRef, namespace: &str) -> Vec<PolicyRule> {
        Self::role_rules(&self.read(), role_ref, namespace)
    }

    /// Every rule `user` holds in `namespace` (and cluster-wide).
    pub fn rules_of(&self, user: &UserInfo, namespace: &str) -> Vec<PolicyRule> {
        let mut rules = Vec::new();
        self.visit(user, namespace, |rule, _| {
            rules.push(rule.clone());
            false
        });
        rules
    }

    /// A SelfSubjectRulesReview's resource and non-resource rules.
    pub fn rules_for(&self, user: &UserInfo, namespace: &str) -> (Vec<Value>, Vec<Value>) {
        let mut resource = Vec::new();
        let mut non_resource = Vec::new();
        for rule in self.rules_of(user, namespace) {
            if rule
                .non_resource_urls
                .as_ref()
                .is_some_and(|u| !u.is_empty())
            {
                non_resource.push(json!({
                    "verbs": rule.verbs,
                    "nonResourceURLs": rule.non_resource_urls,
                }));
            }
            if rule.resources.as_ref().is_some_and(|r| !r.is_empty()) {
                let mut r = json!({
                    "verbs": rule.verbs,
                    "apiGroups": rule.api_groups.clone().unwrap_or_default(),
                    "resources": rule.resources,
                });
                if let Some(names) = rule.resource_names.as_ref().filter(|n| !n.is_empty()) {
                    r["resourceNames"] = json!(names);
                }
                resource.push(r);
            }
        }
        (resource, non_resource)
    }
}

/// Starts following the four kinds from etcd into `server`'s RBAC state
/// (each kind its own task, as its own informer).
pub fn start(server: &Arc<ApiServer>) {
    for kind in Kind::ALL {
        let server = Arc::clone(server);
        tokio::spawn(async move { follow(server, kind).await });
    }
}

async fn follow(server: Arc<ApiServer>, kind: Kind) {
    let rbac = Arc::clone(&server.authorizer.rbac);
    let (on_list, on_event) = (Arc::clone(&rbac), rbac);
    let Some(resource) = apimachinery::resources::find(GROUP, "v1", kind.plural()) else {
        tracing::error!(
            plural = kind.plural(),
            "resource missing from the resource table"
        );
        return;
    };
    crate::storage::informer::follow(
        server.store.clone(),
        server.cache(resource),
        server.stopping.subscribe(),
        resource,
        move |objects, _| on_list.replace(kind, objects),
        move |event, obj, _| on_event.apply(kind, event, obj),
    )
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Method;

    fn rbac_with(objects: &[(Kind, Value)]) -> Rbac {
        let rbac = Rbac::default();
        for (kind, obj) in objects {
            rbac.apply(*kind, EventType::Added, obj);
        }
        rbac
    }

    fn jane() -> UserInfo {
        UserInfo::authenticated("jane", vec!["dev-team".into()])
    }

    fn ask(rbac: &Rbac, user: UserInfo, method: Method, path: &str) -> bool {
        rbac.authorize(&Attributes::from_request(user, &method, path, false))
            .allowed
    }

    fn pod_reader() -> (Kind, Value) {
        (
            Kind::Role,
            json!({"metadata": {"name": "pod-reader", "namespace": "dev"},
                   "rules": [{"apiGroups": [""], "resources": ["pods", "pods/log"], "verbs": ["get", "list"]}]}),
        )
    }

    #[test]
    fn a_role_binding_grants_in_its_namespace_only() {
        let rbac = rbac_with(&[
            pod_reader(),
            (
                Kind::RoleBinding,
                json!({"metadata": {"name": "b", "namespace": "dev"},
                "roleRef": {"apiGroup": GROUP, "kind": "Role", "name": "pod-reader"},
                "subjects": [{"kind": "User", "apiGroup": GROUP, "name": "jane"}]}),
            ),
        ]);
        assert!(ask(
            &rbac,
            jane(),
            Method::GET,
            "/api/v1/namespaces/dev/pods"
        ));
        assert!(ask(
            &rbac,
            jane(),
            Method::GET,
            "/api/v1/namespaces/dev/pods/web/log"
        ));
        assert!(!ask(
            &rbac,
            jane(),
            Method::GET,
            "/api/v1/namespaces/dev/pods/web/exec"
        ));
        assert!(!ask(
            &rbac,
            jane(),
            Method::DELETE,
            "/api/v1/namespaces/dev/pods/web"
        ));
        assert!(!ask(
            &rbac,
            jane(),
            Method::GET,
            "/api/v1/namespaces/prod/pods"
        ));
        assert!(
            !ask(&rbac, jane(), Method::GET, "/api/v1/pods"),
            "all namespaces needs a cluster grant"
        );
        assert!(!ask(
            &rbac,
            UserInfo::authenticated("bob", vec![]),
            Method::GET,
            "/api/v1/namespaces/dev/pods"
        ));
        let d = rbac.authorize(&Attributes::from_request(
            jane(),
            &Method::GET,
            "/api/v1/namespaces/dev/pods",
            false,
        ));
        assert!(d.reason.contains("RoleBinding \"b/dev\""), "{}", d.reason);
    }

    #[test]
    fn cluster_role_bindings_groups_service_accounts_and_names() {
        let rbac = rbac_with(&[
            (
                Kind::ClusterRole,
                json!({"metadata": {"name": "cm-one"},
                "rules": [{"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["one"], "verbs": ["get"]},
                          {"apiGroups": ["*"], "resources": ["*/scale"], "verbs": ["update"]},
                          {"nonResourceURLs": ["/healthz", "/api/*"], "verbs": ["get"]}]}),
            ),
            (
                Kind::ClusterRoleBinding,
                json!({"metadata": {"name": "b"},
                "roleRef": {"apiGroup": GROUP, "kind": "ClusterRole", "name": "cm-one"},
                "subjects": [{"kind": "Group", "name": "dev-team"},
                             {"kind": "ServiceAccount", "name": "bot", "namespace": "ci"}]}),
            ),
        ]);
        let sa = UserInfo::authenticated("system:serviceaccount:ci:bot", vec![]);
        assert!(ask(
            &rbac,
            jane(),
            Method::GET,
            "/api/v1/namespaces/x/configmaps/one"
        ));
        assert!(!ask(
            &rbac,
            jane(),
            Method::GET,
            "/api/v1/namespaces/x/configmaps/two"
        ));
        assert!(
            !ask(
                &rbac,
                jane(),
                Method::GET,
                "/api/v1/namespaces/x/configmaps"
            ),
            "resourceNames never match a list"
        );
        assert!(ask(
            &rbac,
            sa.clone(),
            Method::PUT,
            "/apis/apps/v1/namespaces/x/deployments/web/scale"
        ));
        assert!(!ask(
            &rbac,
            sa.clone(),
            Method::PUT,
            "/apis/apps/v1/namespaces/x/deployments/web"
        ));
        assert!(ask(&rbac, sa.clone(), Method::GET, "/healthz"));
        assert!(ask(&rbac, sa.clone(), Method::GET, "/api/v1"));
        assert!(!ask(&rbac, sa, Method::GET, "/metrics"));
        let other_sa = UserInfo::authenticated("system:serviceaccount:other:bot", vec![]);
        assert!(!ask(&rbac, other_sa, Method::GET, "/healthz"));
    }

    #[test]
    fn deleting_a_binding_takes_the_grant_away() {
        let binding = json!({"metadata": {"name": "b", "namespace": "dev"},
            "roleRef": {"apiGroup": GROUP, "kind": "Role", "name": "pod-reader"},
            "subjects": [{"kind": "User", "name": "jane"}]});
        let rbac = rbac_with(&[pod_reader(), (Kind::RoleBinding, binding.clone())]);
        assert!(ask(
            &rbac,
            jane(),
            Method::GET,
            "/api/v1/namespaces/dev/pods"
        ));
        rbac.apply(Kind::RoleBinding, EventType::Deleted, &binding);
        assert!(!ask(
            &rbac,
            jane(),
            Method::GET,
            "/api/v1/namespaces/dev/pods"
        ));
        let (rules, _) = rbac.rules_for(&jane(), "dev");
        assert!(rules.is_empty());
    }
}
