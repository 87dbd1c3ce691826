//! What a request asks to do, as the authorizers see it (upstream's
//! `authorizer.Attributes`): who, which verb, and either a resource
//! (group, resource, subresource, namespace, name) or a plain path.
//!
//! The attributes come from the URL's *shape* alone, before anything knows
//! whether the resource exists, so a refused user learns nothing about what
//! is served (a 403, not a 404):
//!
//! ```text
//! /api/v1/namespaces/dev/pods/web/log  -> get pods/log "web" in "dev" (group "")
//! /apis/apps/v1/deployments?watch=1    -> watch deployments in group "apps"
//! /api/v1/watch/namespaces/dev/pods    -> watch pods in "dev"
//! /healthz, /api, /apis/apps/v1        -> get path "/healthz" ...
//! ```

use http::Method;
use serde_json::Value;

use crate::authentication::UserInfo;

/// One question for the authorizers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attributes {
    /// Who asks.
    pub user: UserInfo,
    /// `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`,
    /// `deletecollection`, `impersonate`, ... (for paths: the lowercase
    /// HTTP method).
    pub verb: String,
    /// Whether this is about a resource (else about `path`).
    pub resource_request: bool,
    /// The namespace (empty: cluster scope or all namespaces).
    pub namespace: String,
    /// The API group (`""` for core).
    pub api_group: String,
    /// The API version.
    pub api_version: String,
    /// The plural resource.
    pub resource: String,
    /// The subresource (`status`, `log`, `token`, ...).
    pub subresource: String,
    /// The object's name (empty for collections and creates).
    pub name: String,
    /// The URL path.
    pub path: String,
}

impl Attributes {
    /// A non-resource question.
    pub fn path(user: UserInfo, verb: &str, path: &str) -> Attributes {
        Attributes {
            user,
            verb: verb.into(),
            resource_request: false,
            namespace: String::new(),
            api_group: String::new(),
            api_version: String::new(),
            resource: String::new(),
            subresource: String::new(),
            name: String::new(),
            path: path.into(),
        }
    }

    /// A resource question.
    pub fn resource(
        user: UserInfo,
        verb: &str,
        api_group: &str,
        resource: &str,
        namespace: &str,
        name: &str,
    ) -> Attributes {
        Attributes {
            verb: verb.into(),
            resource_request: true,
            namespace: namespace.into(),
            api_group: api_group.into(),
            resource: resource.into(),
            name: name.into(),
            ..Attributes::path(user, verb, "")
        }
    }

    /// The attributes of an HTTP request (`watch`: the query asked to watch).
    /// A list or watch narrowed to one object by `fieldSelector=metadata.name=X`
    /// is about that object, as upstream's request info says: RBAC rules
    /// with `resourceNames` then apply (an extension apiserver's informer on
    /// the one ConfigMap it may read lists it this way).
    pub fn with_field_selector_name(mut self, query: Option<&str>) -> Attributes {
        if !self.resource_request
            || !self.name.is_empty()
            || !matches!(self.verb.as_str(), "list" | "watch")
        {
            return self;
        }
        let selector = url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
            .find(|(k, _)| k == "fieldSelector")
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default();
        let name = selector.split(',').find_map(|term| {
            let term = term.trim();
            term.strip_prefix("metadata.name==")
                .or_else(|| term.strip_prefix("metadata.name="))
                .map(str::trim)
        });
        if let Some(name) = name.filter(|n| {
            !n.is_empty() && *n != "." && *n != ".." && !n.contains('/') && !n.contains('%')
        }) {
            self.name = name.to_string();
        }
        self
    }

    pub fn from_request(user: UserInfo, method: &Method, path: &str, watch: bool) -> Attributes {
        let path_verb = match *method {
            Method::GET | Method::HEAD => "get".to_string(),
            ref m => m.as_str().to_ascii_lowercase(),
        };
        let plain = |user| Attributes::path(user, &path_verb, path);
        let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
        let (group, version, rest) = match parts.as_slice() {
            ["api", version, rest @ ..] => ("", *version, rest),
            ["apis", group, version, rest @ ..] => (*group, *version, rest),
            _ => return plain(user),
        };
        // `/api/v1`, `/apis/apps/v1`: discovery, not a resource.
        if rest.is_empty() || rest.iter().any(|p| p.is_empty()) {
            return plain(user);
        }
        let (watch, rest) = match rest {
            ["watch", rest @ ..] if !rest.is_empty() => (true, rest),
            _ => (watch, rest),
        };
        let (namespace, rest): (&str, &[&str]) = match rest {
            // `/api/v1/namespaces/dev` is the namespace object itself.
            ["namespaces", ns] => (ns, &["namespaces", ns][..]),
            ["namespaces", ns, "finalize" | "status"] => (ns, rest),
            ["namespaces", ns, rest @ ..] => (ns, rest),
            _ => ("", rest),
        };
        let (resource, name, subresource) = match rest {
            [resource] => (*resource, "", ""),
            [resource, name] => (*resource, *name, ""),
            [resource, name, sub, ..] => (*resource, *name, *sub),
            [] => return plain(user),
        };
        let verb = match *method {
            Method::GET | Method::HEAD if watch => "watch",
            Method::GET | Method::HEAD if name.is_empty() => "list",
            Method::GET | Method::HEAD => "get",
            Method::POST => "create",
            Method::PUT => "update",
            Method::PATCH => "patch",
            Method::DELETE if name.is_empty() => "deletecollection",
            Method::DELETE => "delete",
            // Anything else (OPTIONS through a proxy) is its own verb, as
            // upstream: the method in lower case.
            _ => path_verb.as_str(),
        };
        Attributes {
            subresource: subresource.into(),
            api_version: version.into(),
            path: path.into(),
            ..Attributes::resource(user, verb, group, resource, namespace, name)
        }
    }

    /// The attributes a SubjectAccessReview's spec asks about.
    pub fn from_review_spec(user: UserInfo, spec: &Value) -> Attributes {
        let s = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        if let Some(r) = spec.get("resourceAttributes").filter(|v| v.is_object()) {
            return Attributes {
                subresource: s(r, "subresource"),
                api_version: s(r, "version"),
                ..Attributes::resource(
                    user,
                    &s(r, "verb"),
                    &s(r, "group"),
                    &s(r, "resource"),
                    &s(r, "namespace"),
                    &s(r, "name"),
                )
            };
        }
        let n = spec
            .get("nonResourceAttributes")
            .cloned()
            .unwrap_or(Value::Null);
        Attributes::path(user, &s(&n, "verb"), &s(&n, "path"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(method: Method, path: &str) -> Attributes {
        Attributes::from_request(UserInfo::anonymous(), &method, path, false)
    }

    #[test]
    fn resource_paths() {
        let a = attrs(Method::GET, "/api/v1/namespaces/dev/pods");
        assert_eq!(
            (a.verb.as_str(), a.resource.as_str(), a.namespace.as_str()),
            ("list", "pods", "dev")
        );
        assert!(a.resource_request);
        let a = attrs(Method::GET, "/api/v1/namespaces/dev/pods/web/log");
        assert_eq!(
            (a.verb.as_str(), a.name.as_str(), a.subresource.as_str()),
            ("get", "web", "log")
        );
        let a = attrs(
            Method::POST,
            "/api/v1/namespaces/dev/serviceaccounts/default/token",
        );
        assert_eq!(
            (a.verb.as_str(), a.resource.as_str(), a.subresource.as_str()),
            ("create", "serviceaccounts", "token")
        );
        let a = attrs(Method::DELETE, "/apis/apps/v1/namespaces/dev/deployments");
        assert_eq!(
            (a.verb.as_str(), a.api_group.as_str()),
            ("deletecollection", "apps")
        );
        let a = attrs(Method::GET, "/api/v1/watch/namespaces/dev/pods");
        assert_eq!((a.verb.as_str(), a.namespace.as_str()), ("watch", "dev"));
        let a = Attributes::from_request(UserInfo::anonymous(), &Method::GET, "/api/v1/pods", true);
        assert_eq!((a.verb.as_str(), a.namespace.as_str()), ("watch", ""));
        let a = attrs(Method::GET, "/api/v1/namespaces/dev");
        assert_eq!(
            (a.resource.as_str(), a.name.as_str(), a.namespace.as_str()),
            ("namespaces", "dev", "dev")
        );
        let a = attrs(Method::PUT, "/api/v1/namespaces/dev/finalize");
        assert_eq!(
            (a.verb.as_str(), a.resource.as_str(), a.subresource.as_str()),
            ("update", "namespaces", "finalize")
        );
        let a = attrs(Method::PATCH, "/api/v1/nodes/n1/status");
        assert_eq!(
            (
                a.verb.as_str(),
                a.name.as_str(),
                a.subresource.as_str(),
                a.namespace.as_str()
            ),
            ("patch", "n1", "status", "")
        );
    }

    #[test]
    fn discovery_and_other_paths_are_non_resource() {
        for p in [
            "/healthz",
            "/version",
            "/api",
            "/api/v1",
            "/apis",
            "/apis/apps/v1",
            "/openapi/v2",
            "/",
        ] {
            let a = attrs(Method::GET, p);
            assert!(!a.resource_request, "{p}");
            assert_eq!(a.verb, "get");
            assert_eq!(a.path, p);
        }
        assert_eq!(attrs(Method::POST, "/logs").verb, "post");
    }

    #[test]
    fn a_list_of_one_name_is_about_that_object() {
        let user = || UserInfo::authenticated("sa", vec![]);
        let a = Attributes::from_request(
            user(),
            &Method::GET,
            "/api/v1/namespaces/kube-system/configmaps",
            false,
        )
        .with_field_selector_name(Some(
            "fieldSelector=metadata.name%3Dextension-apiserver-authentication&watch=true",
        ));
        assert_eq!(
            (a.verb.as_str(), a.name.as_str()),
            ("list", "extension-apiserver-authentication")
        );
        let a = Attributes::from_request(user(), &Method::GET, "/api/v1/configmaps", true)
            .with_field_selector_name(Some(
                "fieldSelector=metadata.name%3D%3Dx%2Cmetadata.namespace%3Dy",
            ));
        assert_eq!((a.verb.as_str(), a.name.as_str()), ("watch", "x"));
        for q in [
            "fieldSelector=metadata.name%21%3Dx",
            "fieldSelector=spec.nodeName%3Dn",
            "labelSelector=a%3Db",
        ] {
            let a = Attributes::from_request(user(), &Method::GET, "/api/v1/pods", false)
                .with_field_selector_name(Some(q));
            assert_eq!(a.name, "", "{q}");
        }
    }
}
