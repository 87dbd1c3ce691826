//! Impersonation: `Impersonate-User`, `Impersonate-Group`,
//! `Impersonate-Uid` and `Impersonate-Extra-<key>` headers (what `kubectl
//! --as`/`--as-group` send) make a request act as someone else, if the
//! authenticated user may `impersonate` each of those: `users` (or
//! `serviceaccounts` for a ServiceAccount name), `groups`, `uids`,
//! `userextras/<key>`. Every refusal is the authorizer's 403.
//!
//! Runs in [`crate::filters`] after authentication and before the request
//! itself is authorized (as the impersonated user).

use http::HeaderMap;

use super::{UserInfo, AUTHENTICATED};
use crate::authorization::{forbidden, Attributes, Authorizer};
use crate::errors::ApiError;

/// The header naming the user to act as.
pub const USER: &str = "impersonate-user";
/// A group to act in (repeatable).
pub const GROUP: &str = "impersonate-group";
/// The uid to act as.
pub const UID: &str = "impersonate-uid";
/// The prefix of extra fields.
pub const EXTRA_PREFIX: &str = "impersonate-extra-";

fn values<'a>(headers: &'a HeaderMap, name: &str) -> Result<Vec<&'a str>, ApiError> {
    headers
        .get_all(name)
        .iter()
        .map(|v| {
            v.to_str()
                .map_err(|_| ApiError::BadRequest(format!("the {name} header is not text")))
        })
        .collect()
}

/// Whether the request asks to impersonate anyone.
pub fn requested(headers: &HeaderMap) -> bool {
    headers
        .keys()
        .any(|k| k.as_str().starts_with("impersonate-"))
}

/// The identity the request acts as: `user` itself when no impersonation
/// is asked for, else the impersonated one once every part is allowed.
pub fn impersonate(
    authorizer: &Authorizer,
    user: UserInfo,
    headers: &HeaderMap,
) -> Result<UserInfo, ApiError> {
    if !requested(headers) {
        return Ok(user);
    }
    let users = values(headers, USER)?;
    let groups = values(headers, GROUP)?;
    let uids = values(headers, UID)?;
    let Some(name) = users.first().copied().filter(|n| !n.is_empty()) else {
        return Err(ApiError::BadRequest(
            "requested impersonation of groups, a uid or extra fields without impersonating a user"
                .into(),
        ));
    };
    let check = |a: Attributes| {
        let d = authorizer.authorize(&a);
        if d.allowed {
            Ok(())
        } else {
            Err(forbidden(&a, &d.reason))
        }
    };
    let mut target = UserInfo {
        username: name.to_string(),
        ..Default::default()
    };
    match name
        .strip_prefix("system:serviceaccount:")
        .and_then(|r| r.split_once(':'))
    {
        Some((ns, sa)) => {
            check(Attributes::resource(
                user.clone(),
                "impersonate",
                "",
                "serviceaccounts",
                ns,
                sa,
            ))?;
            target.groups.push("system:serviceaccounts".into());
            target.groups.push(format!("system:serviceaccounts:{ns}"));
        }
        None => check(Attributes::resource(
            user.clone(),
            "impersonate",
            "",
            "users",
            "",
            name,
        ))?,
    }
    for g in &groups {
        check(Attributes::resource(
            user.clone(),
            "impersonate",
            "",
            "groups",
            "",
            g,
        ))?;
        if !target.groups.iter().any(|x| x == g) {
            target.groups.push(g.to_string());
        }
    }
    if let Some(uid) = uids.first() {
        check(Attributes::resource(
            user.clone(),
            "impersonate",
            "authentication.k8s.io",
            "uids",
            "",
            uid,
        ))?;
        target.uid = uid.to_string();
    }
    for (key, value) in headers.iter() {
        let Some(extra) = key.as_str().strip_prefix(EXTRA_PREFIX) else {
            continue;
        };
        let value = value
            .to_str()
            .map_err(|_| ApiError::BadRequest(format!("the {key} header is not text")))?;
        let mut a = Attributes::resource(
            user.clone(),
            "impersonate",
            "authentication.k8s.io",
            "userextras",
            "",
            value,
        );
        a.subresource = extra.to_string();
        check(a)?;
        target
            .extra
            .entry(extra.to_string())
            .or_default()
            .push(value.to_string());
    }
    if target.username != super::ANONYMOUS && !target.groups.iter().any(|g| g == AUTHENTICATED) {
        target.groups.push(AUTHENTICATED.into());
    }
    tracing::debug!(by = %user.username, as_user = %target.username, "impersonating");
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authorization::Mode;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                http::HeaderName::from_bytes(k.as_bytes()).expect("name"),
                v.parse().expect("value"),
            );
        }
        h
    }

    #[test]
    fn no_headers_no_change() {
        let jane = UserInfo::authenticated("jane", vec![]);
        let rbac = Authorizer::new(vec![Mode::Rbac]);
        assert_eq!(
            impersonate(&rbac, jane.clone(), &HeaderMap::new()).ok(),
            Some(jane)
        );
    }

    #[test]
    fn impersonation_needs_the_verb() {
        let jane = UserInfo::authenticated("jane", vec![]);
        let h = headers(&[("Impersonate-User", "bob"), ("Impersonate-Group", "ops")]);
        let rbac = Authorizer::new(vec![Mode::Rbac]);
        let err = impersonate(&rbac, jane.clone(), &h).expect_err("jane may not");
        assert_eq!(
            err.to_string(),
            r#"users "bob" is forbidden: User "jane" cannot impersonate resource "users" in API group "" at the cluster scope"#
        );
        let allow = Authorizer::default();
        let bob = impersonate(&allow, jane, &h).expect("allowed");
        assert_eq!(bob.username, "bob");
        assert_eq!(bob.groups, vec!["ops", "system:authenticated"]);
        let only_group = headers(&[("Impersonate-Group", "ops")]);
        assert!(impersonate(&allow, UserInfo::anonymous(), &only_group).is_err());
    }
}
