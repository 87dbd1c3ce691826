//! The audit policy (`audit.k8s.io/v1` `Policy`, `--audit-policy-file`):
//! which requests are recorded, and in how much detail.
//!
//! Rules are tried in order and the first that matches gives the level;
//! a request no rule matches is not recorded (level `None`), as upstream's
//! policy checker does. A rule matches when every list it has matches
//! (an empty list matches anything):
//!
//! - `users`, `userGroups`: the (authenticated) user's name or any group;
//! - `verbs`: the request's verb (`get`, `list`, `watch`, `create`, ...);
//! - `resources` and `namespaces`: only resource requests; a resource entry
//!   is a `group` (`""` for core) with `resources` (`pods`, `pods/log`,
//!   `pods/*`, `*/scale`; empty: all of the group) and `resourceNames`;
//! - `nonResourceURLs`: only other paths; `/healthz*` matches by prefix.
//!
//! `omitStages` (of the policy and of the matched rule) drop stages.

use serde::Deserialize;

use crate::authorization::Attributes;

/// How much of a request is recorded, in increasing order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, Default)]
pub enum Level {
    /// Not recorded.
    #[default]
    None,
    /// Who, what, when, and the answer's status; no bodies.
    Metadata,
    /// Also the request's object.
    Request,
    /// Also the response's object.
    RequestResponse,
}

impl Level {
    /// The level's name in events.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::None => "None",
            Level::Metadata => "Metadata",
            Level::Request => "Request",
            Level::RequestResponse => "RequestResponse",
        }
    }
}

/// When in a request's life an event is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Stage {
    /// As soon as the request is authorized, before the handler runs.
    RequestReceived,
    /// When the headers of a long-running answer (watch, exec) are sent.
    ResponseStarted,
    /// When the answer is complete.
    ResponseComplete,
    /// When the handler panicked.
    Panic,
}

impl Stage {
    /// The stage's name in events.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::RequestReceived => "RequestReceived",
            Stage::ResponseStarted => "ResponseStarted",
            Stage::ResponseComplete => "ResponseComplete",
            Stage::Panic => "Panic",
        }
    }
}

/// Why a policy file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file cannot be read.
    #[error("failed to read file path {path:?}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Not a `Policy` of a known version, or not YAML.
    #[error("failed decoding file {path:?}: {reason}")]
    Decode {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// A policy without rules would record nothing: upstream refuses it.
    #[error("loaded illegal policy with 0 rules from file {0}")]
    NoRules(String),
}

/// The policy file.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Policy {
    #[serde(default)]
    api_version: String,
    #[serde(default)]
    kind: String,
    /// The rules, first match wins.
    #[serde(default)]
    pub rules: Vec<Rule>,
    /// Stages no event is written for.
    #[serde(default)]
    pub omit_stages: Vec<Stage>,
}

/// One rule.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    /// The level of the requests it matches.
    pub level: Level,
    /// User names (empty: all).
    #[serde(default)]
    pub users: Vec<String>,
    /// Groups (empty: all).
    #[serde(default)]
    pub user_groups: Vec<String>,
    /// Verbs (empty: all).
    #[serde(default)]
    pub verbs: Vec<String>,
    /// Resources (empty: all resource requests).
    #[serde(default)]
    pub resources: Vec<GroupResources>,
    /// Namespaces (empty: all; `""` is cluster scope).
    #[serde(default)]
    pub namespaces: Vec<String>,
    /// Paths of non-resource requests, a trailing `*` matching a prefix.
    #[serde(default, rename = "nonResourceURLs")]
    pub non_resource_urls: Vec<String>,
    /// Stages dropped for the requests of this rule.
    #[serde(default)]
    pub omit_stages: Vec<Stage>,
}

/// Resources of one API group.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupResources {
    /// The group, `""` for core.
    #[serde(default)]
    pub group: String,
    /// Resources, `res/sub` for subresources, with `*` wildcards.
    #[serde(default)]
    pub resources: Vec<String>,
    /// Object names (empty: all).
    #[serde(default)]
    pub resource_names: Vec<String>,
}

/// What the policy says about one request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Decision {
    /// The level.
    pub level: Level,
    /// Stages not to write.
    pub omit_stages: Vec<Stage>,
}

impl Decision {
    /// Whether an event is written at `stage`.
    pub fn records(&self, stage: Stage) -> bool {
        self.level != Level::None && !self.omit_stages.contains(&stage)
    }
}

impl Policy {
    /// Reads and checks a policy file.
    pub fn load(path: &str) -> Result<Policy, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
            path: path.to_string(),
            source,
        })?;
        let policy = Policy::parse(&text).map_err(|reason| Error::Decode {
            path: path.to_string(),
            reason,
        })?;
        if policy.rules.is_empty() {
            return Err(Error::NoRules(path.to_string()));
        }
        Ok(policy)
    }

    /// Parses a policy's text.
    pub fn parse(text: &str) -> Result<Policy, String> {
        let policy: Policy = serde_yaml_ng::from_str(text).map_err(|e| e.to_string())?;
        if policy.kind != "Policy" || policy.api_version != "audit.k8s.io/v1" {
            return Err(format!(
                "no kind \"{}\" is registered for version \"{}\"",
                policy.kind, policy.api_version
            ));
        }
        Ok(policy)
    }

    /// The most any rule records: request bodies are kept only when some
    /// rule might want them.
    pub fn max_level(&self) -> Level {
        self.rules
            .iter()
            .map(|r| r.level)
            .max()
            .unwrap_or(Level::None)
    }

    /// The level and omitted stages of a request (`attrs.user` being the
    /// authenticated user).
    pub fn decide(&self, attrs: &Attributes) -> Decision {
        match self.rules.iter().find(|r| r.matches(attrs)) {
            Some(rule) => {
                let mut omit = self.omit_stages.clone();
                omit.extend(rule.omit_stages.iter().copied());
                Decision {
                    level: rule.level,
                    omit_stages: omit,
                }
            }
            None => Decision::default(),
        }
    }
}

impl Rule {
    fn matches(&self, attrs: &Attributes) -> bool {
        if !self.users.is_empty() && !self.users.contains(&attrs.user.username) {
            return false;
        }
        if !self.user_groups.is_empty()
            && !attrs
                .user
                .groups
                .iter()
                .any(|g| self.user_groups.contains(g))
        {
            return false;
        }
        if !self.verbs.is_empty() && !self.verbs.contains(&attrs.verb) {
            return false;
        }
        if attrs.resource_request {
            self.matches_resource(attrs)
        } else {
            self.matches_non_resource(&attrs.path)
        }
    }

    fn matches_resource(&self, attrs: &Attributes) -> bool {
        if !self.non_resource_urls.is_empty() {
            return false;
        }
        if !self.namespaces.is_empty() && !self.namespaces.contains(&attrs.namespace) {
            return false;
        }
        if self.resources.is_empty() {
            return true;
        }
        let full = if attrs.subresource.is_empty() {
            attrs.resource.clone()
        } else {
            format!("{}/{}", attrs.resource, attrs.subresource)
        };
        self.resources.iter().any(|gr| {
            if gr.group != attrs.api_group {
                return false;
            }
            if !gr.resource_names.is_empty() && !gr.resource_names.contains(&attrs.name) {
                return false;
            }
            if gr.resources.is_empty() {
                return true;
            }
            gr.resources.iter().any(|r| {
                r == &full
                    || (!attrs.subresource.is_empty()
                        && (*r == format!("{}/*", attrs.resource)
                            || *r == format!("*/{}", attrs.subresource)))
                    || r == "*"
            })
        })
    }

    fn matches_non_resource(&self, path: &str) -> bool {
        if !self.resources.is_empty() || !self.namespaces.is_empty() {
            return false;
        }
        if self.non_resource_urls.is_empty() {
            return true;
        }
        self.non_resource_urls
            .iter()
            .any(|u| match u.strip_suffix('*') {
                Some(prefix) => path.starts_with(prefix),
                None => u == path,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authentication::UserInfo;

    fn user(name: &str, groups: &[&str]) -> UserInfo {
        UserInfo {
            username: name.into(),
            uid: String::new(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
            extra: Default::default(),
        }
    }

    fn resource(
        u: UserInfo,
        verb: &str,
        group: &str,
        res: &str,
        sub: &str,
        ns: &str,
        name: &str,
    ) -> Attributes {
        let mut a = Attributes::path(u, verb, "/x");
        a.resource_request = true;
        a.api_group = group.into();
        a.resource = res.into();
        a.subresource = sub.into();
        a.namespace = ns.into();
        a.name = name.into();
        a
    }

    const POLICY: &str = r#"
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: None
    users: ["system:kube-proxy"]
  - level: None
    nonResourceURLs: ["/healthz*", "/version"]
  - level: RequestResponse
    resources:
      - group: ""
        resources: ["secrets", "pods/log"]
  - level: Request
    verbs: ["create"]
    namespaces: ["dev"]
    resources:
      - group: apps
        resources: ["*/scale"]
        resourceNames: ["web"]
  - level: Metadata
    userGroups: ["system:authenticated"]
    omitStages: [ResponseStarted]
"#;

    #[test]
    fn the_first_matching_rule_decides() {
        let p = Policy::parse(POLICY).unwrap_or_else(|e| panic!("{e}"));
        let jane = user("jane", &["system:authenticated"]);
        let d = p.decide(&resource(
            jane.clone(),
            "get",
            "",
            "secrets",
            "",
            "default",
            "s",
        ));
        assert_eq!(d.level, Level::RequestResponse);
        assert!(!d.records(Stage::RequestReceived));
        assert!(d.records(Stage::ResponseComplete));
        assert_eq!(
            p.decide(&resource(jane.clone(), "get", "", "pods", "log", "a", "p"))
                .level,
            Level::RequestResponse
        );
        // A pod itself falls through to the group rule.
        let d = p.decide(&resource(jane.clone(), "get", "", "pods", "", "a", "p"));
        assert_eq!(d.level, Level::Metadata);
        assert!(!d.records(Stage::ResponseStarted));
        // Every list of the scale rule must match.
        let scale = |verb: &str, ns: &str, name: &str| {
            p.decide(&resource(
                user("bob", &[]),
                verb,
                "apps",
                "deployments",
                "scale",
                ns,
                name,
            ))
            .level
        };
        assert_eq!(scale("create", "dev", "web"), Level::Request);
        assert_eq!(scale("create", "prod", "web"), Level::None);
        assert_eq!(scale("create", "dev", "api"), Level::None);
        assert_eq!(scale("update", "dev", "web"), Level::None);
        // The excluded user and the health paths.
        let proxy = user("system:kube-proxy", &["system:authenticated"]);
        assert_eq!(
            p.decide(&resource(proxy, "list", "", "pods", "", "", ""))
                .level,
            Level::None
        );
        assert_eq!(
            p.decide(&Attributes::path(jane.clone(), "get", "/healthz/etcd"))
                .level,
            Level::None
        );
        assert_eq!(
            p.decide(&Attributes::path(jane.clone(), "get", "/version"))
                .level,
            Level::None
        );
        assert_eq!(
            p.decide(&Attributes::path(jane, "get", "/versions")).level,
            Level::Metadata
        );
        assert_eq!(p.max_level(), Level::RequestResponse);
    }

    #[test]
    fn other_kinds_are_refused() {
        assert!(Policy::parse("apiVersion: v1\nkind: ConfigMap\n").is_err());
        assert!(Policy::parse(
            "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: [{level: Loud}]\n"
        )
        .is_err());
    }
}
