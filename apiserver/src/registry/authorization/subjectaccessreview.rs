//! The three access reviews that ask about one action: SubjectAccessReview
//! (for any user), LocalSubjectAccessReview (the same within the namespace
//! it is posted to) and SelfSubjectAccessReview (for the requester,
//! `kubectl auth can-i`). A spec names exactly one of resource and
//! non-resource attributes; the first two also name a user or a group.

use k8s_openapi::api::authorization::v1::{
    LocalSubjectAccessReview, SelfSubjectAccessReview, SubjectAccessReview,
};
use serde_json::{json, Value};

use crate::authentication::UserInfo;
use crate::printers::{arr, s};
use crate::printers::{default_cells, DEFAULT};
use crate::registry::generic::Typed;
use crate::validation::{invalid, required, FieldError};
use crate::ApiServer;
use futures::future::BoxFuture;

/// The SubjectAccessReview strategy.
pub const SUBJECT: Typed<SubjectAccessReview> = Typed::new(DEFAULT, default_cells)
    .rules(subject_rules)
    .answers(answer_for_subject);
/// The LocalSubjectAccessReview strategy.
pub const LOCAL: Typed<LocalSubjectAccessReview> = Typed::new(DEFAULT, default_cells)
    .rules(local_rules)
    .answers(answer_for_subject);
/// The SelfSubjectAccessReview strategy.
pub const SELF: Typed<SelfSubjectAccessReview> = Typed::new(DEFAULT, default_cells)
    .rules(attribute_rules)
    .answers(answer_for_self);

fn present(obj: &Value, pointer: &str) -> bool {
    obj.pointer(pointer).is_some_and(|v| !v.is_null())
}

/// Exactly one of `resourceAttributes` and `nonResourceAttributes`.
fn attribute_rules(obj: &Value, errs: &mut Vec<FieldError>) {
    let resource = present(obj, "/spec/resourceAttributes");
    let non_resource = present(obj, "/spec/nonResourceAttributes");
    if resource && non_resource {
        errs.push(invalid(
            "spec.nonResourceAttributes",
            &obj["spec"]["nonResourceAttributes"],
            "cannot be specified in combination with resourceAttributes",
        ));
    }
    if !resource && !non_resource {
        errs.push(FieldError { message: "Required value: exactly one of nonResourceAttributes or resourceAttributes must be specified".into(), ..required("spec.resourceAttributes") });
    }
}

fn subject_rules(obj: &Value, errs: &mut Vec<FieldError>) {
    attribute_rules(obj, errs);
    let user = s(obj, "/spec/user");
    if user.is_empty() && arr(obj, "/spec/groups").is_empty() {
        errs.push(invalid(
            "spec.user",
            &json!(user),
            "at least one of user or group must be specified",
        ));
    }
}

fn local_rules(obj: &Value, errs: &mut Vec<FieldError>) {
    subject_rules(obj, errs);
    let ns = obj
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("");
    if let Some(attrs) = obj.pointer("/spec/resourceAttributes") {
        let asked = attrs.get("namespace").and_then(Value::as_str).unwrap_or("");
        if asked != ns {
            errs.push(invalid(
                "spec.resourceAttributes.namespace",
                &json!(asked),
                "must match metadata.namespace",
            ));
        }
    }
    if present(obj, "/spec/nonResourceAttributes") {
        errs.push(invalid(
            "spec.nonResourceAttributes",
            &obj["spec"]["nonResourceAttributes"],
            "disallowed on this kind of request",
        ));
    }
}

fn decide(server: &ApiServer, user: &UserInfo, obj: &mut Value) {
    let spec = obj.get("spec").cloned().unwrap_or(Value::Null);
    let decision = server.authorizer.authorize_spec(user, &spec);
    let mut status = json!({"allowed": decision.allowed});
    if !decision.reason.is_empty() {
        status["reason"] = json!(decision.reason);
    }
    obj["status"] = status;
}

/// Answers for the user the spec names.
fn answer_for_subject<'a>(
    server: &'a ApiServer,
    _: &'a UserInfo,
    obj: &'a mut Value,
) -> BoxFuture<'a, ()> {
    let spec = obj.get("spec").cloned().unwrap_or(Value::Null);
    let subject = UserInfo {
        username: spec
            .get("user")
            .and_then(Value::as_str)
            .unwrap_or("")
            .into(),
        uid: spec.get("uid").and_then(Value::as_str).unwrap_or("").into(),
        groups: spec
            .get("groups")
            .and_then(Value::as_array)
            .map(|g| {
                g.iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default(),
        extra: spec
            .get("extra")
            .and_then(|e| serde_json::from_value(e.clone()).ok())
            .unwrap_or_default(),
    };
    decide(server, &subject, obj);
    Box::pin(async {})
}

/// Answers for the requester.
fn answer_for_self<'a>(
    server: &'a ApiServer,
    user: &'a UserInfo,
    obj: &'a mut Value,
) -> BoxFuture<'a, ()> {
    decide(server, user, obj);
    Box::pin(async {})
}
