//! The `Webhook` conversion strategy (upstream's `webhookConverter`): the
//! objects that are not in the desired version go to the CRD's
//! `conversion.webhook.clientConfig` in one `ConversionReview`, and what
//! comes back is checked before anyone sees it.
//!
//! ```text
//! {"apiVersion": "apiextensions.k8s.io/v1", "kind": "ConversionReview",
//!  "request": {"uid": "...", "desiredAPIVersion": "stable.example.com/v2",
//!              "objects": [{"apiVersion": "stable.example.com/v1", ...}]}}
//!   -> {"response": {"uid": "...", "result": {"status": "Success"},
//!                    "convertedObjects": [{"apiVersion": "stable.example.com/v2", ...}]}}
//! ```
//!
//! The review speaks the first of `conversionReviewVersions` this server
//! knows (`v1`, `v1beta1`). The answer must carry the request's uid (v1),
//! `result.status: Success`, as many objects as were sent, each in the
//! desired version, of the same kind, name, namespace and uid. Of the
//! metadata a webhook may change only labels and annotations: everything
//! else is put back from the original. The call itself (where the webhook
//! is, TLS with the `caBundle`) is the admission webhooks'
//! [`crate::admission::webhook::client`].

use std::time::Duration;

use serde_json::{json, Map, Value};

use super::ConversionError;
use crate::admission::webhook::client;
use crate::ApiServer;

/// The ConversionReview versions this server speaks, in upstream's order.
pub const REVIEW_VERSIONS: &[&str] = &["v1", "v1beta1"];

/// How long a conversion webhook may take. (Upstream sets no deadline on
/// the call and tells the webhook none; a bound keeps a hung webhook from
/// holding a request, or a watch, forever.)
const TIMEOUT: Duration = Duration::from_secs(30);

/// A CRD's conversion webhook.
#[derive(Debug, Clone, PartialEq)]
pub struct Webhook {
    /// `spec.conversion.webhook.clientConfig`: `url` or `service`, and
    /// `caBundle`.
    pub client_config: Value,
    /// `spec.conversion.webhook.conversionReviewVersions`.
    pub review_versions: Vec<String>,
}

/// How the objects sent were gathered, which upstream's messages tell
/// apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// One object (a get, a write, a watch event).
    Object,
    /// The items of a list.
    List,
}

impl Webhook {
    /// Converts `objects` (none already in `desired`) to `desired` with one
    /// review; `gvk` names what is converted in error messages
    /// (`stable.example.com/v1, Kind=Foo`).
    pub async fn convert(
        &self,
        server: &ApiServer,
        objects: &[Value],
        desired: &str,
        gvk: &str,
        shape: Shape,
    ) -> Result<Vec<Value>, ConversionError> {
        let failed = |reason: String| ConversionError::Failed {
            gvk: gvk.to_string(),
            reason,
        };
        let version = self
            .review_versions
            .iter()
            .find(|v| REVIEW_VERSIONS.contains(&v.as_str()))
            .ok_or(ConversionError::NoReviewVersion)?;
        let uid = uuid::Uuid::new_v4().to_string();
        let review = json!({
            "kind": "ConversionReview",
            "apiVersion": format!("apiextensions.k8s.io/{version}"),
            "request": {"uid": uid, "desiredAPIVersion": desired, "objects": objects},
        });
        let body = serde_json::to_vec(&review).map_err(|e| failed(e.to_string()))?;
        let answer = client::call(server, &self.client_config, TIMEOUT, false, body)
            .await
            .map_err(failed)?;
        let converted = converted_objects(version, &uid, &answer).map_err(failed)?;
        if converted.len() != objects.len() {
            return Err(ConversionError::Count {
                gvk: gvk.to_string(),
                got: converted.len(),
                expected: objects.len(),
            });
        }
        objects
            .iter()
            .zip(converted)
            .enumerate()
            .map(|(i, (original, out))| checked(original, out, desired, i, shape, gvk))
            .collect()
    }
}

/// The converted objects of a webhook's answer, or why there are none
/// (upstream's `getConvertedObjectsFromResponse`: a v1 answer must be a v1
/// ConversionReview for this uid; v1beta1 never checked either).
fn converted_objects(version: &str, uid: &str, answer: &Value) -> Result<Vec<Value>, String> {
    if version == "v1" {
        let got_version = answer.get("apiVersion").and_then(Value::as_str);
        let got_kind = answer.get("kind").and_then(Value::as_str);
        if got_version != Some("apiextensions.k8s.io/v1") || got_kind != Some("ConversionReview") {
            return Err(format!(
                "expected webhook response of apiextensions.k8s.io/v1, Kind=ConversionReview, got {}, Kind={}",
                got_version.unwrap_or("/"),
                got_kind.unwrap_or("")
            ));
        }
    }
    let Some(response) = answer.get("response").filter(|r| r.is_object()) else {
        return Err("no response provided".into());
    };
    if version == "v1" {
        let got = response.get("uid").and_then(Value::as_str).unwrap_or("");
        if got != uid {
            return Err(format!("expected response.uid={uid:?}, got {got:?}"));
        }
    }
    let result = response.get("result").cloned().unwrap_or(Value::Null);
    let status = result.get("status").and_then(Value::as_str).unwrap_or("");
    if status != "Success" {
        return Err(match result.get("message").and_then(Value::as_str) {
            Some(m) if !m.is_empty() => m.to_string(),
            _ => format!("response.result.status was '{status}', not 'Success'"),
        });
    }
    Ok(response
        .get("convertedObjects")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default())
}

/// One converted object, checked against its original and given back the
/// original's metadata (but for labels and annotations).
fn checked(
    original: &Value,
    mut out: Value,
    desired: &str,
    index: usize,
    shape: Shape,
    gvk: &str,
) -> Result<Value, ConversionError> {
    let invalid = |problem: String| ConversionError::InvalidObject {
        gvk: gvk.to_string(),
        place: match shape {
            Shape::List => format!("invalid converted object at index {index}"),
            Shape::Object => "invalid object".into(),
        },
        problem,
    };
    // The version and kind come first, named with their index as upstream.
    let indexed = |problem: String| ConversionError::InvalidObject {
        gvk: gvk.to_string(),
        place: match shape {
            Shape::List => format!("invalid converted object at index {index}"),
            Shape::Object => "invalid object at index 0".into(),
        },
        problem,
    };
    let text = |v: &Value, p: &str| {
        v.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    if !out.is_object() {
        return Err(indexed("the converted object is not a JSON object".into()));
    }
    let got = text(&out, "/apiVersion");
    if got != desired {
        return Err(indexed(format!(
            "invalid groupVersion (expected {desired}, received {got})"
        )));
    }
    let (kind, got_kind) = (text(original, "/kind"), text(&out, "/kind"));
    if kind != got_kind {
        return Err(indexed(format!(
            "invalid kind (expected {kind}, received {got_kind})"
        )));
    }
    for (field, what) in [
        ("/metadata/name", "name"),
        ("/metadata/namespace", "namespace"),
        ("/metadata/uid", "UID"),
    ] {
        let (e, a) = (text(original, field), text(&out, field));
        if e != a {
            return Err(invalid(format!("must have the same {what}: {e} != {a}")));
        }
    }
    restore_metadata(original, &mut out).map_err(|problem| ConversionError::InvalidMetadata {
        gvk: gvk.to_string(),
        place: match shape {
            Shape::List => format!(" in object at index {index}"),
            Shape::Object => String::new(),
        },
        problem,
    })?;
    Ok(out)
}

/// Upstream's `restoreObjectMeta`: the original's metadata with the
/// converted object's labels and annotations (which must be string maps,
/// and labels valid ones).
fn restore_metadata(original: &Value, out: &mut Value) -> Result<(), String> {
    let answered = match out.get("metadata") {
        Some(Value::Object(m)) => m.clone(),
        Some(other) => {
            return Err(format!(
                "invalid metadata of type {} in converted object",
                type_name(other)
            ))
        }
        None => return Err("missing metadata in converted object".into()),
    };
    let mut meta: Map<String, Value> = original
        .get("metadata")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    for field in ["labels", "annotations"] {
        match answered.get(field) {
            None | Some(Value::Null) => {
                meta.remove(field);
            }
            Some(Value::Object(map)) => {
                if let Some((k, v)) = map.iter().find(|(_, v)| !v.is_string()) {
                    return Err(format!(
                        "metadata.{field}[{k}] must be a string, but is {} in converted object",
                        type_name(v)
                    ));
                }
                if field == "labels" && meta.get(field) != answered.get(field) {
                    let mut errs = Vec::new();
                    crate::validation::object_meta::validate_labels(
                        answered.get(field),
                        "metadata.labels",
                        &mut errs,
                    );
                    if !errs.is_empty() {
                        let all: Vec<String> = errs.iter().map(ToString::to_string).collect();
                        return Err(match all.as_slice() {
                            [one] => one.clone(),
                            many => format!("[{}]", many.join(", ")),
                        });
                    }
                }
                meta.insert(field.into(), Value::Object(map.clone()));
            }
            Some(other) => {
                return Err(format!(
                    "invalid metadata.{field} of type {} in converted object",
                    type_name(other)
                ))
            }
        }
    }
    out["metadata"] = Value::Object(meta);
    Ok(())
}

/// The Go type a JSON value decodes to, for messages.
fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "<nil>",
        Value::Bool(_) => "bool",
        Value::Number(_) => "int64",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn original() -> Value {
        json!({"apiVersion": "x.test/v1", "kind": "W",
               "metadata": {"name": "a", "namespace": "ns", "uid": "u1",
                            "resourceVersion": "5", "labels": {"a": "1"}},
               "hostPort": "localhost:80"})
    }

    #[test]
    fn a_v1_answer_must_be_for_this_request_and_succeed() {
        let ok = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "ConversionReview",
            "response": {"uid": "u", "result": {"status": "Success"}, "convertedObjects": [{}]}});
        assert_eq!(converted_objects("v1", "u", &ok).map(|o| o.len()), Ok(1));
        assert_eq!(
            converted_objects("v1", "other", &ok),
            Err("expected response.uid=\"other\", got \"u\"".into())
        );
        let mut wrong_kind = ok.clone();
        wrong_kind["kind"] = json!("AdmissionReview");
        assert!(converted_objects("v1", "u", &wrong_kind)
            .is_err_and(|e| e.starts_with("expected webhook response of")));
        // v1beta1 answers were never checked for their uid.
        assert!(converted_objects("v1beta1", "other", &ok).is_ok());
        let failed = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "ConversionReview",
            "response": {"uid": "u", "result": {"status": "Failure", "message": "no way"}}});
        assert_eq!(converted_objects("v1", "u", &failed), Err("no way".into()));
        let silent = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "ConversionReview",
            "response": {"uid": "u", "result": {"status": "Failure"}}});
        assert_eq!(
            converted_objects("v1", "u", &silent),
            Err("response.result.status was 'Failure', not 'Success'".into())
        );
        let missing = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "ConversionReview"});
        assert_eq!(
            converted_objects("v1", "u", &missing),
            Err("no response provided".into())
        );
    }

    #[test]
    fn only_labels_and_annotations_may_change() {
        let out = json!({"apiVersion": "x.test/v2", "kind": "W",
            "metadata": {"name": "a", "namespace": "ns", "uid": "u1", "resourceVersion": "9",
                         "labels": {"b": "2"}, "annotations": {"c": "3"}, "finalizers": ["x"]},
            "host": "localhost", "port": "80"});
        let got = checked(
            &original(),
            out,
            "x.test/v2",
            0,
            Shape::Object,
            "x.test/v1, Kind=W",
        )
        .unwrap_or_default();
        assert_eq!(got["metadata"]["resourceVersion"], "5");
        assert_eq!(got["metadata"]["labels"], json!({"b": "2"}));
        assert_eq!(got["metadata"]["annotations"], json!({"c": "3"}));
        assert!(got["metadata"].get("finalizers").is_none());
        assert_eq!(got["host"], "localhost");
    }

    #[test]
    fn wrong_answers_are_named_as_upstream_names_them() {
        let gvk = "x.test/v1, Kind=W";
        let mut out = original();
        let err = |out: Value, shape| {
            checked(&original(), out, "x.test/v2", 1, shape, gvk)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        assert_eq!(
            err(out.clone(), Shape::Object),
            "conversion webhook for x.test/v1, Kind=W returned invalid object at index 0: invalid groupVersion (expected x.test/v2, received x.test/v1)"
        );
        out["apiVersion"] = json!("x.test/v2");
        out["metadata"]["name"] = json!("b");
        assert_eq!(
            err(out.clone(), Shape::List),
            "conversion webhook for x.test/v1, Kind=W returned invalid converted object at index 1: must have the same name: a != b"
        );
        out["metadata"]["name"] = json!("a");
        out["metadata"]["labels"] = json!({"a": 1});
        assert_eq!(
            err(out, Shape::Object),
            "conversion webhook for x.test/v1, Kind=W returned invalid metadata: metadata.labels[a] must be a string, but is int64 in converted object"
        );
    }
}
