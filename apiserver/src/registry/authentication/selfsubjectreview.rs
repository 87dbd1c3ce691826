//! SelfSubjectReviews: "who am I?" (`kubectl auth whoami`): the identity the
//! request was authenticated as.

use k8s_openapi::api::authentication::v1::SelfSubjectReview;
use serde_json::{json, Value};

use crate::authentication::UserInfo;
use crate::authorization::Authorizer;
use crate::printers::{default_cells, DEFAULT};
use crate::registry::generic::Typed;
use crate::validation::FieldError;

/// The SelfSubjectReview strategy.
pub const STRATEGY: Typed<SelfSubjectReview> = Typed::new(DEFAULT, default_cells)
    .rules(rules)
    .answers(answer);

fn rules(_: &Value, _: &mut Vec<FieldError>) {}

fn answer(_: &Authorizer, user: &UserInfo, obj: &mut Value) {
    obj["status"] = json!({"userInfo": user.to_json()});
}
