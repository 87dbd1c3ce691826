//! The AdmissionReview a webhook is sent and what its answer must look
//! like (`admission.k8s.io/v1`, or `v1beta1` for a webhook that lists only
//! that: the two have the same fields).

use base64::Engine;
use serde_json::{json, Map, Value};

use super::{Attributes, Operation};

/// The `AdmissionReview` versions we speak, preferred first.
const VERSIONS: &[&str] = &["v1", "v1beta1"];

/// The first of the webhook's `admissionReviewVersions` we speak.
pub fn version_for(hook: &Value) -> Option<&'static str> {
    let theirs: Vec<&str> = hook
        .get("admissionReviewVersions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    theirs
        .iter()
        .find_map(|v| VERSIONS.iter().find(|ours| *ours == v).copied())
}

/// The `request` of a review: who asks to do what to which object.
pub fn request(
    uid: &str,
    attrs: &Attributes<'_>,
    object: Option<&Value>,
    old: Option<&Value>,
) -> Value {
    let r = attrs.resource;
    let mut kind = json!({"group": r.group, "version": r.version, "kind": r.kind});
    // A subresource created or connected to is an object of its own kind
    // (an Eviction, a PodAttachOptions).
    if !attrs.subresource.is_empty()
        && matches!(attrs.operation, Operation::Create | Operation::Connect)
    {
        if let Some(o) = object {
            let api_version = o.get("apiVersion").and_then(Value::as_str).unwrap_or("");
            let own = o.get("kind").and_then(Value::as_str).unwrap_or("");
            if !own.is_empty() {
                let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
                kind = json!({"group": group, "version": version, "kind": own});
            }
        }
    }
    let resource = json!({"group": r.group, "version": r.version, "resource": r.plural});
    let user = attrs.user;
    let mut user_info = Map::new();
    user_info.insert("username".into(), json!(user.username));
    if !user.uid.is_empty() {
        user_info.insert("uid".into(), json!(user.uid));
    }
    if !user.groups.is_empty() {
        user_info.insert("groups".into(), json!(user.groups));
    }
    if !user.extra.is_empty() {
        user_info.insert("extra".into(), json!(user.extra));
    }
    let mut req = json!({
        "uid": uid,
        "kind": kind,
        "resource": resource,
        "requestKind": kind,
        "requestResource": resource,
        "operation": attrs.operation.as_str(),
        "userInfo": user_info,
        "object": object.cloned().unwrap_or(Value::Null),
        "oldObject": old.cloned().unwrap_or(Value::Null),
        "dryRun": attrs.dry_run,
        "options": attrs.options,
    });
    if !attrs.subresource.is_empty() {
        req["subResource"] = json!(attrs.subresource);
        req["requestSubResource"] = json!(attrs.subresource);
    }
    if !attrs.name.is_empty() {
        req["name"] = json!(attrs.name);
    }
    if !attrs.namespace.is_empty() {
        req["namespace"] = json!(attrs.namespace);
    }
    req
}

/// The whole review document for `version`.
pub fn review(version: &str, request: &Value) -> Value {
    json!({
        "apiVersion": format!("admission.k8s.io/{version}"),
        "kind": "AdmissionReview",
        "request": request,
    })
}

/// What a webhook answered.
#[derive(Debug, Default)]
pub struct Answer {
    /// Whether the request may go on.
    pub allowed: bool,
    /// The Status of a denial (`code`, `reason`, `message`).
    pub status: Value,
    /// A JSON patch to apply to the object (mutating webhooks only).
    pub patch: Option<Value>,
    /// Warnings for the client.
    pub warnings: Vec<String>,
}

/// Checks a webhook's response document as upstream does and extracts the
/// answer; the error is the reason the response is not acceptable.
pub fn answer(version: &str, uid: &str, body: &Value, mutating: bool) -> Result<Answer, String> {
    let api_version = body.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let kind = body.get("kind").and_then(Value::as_str).unwrap_or("");
    let want = format!("admission.k8s.io/{version}");
    if version == "v1" && (api_version != want || kind != "AdmissionReview") {
        return Err(format!(
            "expected webhook response of {want}, Kind=AdmissionReview, got {api_version}, Kind={kind}"
        ));
    }
    let Some(resp) = body.get("response").filter(|r| r.is_object()) else {
        return Err("webhook response was absent".into());
    };
    let got_uid = resp.get("uid").and_then(Value::as_str).unwrap_or("");
    if version == "v1" && got_uid != uid {
        return Err(format!("expected response.uid={uid:?}, got {got_uid:?}"));
    }
    let patch_type = resp.get("patchType").and_then(Value::as_str).unwrap_or("");
    let patch = match resp.get("patch").and_then(Value::as_str) {
        None | Some("") => {
            if version == "v1" && !patch_type.is_empty() {
                return Err(
                    "webhook returned response.patchType but not response.patch".to_string()
                );
            }
            None
        }
        Some(encoded) => {
            if !mutating {
                return Err(format!(
                    "validating webhooks may not return patches, got {}",
                    encoded.len()
                ));
            }
            match patch_type {
                "JSONPatch" => {}
                "" if version == "v1" => {
                    return Err("webhook returned response.patch but not response.patchType".into())
                }
                "" => {}
                other => {
                    return Err(format!(
                        "webhook returned invalid response.patchType of {other:?}"
                    ))
                }
            }
            let raw = base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .map_err(|e| format!("the patch is not base64: {e}"))?;
            let patch: Value = serde_json::from_slice(&raw)
                .map_err(|e| format!("the patch is not a JSON patch: {e}"))?;
            if !patch.is_array() {
                return Err("the patch is not a JSON patch: not an array".into());
            }
            Some(patch)
        }
    };
    Ok(Answer {
        allowed: resp
            .get("allowed")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        status: resp.get("status").cloned().unwrap_or(Value::Null),
        patch,
        warnings: resp
            .get("warnings")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_version_we_speak_is_chosen() {
        assert_eq!(
            version_for(&json!({"admissionReviewVersions": ["v2", "v1beta1", "v1"]})),
            Some("v1beta1")
        );
        assert_eq!(
            version_for(&json!({"admissionReviewVersions": ["v2"]})),
            None
        );
    }

    #[test]
    fn responses_are_checked_as_upstream() {
        let ok = json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "response": {"uid": "u", "allowed": true}});
        assert!(answer("v1", "u", &ok, false).unwrap().allowed);
        let e = answer("v1", "other", &ok, false).unwrap_err();
        assert_eq!(e, r#"expected response.uid="other", got "u""#);
        let no_kind = json!({"response": {"uid": "u", "allowed": true}});
        assert!(answer("v1", "u", &no_kind, false).is_err());
        assert!(answer("v1beta1", "u", &no_kind, false).unwrap().allowed);
        let patch = base64::engine::general_purpose::STANDARD
            .encode(r#"[{"op":"add","path":"/data/x","value":"y"}]"#);
        let patched = json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "response": {"uid": "u", "allowed": true, "patchType": "JSONPatch", "patch": patch}});
        assert!(answer("v1", "u", &patched, true).unwrap().patch.is_some());
        assert!(answer("v1", "u", &patched, false).is_err());
    }
}
