//! Who a request comes from: [`UserInfo`], upstream's `user.Info`.
//!
//! The apiserver checks no client certificate or token yet, so every request
//! is anonymous: `system:anonymous` in the group `system:unauthenticated`,
//! what upstream makes of a request no authenticator recognised when
//! anonymous requests are allowed. The identity is resolved in one place,
//! [`user_of`], so the kinds that record or report it (a SelfSubjectReview,
//! a CertificateSigningRequest's requester) follow when authentication
//! arrives.

use http::HeaderMap;
use serde_json::{json, Value};

/// The anonymous user's name.
pub const ANONYMOUS: &str = "system:anonymous";
/// The group of every unauthenticated request.
pub const UNAUTHENTICATED: &str = "system:unauthenticated";

/// An authenticated (or anonymous) identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInfo {
    /// The user name, e.g. `system:anonymous`.
    pub username: String,
    /// A unique id, empty when the authenticator has none.
    pub uid: String,
    /// The groups the user is in.
    pub groups: Vec<String>,
}

impl UserInfo {
    /// The identity of a request nobody authenticated.
    pub fn anonymous() -> UserInfo {
        UserInfo {
            username: ANONYMOUS.into(),
            uid: String::new(),
            groups: vec![UNAUTHENTICATED.into()],
        }
    }

    /// The `authentication.k8s.io/v1` `UserInfo` object.
    pub fn to_json(&self) -> Value {
        let mut v = json!({"username": self.username, "groups": self.groups});
        if !self.uid.is_empty() {
            v["uid"] = json!(self.uid);
        }
        v
    }
}

/// The identity of a request, from its headers.
pub fn user_of(headers: &HeaderMap) -> UserInfo {
    // No authenticator is configured: whatever credentials the request
    // carries, it is anonymous.
    let _ = headers;
    UserInfo::anonymous()
}
