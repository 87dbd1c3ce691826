//! SelfSubjectRulesReviews: "what may I do in this namespace?"
//! (`kubectl auth can-i --list`). The namespace is required; the answer is
//! the rules the authorizer gives the requester.

use k8s_openapi::api::authorization::v1::SelfSubjectRulesReview;
use serde_json::Value;

use futures::future::BoxFuture;

use crate::authentication::UserInfo;
use crate::printers::{default_cells, DEFAULT};
use crate::registry::generic::Typed;
use crate::validation::rules::require_nonempty;
use crate::validation::FieldError;
use crate::ApiServer;

/// The SelfSubjectRulesReview strategy.
pub const STRATEGY: Typed<SelfSubjectRulesReview> = Typed::new(DEFAULT, default_cells)
    .rules(rules)
    .answers(answer);

fn rules(obj: &Value, errs: &mut Vec<FieldError>) {
    require_nonempty(obj, "/spec/namespace", errs);
}

fn answer<'a>(server: &'a ApiServer, user: &'a UserInfo, obj: &'a mut Value) -> BoxFuture<'a, ()> {
    let namespace = obj
        .pointer("/spec/namespace")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    obj["status"] = server.authorizer.rules_for(user, &namespace);
    Box::pin(async {})
}
