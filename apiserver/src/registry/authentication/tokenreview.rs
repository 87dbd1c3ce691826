//! TokenReviews: "whose is this bearer token?", asked by webhooks and
//! kubelets. The token is required. The apiserver has no token
//! authenticator ([`crate::authentication`]), so no token authenticates:
//! the answer is `authenticated: false` with the reason, as upstream answers
//! a token none of its authenticators accepts.

use k8s_openapi::api::authentication::v1::TokenReview;
use serde_json::{json, Value};

use crate::authentication::UserInfo;
use crate::authorization::Authorizer;
use crate::printers::{default_cells, DEFAULT};
use crate::registry::generic::Typed;
use crate::validation::rules::require_nonempty;
use crate::validation::FieldError;

/// The TokenReview strategy.
pub const STRATEGY: Typed<TokenReview> = Typed::new(DEFAULT, default_cells)
    .rules(rules)
    .answers(answer);

fn rules(obj: &Value, errs: &mut Vec<FieldError>) {
    require_nonempty(obj, "/spec/token", errs);
}

fn answer(_: &Authorizer, _: &UserInfo, obj: &mut Value) {
    let audiences = obj.pointer("/spec/audiences").cloned().unwrap_or(json!([]));
    obj["status"] = json!({
        "authenticated": false,
        "user": {},
        "audiences": audiences,
        "error": "no token authenticator is configured",
    });
}
