//! SelfSubjectReviews: "who am I?" (`kubectl auth whoami`): the identity the
//! request was authenticated as.

use k8s_openapi::api::authentication::v1::SelfSubjectReview;
use serde_json::{json, Value};

use crate::authentication::UserInfo;
use crate::printers::{default_cells, DEFAULT};
use crate::registry::generic::Typed;
use crate::validation::FieldError;
use crate::ApiServer;
use futures::future::BoxFuture;

/// The SelfSubjectReview strategy.
pub const STRATEGY: Typed<SelfSubjectReview> = Typed::new(DEFAULT, default_cells)
    .rules(rules)
    .answers(answer);

fn rules(_: &Value, _: &mut Vec<FieldError>) {}

fn answer<'a>(_: &'a ApiServer, user: &'a UserInfo, obj: &'a mut Value) -> BoxFuture<'a, ()> {
    obj["status"] = json!({"userInfo": user.to_json()});
    Box::pin(async {})
}
