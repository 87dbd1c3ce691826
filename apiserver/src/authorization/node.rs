//! The Node authorizer: what a kubelet, authenticated as
//! `system:node:<name>` in `system:nodes`, may do. It has an opinion only
//! on such users (everyone else goes on to the next mode):
//!
//! - its own Node (and `nodes/status`) and its own Lease in
//!   `kube-node-lease` may be changed; other nodes only read;
//! - everything else a kubelet does is what `system:node` lists
//!   ([`super::bootstrap_policy::node_rules`]);
//! - Secrets, ConfigMaps, PersistentVolumeClaims and ServiceAccount tokens
//!   are refused here: upstream allows those only when a pod bound to the
//!   node references them, which needs the pod graph this server does not
//!   keep yet (see the module's caller for how the chain goes on).

use k8s_openapi::api::rbac::v1::PolicyRule;

use super::rbac::{rule_allows, Rbac};
use super::{Attributes, Decision};

/// The group every node is in.
pub const NODES_GROUP: &str = "system:nodes";
/// The prefix of every node's user name.
pub const NODE_USER_PREFIX: &str = "system:node:";

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

/// The decision on a node's request; `None` for other users.
pub fn authorize(_rbac: &Rbac, a: &Attributes) -> Option<Decision> {
    let node = node_name(&a.user)?;
    if a.resource_request && a.api_group.is_empty() {
        match a.resource.as_str() {
            "secrets" | "configmaps" | "persistentvolumeclaims" | "persistentvolumes" => {
                return Some(Decision::deny(format!(
                    "no relationship found between node '{node}' and this object"
                )));
            }
            "serviceaccounts" if a.subresource == "token" => {
                return Some(Decision::deny(format!(
                    "no relationship found between node '{node}' and this object"
                )));
            }
            "nodes"
                if matches!(a.verb.as_str(), "update" | "patch" | "delete") && a.name != node =>
            {
                return Some(Decision::deny(format!(
                    "node '{node}' cannot modify node '{}'",
                    a.name
                )));
            }
            _ => {}
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

    fn kubelet(name: &str) -> UserInfo {
        UserInfo::authenticated(format!("system:node:{name}"), vec![NODES_GROUP.into()])
    }

    fn ask(user: UserInfo, method: Method, path: &str) -> Option<bool> {
        authorize(
            &Rbac::default(),
            &Attributes::from_request(user, &method, path, false),
        )
        .map(|d| d.allowed)
    }

    #[test]
    fn a_node_changes_only_itself() {
        assert_eq!(
            ask(kubelet("n1"), Method::PATCH, "/api/v1/nodes/n1/status"),
            Some(true)
        );
        assert_eq!(
            ask(kubelet("n1"), Method::PATCH, "/api/v1/nodes/n2/status"),
            Some(false)
        );
        assert_eq!(
            ask(kubelet("n1"), Method::GET, "/api/v1/nodes/n2"),
            Some(true)
        );
        assert_eq!(
            ask(
                kubelet("n1"),
                Method::PUT,
                "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/n1"
            ),
            Some(true)
        );
        assert_eq!(
            ask(
                kubelet("n1"),
                Method::PUT,
                "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/n2"
            ),
            Some(false)
        );
        assert_eq!(
            ask(
                kubelet("n1"),
                Method::GET,
                "/api/v1/namespaces/dev/secrets/s"
            ),
            Some(false)
        );
        assert_eq!(
            ask(
                kubelet("n1"),
                Method::DELETE,
                "/api/v1/namespaces/dev/services/s"
            ),
            Some(false)
        );
    }

    #[test]
    fn other_users_get_no_opinion() {
        assert_eq!(
            ask(
                UserInfo::authenticated("jane", vec![]),
                Method::GET,
                "/api/v1/nodes"
            ),
            None
        );
        let not_in_group = UserInfo::authenticated("system:node:n1", vec![]);
        assert_eq!(ask(not_in_group, Method::GET, "/api/v1/nodes"), None);
    }
}
