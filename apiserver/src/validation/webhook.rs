//! Where a webhook is: the `clientConfig` of admission webhooks and of CRD
//! conversion webhooks (upstream's `apiserver/pkg/util/webhook`
//! validation, shared by both). Exactly one of `url` (https, with a host,
//! no user, query or fragment) and `service` (name, namespace, a valid
//! port, a path of DNS subdomain segments).

use serde_json::{json, Value};

use super::object_meta::{is_dns1123_subdomain, DNS1123_SUBDOMAIN_MSG};
use super::{invalid, required_because, FieldError};

/// Checks a `clientConfig` found at `field` (`webhooks[0].clientConfig`,
/// `spec.conversion.webhookClientConfig`).
pub fn validate_client_config(cc: &Value, field: &str, errs: &mut Vec<FieldError>) {
    let url = cc.get("url").filter(|v| !v.is_null());
    let service = cc.get("service").filter(|v| !v.is_null());
    match (url, service) {
        (Some(url), None) => {
            validate_url(url.as_str().unwrap_or(""), &format!("{field}.url"), errs);
        }
        (None, Some(service)) => validate_service(service, &format!("{field}.service"), errs),
        _ => errs.push(required_because(
            field,
            "exactly one of url or service is required",
        )),
    }
}

/// Upstream's `ValidateWebhookURL` (https forced).
fn validate_url(raw: &str, field: &str, errs: &mut Vec<FieldError>) {
    const FORM: &str = "; desired format: https://host[/path]";
    // Go's parser takes a relative reference too (no scheme, no host).
    let parsed = match url::Url::parse(raw) {
        Ok(u) => Some(u),
        Err(url::ParseError::RelativeUrlWithoutBase) => None,
        Err(e) => {
            errs.push(required_because(
                field,
                &format!("url must be a valid URL: {e}{FORM}"),
            ));
            return;
        }
    };
    let scheme = parsed.as_ref().map(url::Url::scheme).unwrap_or("");
    if scheme != "https" {
        errs.push(invalid(
            field,
            &json!(scheme),
            &format!("'https' is the only allowed URL scheme{FORM}"),
        ));
    }
    let host = parsed.as_ref().and_then(|u| u.host_str()).unwrap_or("");
    if host.is_empty() {
        errs.push(invalid(
            field,
            &json!(host),
            &format!("host must be specified{FORM}"),
        ));
    }
    let Some(u) = parsed else { return };
    if !u.username().is_empty() || u.password().is_some() {
        let user = match u.password() {
            Some(p) => format!("{}:{p}", u.username()),
            None => u.username().to_string(),
        };
        errs.push(invalid(
            field,
            &json!(user),
            "user information is not permitted in the URL",
        ));
    }
    if let Some(fragment) = u.fragment().filter(|f| !f.is_empty()) {
        errs.push(invalid(
            field,
            &json!(fragment),
            "fragments are not permitted in the URL",
        ));
    }
    if let Some(query) = u.query().filter(|q| !q.is_empty()) {
        errs.push(invalid(
            field,
            &json!(query),
            "query parameters are not permitted in the URL",
        ));
    }
}

/// Upstream's `ValidateWebhookService` (the port defaults to 443).
fn validate_service(svc: &Value, field: &str, errs: &mut Vec<FieldError>) {
    for name in ["name", "namespace"] {
        if svc
            .get(name)
            .and_then(Value::as_str)
            .unwrap_or("")
            .is_empty()
        {
            errs.push(required_because(&format!("{field}.{name}"), ""));
        }
    }
    if let Some(port) = svc.get("port").filter(|p| !p.is_null()) {
        if port.as_i64().is_none_or(|p| !(1..=65535).contains(&p)) {
            errs.push(invalid(
                format!("{field}.port"),
                port,
                "port is not valid: must be between 1 and 65535, inclusive",
            ));
        }
    }
    let Some(path) = svc.get("path").and_then(Value::as_str) else {
        return;
    };
    let at = format!("{field}.path");
    if path.is_empty() || path == "/" {
        return;
    }
    if path == "//" {
        errs.push(invalid(at, &json!(path), "segment[0] may not be empty"));
        return;
    }
    if !path.starts_with('/') {
        errs.push(invalid(at.clone(), &json!(path), "must start with a '/'"));
    }
    let inner = path.get(1..).unwrap_or("");
    let inner = inner.strip_suffix('/').unwrap_or(inner);
    for (i, step) in inner.split('/').enumerate() {
        if step.is_empty() {
            errs.push(invalid(
                at.clone(),
                &json!(path),
                &format!("segment[{i}] may not be empty"),
            ));
        } else if !is_dns1123_subdomain(step) {
            let why = if step.len() > 253 {
                "must be no more than 253 characters".to_string()
            } else {
                DNS1123_SUBDOMAIN_MSG.to_string()
            };
            errs.push(invalid(
                at.clone(),
                &json!(path),
                &format!("segment[{i}]: {why}"),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(cc: Value) -> Vec<String> {
        let mut errs = Vec::new();
        validate_client_config(&cc, "c", &mut errs);
        errs.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn exactly_one_of_url_and_service() {
        assert_eq!(
            check(json!({})),
            vec!["c: Required value: exactly one of url or service is required"]
        );
        assert_eq!(
            check(json!({"url": "https://h/x", "service": {"name": "a", "namespace": "b"}})),
            vec!["c: Required value: exactly one of url or service is required"]
        );
        assert!(check(json!({"url": "https://h:8443/x"})).is_empty());
        assert!(check(
            json!({"service": {"name": "a", "namespace": "b", "path": "/crdconvert",
                                          "port": 9443}})
        )
        .is_empty());
    }

    #[test]
    fn urls_and_services_as_upstream() {
        assert_eq!(
            check(json!({"url": "http://h/x?a=b"})),
            vec![
                "c.url: Invalid value: \"http\": 'https' is the only allowed URL scheme; desired format: https://host[/path]",
                "c.url: Invalid value: \"a=b\": query parameters are not permitted in the URL",
            ]
        );
        assert_eq!(
            check(json!({"service": {"name": "", "namespace": "b", "port": 0, "path": "x//"}})),
            vec![
                "c.service.name: Required value",
                "c.service.port: Invalid value: 0: port is not valid: must be between 1 and 65535, inclusive",
                "c.service.path: Invalid value: \"x//\": must start with a '/'",
                "c.service.path: Invalid value: \"x//\": segment[0] may not be empty",
                "c.service.path: Invalid value: \"x//\": segment[1] may not be empty",
            ]
        );
    }
}
