//! Whether a user may do something: the [`Authorizer`] that
//! [`crate::filters`] asks for every request (after authentication, before
//! admission) and that the access reviews (SubjectAccessReview and friends)
//! answer from, so a client asking "can I?" (`kubectl auth can-i`) gets the
//! answer the server acts on.
//!
//! `--authorization-mode` is a list tried in order; the first mode that
//! allows wins, as upstream's union authorizer:
//!
//! - `AlwaysAllow`: every request (the default, as upstream's flag);
//! - `Node`: a kubelet's requests about its own node, its pods and what
//!   they reference ([`node`], which also does NodeRestriction's checks);
//! - `RBAC`: Roles, ClusterRoles and their bindings ([`rbac`]), with the
//!   bootstrap policy created at start ([`bootstrap_policy`]), aggregated
//!   ClusterRoles kept filled ([`clusterrole_aggregation`]) and writes of
//!   RBAC objects checked for privilege escalation ([`escalation`]).
//!
//! With RBAC or Node on, members of `system:masters` are always allowed (as
//! upstream's privileged-group authorizer: the way in when RBAC is broken).
//! [`attributes`] turns a request or a review's spec into what is asked.

pub mod attributes;
pub mod bootstrap_policy;
pub mod clusterrole_aggregation;
pub mod controller_policy;
pub mod escalation;
pub mod node;
pub mod rbac;

use std::sync::Arc;

use serde_json::{json, Value};

pub use attributes::Attributes;

use crate::authentication::{UserInfo, MASTERS};

/// One authorization mode of `--authorization-mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Allow every request.
    AlwaysAllow,
    /// Refuse every request (tests of the refusal path).
    AlwaysDeny,
    /// The Node authorizer.
    Node,
    /// Role-based access control.
    Rbac,
}

impl Mode {
    /// Parses one mode name as upstream spells it.
    pub fn parse(name: &str) -> Option<Mode> {
        match name.trim() {
            "AlwaysAllow" => Some(Mode::AlwaysAllow),
            "AlwaysDeny" => Some(Mode::AlwaysDeny),
            "Node" => Some(Mode::Node),
            "RBAC" => Some(Mode::Rbac),
            _ => None,
        }
    }

    /// Parses a comma-separated list (`Node,RBAC`).
    pub fn parse_list(list: &str) -> Result<Vec<Mode>, String> {
        let modes: Vec<Mode> = list
            .split(',')
            .filter(|m| !m.trim().is_empty())
            .map(|m| {
                Mode::parse(m).ok_or_else(|| {
                    format!(
                        "unknown authorization mode {m:?} (AlwaysAllow, AlwaysDeny, Node, RBAC)"
                    )
                })
            })
            .collect::<Result<_, _>>()?;
        if modes.is_empty() {
            return Err("at least one authorization mode is required".into());
        }
        Ok(modes)
    }
}

/// The answer to one question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The action is allowed.
    pub allowed: bool,
    /// Why, for the reviewer (and after the 403 message).
    pub reason: String,
}

impl Decision {
    fn allow(reason: impl Into<String>) -> Decision {
        Decision {
            allowed: true,
            reason: reason.into(),
        }
    }

    fn deny(reason: impl Into<String>) -> Decision {
        Decision {
            allowed: false,
            reason: reason.into(),
        }
    }
}

/// The configured chain of modes, over the RBAC state.
#[derive(Debug)]
pub struct Authorizer {
    modes: Vec<Mode>,
    /// The RBAC objects, kept current from etcd.
    pub rbac: Arc<rbac::Rbac>,
    /// Which pods are on which node, for the Node authorizer.
    pub nodes: Arc<node::NodeGraph>,
}

impl Default for Authorizer {
    fn default() -> Authorizer {
        Authorizer::new(vec![Mode::AlwaysAllow])
    }
}

impl Authorizer {
    /// An authorizer trying `modes` in order.
    pub fn new(modes: Vec<Mode>) -> Authorizer {
        Authorizer {
            modes,
            rbac: Arc::new(rbac::Rbac::default()),
            nodes: Arc::new(node::NodeGraph::default()),
        }
    }

    /// Whether a mode is on.
    pub fn has(&self, mode: Mode) -> bool {
        self.modes.contains(&mode)
    }

    /// Whether the authorizers' views of etcd are loaded (RBAC objects and
    /// its bootstrap policy, the node graph).
    pub fn is_ready(&self) -> bool {
        self.rbac.is_ready() && self.nodes.is_ready()
    }

    /// Decides on one request.
    pub fn authorize(&self, attrs: &Attributes) -> Decision {
        let secured = self.has(Mode::Rbac) || self.has(Mode::Node);
        if secured && attrs.user.groups.iter().any(|g| g == MASTERS) {
            return Decision::allow("");
        }
        let mut reasons = Vec::new();
        for mode in &self.modes {
            let decision = match mode {
                Mode::AlwaysAllow => return Decision::allow(""),
                Mode::AlwaysDeny => Decision::deny("Everything is forbidden."),
                Mode::Node => match node::authorize(&self.nodes, attrs) {
                    Some(d) => d,
                    None => continue,
                },
                Mode::Rbac => self.rbac.authorize(attrs),
            };
            if decision.allowed {
                return decision;
            }
            if !decision.reason.is_empty() {
                reasons.push(decision.reason);
            }
        }
        Decision::deny(reasons.join(", "))
    }

    /// Decides on the attributes of a review's spec (`resourceAttributes` or
    /// `nonResourceAttributes`) for `user`.
    pub fn authorize_spec(&self, user: &UserInfo, spec: &Value) -> Decision {
        self.authorize(&Attributes::from_review_spec(user.clone(), spec))
    }

    /// The rules `user` has in `namespace`, as a SelfSubjectRulesReview's
    /// status.
    pub fn rules_for(&self, user: &UserInfo, namespace: &str) -> Value {
        let everything = json!({
            "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
            "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
            "incomplete": false,
        });
        let secured = self.has(Mode::Rbac) || self.has(Mode::Node);
        if (secured && user.groups.iter().any(|g| g == MASTERS))
            || self.modes.first() == Some(&Mode::AlwaysAllow)
        {
            return everything;
        }
        let mut status = json!({"resourceRules": [], "nonResourceRules": [], "incomplete": false});
        for mode in &self.modes {
            match mode {
                Mode::AlwaysAllow => return everything,
                Mode::Rbac => {
                    let (resource, non_resource) = self.rbac.rules_for(user, namespace);
                    status["resourceRules"] = json!(resource);
                    status["nonResourceRules"] = json!(non_resource);
                }
                // The Node authorizer's answers depend on the objects asked
                // about, not on rules it could list.
                Mode::Node => status["incomplete"] = json!(true),
                Mode::AlwaysDeny => {}
            }
        }
        status
    }
}

/// The 403 message upstream writes for a refused request, e.g. `User "jane"
/// cannot list resource "pods" in API group "" in the namespace "dev"`.
pub fn forbidden_message(attrs: &Attributes, reason: &str) -> String {
    let user = &attrs.user.username;
    let base = if !attrs.resource_request {
        format!("User {user:?} cannot {} path {:?}", attrs.verb, attrs.path)
    } else {
        let resource = if attrs.subresource.is_empty() {
            attrs.resource.clone()
        } else {
            format!("{}/{}", attrs.resource, attrs.subresource)
        };
        if attrs.namespace.is_empty() {
            format!(
                "User {user:?} cannot {} resource {resource:?} in API group {:?} at the cluster scope",
                attrs.verb, attrs.api_group
            )
        } else {
            format!(
                "User {user:?} cannot {} resource {resource:?} in API group {:?} in the namespace {:?}",
                attrs.verb, attrs.api_group, attrs.namespace
            )
        }
    };
    // As upstream, nothing in the message may look like HTML.
    let base = base
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    let detail = if reason.is_empty() {
        base
    } else {
        format!("{base}: {reason}")
    };
    // `pods "x" is forbidden: ...`, `pods is forbidden: ...`, or for a
    // path, `forbidden: ...`.
    let qualified = if attrs.api_group.is_empty() {
        attrs.resource.clone()
    } else {
        format!("{}.{}", attrs.resource, attrs.api_group)
    };
    match (qualified.is_empty(), attrs.name.is_empty()) {
        (true, _) => format!("forbidden: {detail}"),
        (false, true) => format!("{qualified} is forbidden: {detail}"),
        (false, false) => format!("{qualified} {:?} is forbidden: {detail}", attrs.name),
    }
}

/// The 403 answer for a refused request.
pub fn forbidden(attrs: &Attributes, reason: &str) -> crate::errors::ApiError {
    crate::errors::ApiError::Forbidden(
        crate::errors::Target {
            group: attrs.api_group.clone(),
            resource: attrs.resource.clone(),
            name: attrs.name.clone(),
        },
        forbidden_message(attrs, reason),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jane() -> UserInfo {
        UserInfo::authenticated("jane", vec![])
    }

    #[test]
    fn forbidden_messages_are_upstreams() {
        let a = Attributes::from_request(
            jane(),
            &http::Method::GET,
            "/api/v1/namespaces/dev/pods",
            false,
        );
        assert_eq!(
            forbidden_message(&a, ""),
            r#"pods is forbidden: User "jane" cannot list resource "pods" in API group "" in the namespace "dev""#
        );
        let a = Attributes::from_request(
            jane(),
            &http::Method::GET,
            "/apis/apps/v1/namespaces/dev/deployments/web/scale",
            false,
        );
        assert_eq!(
            forbidden_message(&a, ""),
            r#"deployments.apps "web" is forbidden: User "jane" cannot get resource "deployments/scale" in API group "apps" in the namespace "dev""#
        );
        let a = Attributes::from_request(jane(), &http::Method::GET, "/api/v1/nodes", false);
        assert_eq!(
            forbidden_message(&a, ""),
            r#"nodes is forbidden: User "jane" cannot list resource "nodes" in API group "" at the cluster scope"#
        );
        let a = Attributes::from_request(jane(), &http::Method::GET, "/metrics", false);
        assert_eq!(
            forbidden_message(&a, ""),
            r#"forbidden: User "jane" cannot get path "/metrics""#
        );
    }

    #[test]
    fn modes_parse_as_upstream_spells_them() {
        assert_eq!(
            Mode::parse_list("Node,RBAC"),
            Ok(vec![Mode::Node, Mode::Rbac])
        );
        assert!(Mode::parse_list("rbac").is_err());
        assert!(Mode::parse_list("").is_err());
    }

    #[test]
    fn always_allow_and_masters() {
        let allow = Authorizer::default();
        let a = Attributes::from_request(jane(), &http::Method::DELETE, "/api/v1/nodes/n1", false);
        assert!(allow.authorize(&a).allowed);
        let rbac = Authorizer::new(vec![Mode::Rbac]);
        assert!(!rbac.authorize(&a).allowed, "no bindings: refused");
        let admin = UserInfo::authenticated("root", vec![MASTERS.into()]);
        let a = Attributes::from_request(admin, &http::Method::DELETE, "/api/v1/nodes/n1", false);
        assert!(
            rbac.authorize(&a).allowed,
            "system:masters is always allowed"
        );
    }
}
