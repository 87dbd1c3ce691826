//! Whether a user may do something: the [`Authorizer`] the access reviews
//! (SubjectAccessReview and friends) answer from.
//!
//! The apiserver enforces no authorization yet, which is upstream's
//! `--authorization-mode=AlwaysAllow`: every request is allowed, and the
//! rules a user has are "every verb on everything". The reviews report
//! exactly that, so a client asking "can I?" (`kubectl auth can-i`) gets the
//! answer the server acts on.

use serde_json::{json, Value};

use crate::authentication::UserInfo;

/// An authorization mode.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Authorizer {
    /// Allow every request (upstream's `AlwaysAllow`).
    #[default]
    AlwaysAllow,
}

/// The answer to one question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The action is allowed.
    pub allowed: bool,
    /// Why, for the reviewer.
    pub reason: String,
}

impl Authorizer {
    /// The authorizer this apiserver runs with.
    pub fn configured() -> Authorizer {
        Authorizer::default()
    }

    /// Decides on the attributes of a review's spec (`resourceAttributes` or
    /// `nonResourceAttributes`) for `user`.
    pub fn authorize(&self, user: &UserInfo, attributes: &Value) -> Decision {
        let _ = (user, attributes);
        match self {
            Authorizer::AlwaysAllow => Decision {
                allowed: true,
                reason: String::new(),
            },
        }
    }

    /// The rules `user` has in `namespace`, as a SelfSubjectRulesReview's
    /// status.
    pub fn rules_for(&self, user: &UserInfo, namespace: &str) -> Value {
        let _ = (user, namespace);
        match self {
            Authorizer::AlwaysAllow => json!({
                "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
                "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
                "incomplete": false,
            }),
        }
    }
}
