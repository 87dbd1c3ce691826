//! TokenReviews: "whose is this bearer token?", asked by webhooks and
//! kubelets. The token is required; the answer comes from the same
//! authenticators requests go through ([`crate::authentication`]): the
//! user, or `authenticated: false` with the reason.

use k8s_openapi::api::authentication::v1::TokenReview;
use serde_json::{json, Value};

use crate::authentication::UserInfo;
use crate::printers::{default_cells, DEFAULT};
use crate::registry::generic::Typed;
use crate::validation::rules::require_nonempty;
use crate::validation::FieldError;
use crate::ApiServer;
use futures::future::BoxFuture;

/// The TokenReview strategy.
pub const STRATEGY: Typed<TokenReview> = Typed::new(DEFAULT, default_cells)
    .rules(rules)
    .answers(answer);

fn rules(obj: &Value, errs: &mut Vec<FieldError>) {
    require_nonempty(obj, "/spec/token", errs);
}

/// Authenticates the token with the server's own authenticators (static
/// tokens, bootstrap tokens, ServiceAccount JWTs), for the audiences asked
/// (the API's when none), and reports who it belongs to.
fn answer<'a>(server: &'a ApiServer, _: &'a UserInfo, obj: &'a mut Value) -> BoxFuture<'a, ()> {
    Box::pin(async move {
        let token = obj
            .pointer("/spec/token")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let asked: Vec<String> = obj
            .pointer("/spec/audiences")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        let audiences = if asked.is_empty() {
            server
                .authenticator
                .service_accounts
                .api_audiences()
                .to_vec()
        } else {
            asked
        };
        obj["status"] = match server
            .authenticator
            .authenticate_token(server, &token, &audiences)
            .await
        {
            Ok((user, good_for)) => json!({
                "authenticated": true,
                "user": user.to_json(),
                "audiences": good_for,
            }),
            Err(why) => json!({
                "authenticated": false,
                "user": {},
                "error": why,
            }),
        };
    })
}
