//! Classification: which FlowSchema a request falls under, and so which
//! priority level it waits in and which flow it belongs to.
//!
//! FlowSchemas are tried in order of `matchingPrecedence` (lowest first,
//! ties by name); the first whose rules match the request's user and
//! resource (or non-resource path) wins. Its distinguisher method splits the
//! schema's traffic into flows, by user or by namespace, and fairness is
//! then between those flows.

use k8s_openapi::api::flowcontrol::v1 as fc;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::authorization::Attributes;

/// The wildcard of every list in a rule.
const ALL: &str = "*";

/// A FlowSchema, parsed for matching.
#[derive(Debug, Clone)]
pub struct FlowSchema {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.uid`: what the `X-Kubernetes-PF-FlowSchema-UID` header shows.
    pub uid: String,
    /// `spec.matchingPrecedence`.
    pub precedence: i32,
    /// `spec.priorityLevelConfiguration.name`.
    pub priority_level: String,
    distinguisher: Distinguisher,
    rules: Vec<fc::PolicyRulesWithSubjects>,
}

/// How a schema's requests are split into flows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Distinguisher {
    /// One flow for the whole schema.
    None,
    /// One flow per user name.
    ByUser,
    /// One flow per namespace (cluster-scoped requests share one).
    ByNamespace,
}

impl FlowSchema {
    /// Parses a stored FlowSchema; `None` if it is not one.
    pub fn from_object(obj: &Value) -> Option<FlowSchema> {
        let fs: fc::FlowSchema = serde_json::from_value(obj.clone()).ok()?;
        let spec = fs.spec?;
        let distinguisher = match spec.distinguisher_method.as_ref().map(|d| d.type_.as_str()) {
            Some("ByUser") => Distinguisher::ByUser,
            Some("ByNamespace") => Distinguisher::ByNamespace,
            _ => Distinguisher::None,
        };
        Some(FlowSchema {
            name: fs.metadata.name.unwrap_or_default(),
            uid: fs.metadata.uid.unwrap_or_default(),
            precedence: spec.matching_precedence.unwrap_or(1000),
            priority_level: spec.priority_level_configuration.name,
            distinguisher,
            rules: spec.rules.unwrap_or_default(),
        })
    }

    /// Whether any of the schema's rules matches the request.
    pub fn matches(&self, attrs: &Attributes) -> bool {
        self.rules.iter().any(|rule| {
            rule.subjects.iter().any(|s| subject_matches(s, attrs))
                && if attrs.resource_request {
                    rule.resource_rules
                        .iter()
                        .flatten()
                        .any(|r| resource_rule_matches(r, attrs))
                } else {
                    rule.non_resource_rules
                        .iter()
                        .flatten()
                        .any(|r| non_resource_rule_matches(r, attrs))
                }
        })
    }

    /// The flow a matching request belongs to, as a hash of the schema's
    /// name and the distinguisher (the user name, the namespace or nothing).
    pub fn flow_of(&self, attrs: &Attributes) -> u64 {
        let distinguisher = match self.distinguisher {
            Distinguisher::None => "",
            Distinguisher::ByUser => attrs.user.username.as_str(),
            Distinguisher::ByNamespace => attrs.namespace.as_str(),
        };
        let mut hash = Sha256::new();
        hash.update(self.name.as_bytes());
        hash.update([0u8]);
        hash.update(distinguisher.as_bytes());
        let digest = hash.finalize();
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        u64::from_le_bytes(first)
    }
}

/// Puts schemas in the order they are tried: precedence, then name.
pub fn sort(schemas: &mut [FlowSchema]) {
    schemas.sort_by(|a, b| a.precedence.cmp(&b.precedence).then(a.name.cmp(&b.name)));
}

fn subject_matches(subject: &fc::Subject, attrs: &Attributes) -> bool {
    let user = &attrs.user;
    match subject.kind.as_str() {
        "User" => subject
            .user
            .as_ref()
            .is_some_and(|u| u.name == ALL || u.name == user.username),
        "Group" => subject
            .group
            .as_ref()
            .is_some_and(|g| g.name == ALL || user.groups.contains(&g.name)),
        "ServiceAccount" => subject.service_account.as_ref().is_some_and(|sa| {
            let prefix = format!("system:serviceaccount:{}:", sa.namespace);
            match user.username.strip_prefix(&prefix) {
                Some(name) => sa.name == ALL || sa.name == name,
                None => false,
            }
        }),
        _ => false,
    }
}

fn listed(list: &[String], value: &str) -> bool {
    list.iter().any(|v| v == ALL || v == value)
}

fn resource_rule_matches(rule: &fc::ResourcePolicyRule, attrs: &Attributes) -> bool {
    let resource = if attrs.subresource.is_empty() {
        attrs.resource.clone()
    } else {
        format!("{}/{}", attrs.resource, attrs.subresource)
    };
    let in_scope = if attrs.namespace.is_empty() {
        rule.cluster_scope.unwrap_or(false)
    } else {
        rule.namespaces
            .as_deref()
            .is_some_and(|ns| listed(ns, &attrs.namespace))
    };
    listed(&rule.verbs, &attrs.verb)
        && listed(&rule.api_groups, &attrs.api_group)
        && listed(&rule.resources, &resource)
        && in_scope
}

/// A rule's URL matches the path itself, or any path under it: `/healthz`
/// and `/healthz/*` both match `/healthz/etcd`.
fn non_resource_rule_matches(rule: &fc::NonResourcePolicyRule, attrs: &Attributes) -> bool {
    listed(&rule.verbs, &attrs.verb)
        && rule.non_resource_urls.iter().any(|url| {
            if url == ALL || *url == attrs.path {
                return true;
            }
            let mut prefix = url.trim_end_matches('*').to_string();
            if !prefix.ends_with('/') {
                prefix.push('/');
            }
            attrs.path.starts_with(&prefix)
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authentication::UserInfo;
    use http::Method;
    use serde_json::json;

    fn schema(rules: Value) -> FlowSchema {
        FlowSchema::from_object(&json!({
            "metadata": {"name": "s", "uid": "u1"},
            "spec": {"priorityLevelConfiguration": {"name": "pl"}, "matchingPrecedence": 500,
                     "distinguisherMethod": {"type": "ByUser"}, "rules": rules},
        }))
        .expect("parses")
    }

    fn request(user: UserInfo, method: Method, path: &str) -> Attributes {
        Attributes::from_request(user, &method, path, false)
    }

    #[test]
    fn subjects_match_users_groups_and_service_accounts() {
        let s = schema(json!([{
            "subjects": [
                {"kind": "User", "user": {"name": "jane"}},
                {"kind": "Group", "group": {"name": "ops"}},
                {"kind": "ServiceAccount", "serviceAccount": {"namespace": "kube-system", "name": "*"}},
            ],
            "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
        }]));
        let jane = UserInfo::authenticated("jane", vec![]);
        let ops = UserInfo::authenticated("bob", vec!["ops".into()]);
        let sa = UserInfo::authenticated("system:serviceaccount:kube-system:foo", vec![]);
        let other_sa = UserInfo::authenticated("system:serviceaccount:default:foo", vec![]);
        let bob = UserInfo::authenticated("bob", vec![]);
        for (user, want) in [
            (jane, true),
            (ops, true),
            (sa, true),
            (other_sa, false),
            (bob, false),
        ] {
            let name = user.username.clone();
            assert_eq!(
                s.matches(&request(user, Method::GET, "/version")),
                want,
                "{name}"
            );
        }
    }

    #[test]
    fn resource_rules_match_verb_group_resource_and_scope() {
        let s = schema(json!([{
            "subjects": [{"kind": "Group", "group": {"name": "*"}}],
            "resourceRules": [{"verbs": ["get", "list"], "apiGroups": [""],
                               "resources": ["pods", "pods/status"], "namespaces": ["dev"]}],
        }]));
        let u = || UserInfo::authenticated("jane", vec![]);
        assert!(s.matches(&request(u(), Method::GET, "/api/v1/namespaces/dev/pods/p")));
        assert!(s.matches(&request(
            u(),
            Method::GET,
            "/api/v1/namespaces/dev/pods/p/status"
        )));
        assert!(!s.matches(&request(
            u(),
            Method::GET,
            "/api/v1/namespaces/dev/pods/p/log"
        )));
        assert!(!s.matches(&request(u(), Method::GET, "/api/v1/namespaces/prod/pods")));
        assert!(!s.matches(&request(
            u(),
            Method::DELETE,
            "/api/v1/namespaces/dev/pods/p"
        )));
        // Listing across namespaces is a cluster-scoped request.
        assert!(!s.matches(&request(u(), Method::GET, "/api/v1/pods")));
        assert!(!s.matches(&request(u(), Method::GET, "/version")));
    }

    #[test]
    fn non_resource_urls_match_the_path_and_below() {
        let s = schema(json!([{
            "subjects": [{"kind": "Group", "group": {"name": "*"}}],
            "nonResourceRules": [{"verbs": ["get"], "nonResourceURLs": ["/healthz", "/apis/*"]}],
        }]));
        let u = || UserInfo::authenticated("jane", vec![]);
        assert!(s.matches(&request(u(), Method::GET, "/healthz")));
        assert!(s.matches(&request(u(), Method::GET, "/healthz/etcd")));
        assert!(s.matches(&request(u(), Method::GET, "/apis/")));
        assert!(!s.matches(&request(u(), Method::GET, "/healthzz")));
        assert!(!s.matches(&request(u(), Method::GET, "/version")));
    }

    #[test]
    fn flows_are_per_user_under_by_user() {
        let s = schema(json!([]));
        let a = request(
            UserInfo::authenticated("a", vec![]),
            Method::GET,
            "/version",
        );
        let b = request(
            UserInfo::authenticated("b", vec![]),
            Method::GET,
            "/version",
        );
        assert_ne!(s.flow_of(&a), s.flow_of(&b));
        assert_eq!(s.flow_of(&a), s.flow_of(&a.clone()));
    }

    #[test]
    fn schemas_are_tried_by_precedence_then_name() {
        let mk = |name: &str, p: i32| {
            let mut s = schema(json!([]));
            s.name = name.into();
            s.precedence = p;
            s
        };
        let mut all = vec![mk("b", 10), mk("a", 10), mk("z", 1)];
        sort(&mut all);
        let names: Vec<_> = all.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["z", "a", "b"]);
    }
}
