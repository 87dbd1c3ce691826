//! ServiceAccount issuer discovery: the OpenID Connect documents that let
//! anyone outside the cluster (a cloud's identity federation, a Vault, a
//! pod using only an OIDC library) check a ServiceAccount token without
//! calling TokenReview.
//!
//! `/.well-known/openid-configuration` names the issuer (the first
//! `--service-account-issuer`) and where its keys are;
//! `/openid/v1/jwks` lists the public keys tokens are checked with, as JSON
//! Web Keys whose `kid` matches the one in each token's header. Like
//! upstream, both are served only when the issuer is an `https` URL without
//! query or fragment and there is a key to publish; reading them needs the
//! `system:service-account-issuer-discovery` ClusterRole (bound to every
//! ServiceAccount by the bootstrap policy).

use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use crate::errors::ApiError;
use crate::ApiServer;

/// Path of the discovery document.
pub const OPENID_CONFIGURATION_PATH: &str = "/.well-known/openid-configuration";
/// Path of the key set.
pub const JWKS_PATH: &str = "/openid/v1/jwks";
/// How long relying parties may cache either document (upstream's hour for
/// keys read from files).
const CACHE_CONTROL: &str = "public, max-age=3600";

/// Why the documents are not served.
fn unavailable(server: &ApiServer) -> Option<String> {
    let accounts = &server.authenticator.service_accounts;
    let issuer = accounts.issuer();
    match url::Url::parse(issuer) {
        Ok(u) if u.scheme() == "https" && u.query().is_none() && u.fragment().is_none() => {}
        _ => {
            return Some(format!(
            "the service account issuer {issuer:?} is not an https URL without query or fragment"
        ))
        }
    }
    if accounts.public_jwks().next().is_none() {
        return Some("no service account keys are configured".into());
    }
    None
}

/// The discovery document, or why there is none.
pub fn openid_configuration(server: &ApiServer) -> Result<Value, String> {
    if let Some(why) = unavailable(server) {
        return Err(why);
    }
    let accounts = &server.authenticator.service_accounts;
    let jwks_uri = match accounts.jwks_uri() {
        Some(uri) => uri.to_string(),
        None => match server.external_address.get() {
            Some(addr) => format!("https://{addr}{JWKS_PATH}"),
            None => return Err("the server's external address is not known yet".into()),
        },
    };
    let mut algs: Vec<String> = accounts
        .public_jwks()
        .filter_map(|k| k["alg"].as_str().map(String::from))
        .collect();
    algs.sort();
    algs.dedup();
    Ok(json!({
        "issuer": accounts.issuer(),
        "jwks_uri": jwks_uri,
        // Kubernetes issues ID tokens only, with the account as the subject.
        "response_types_supported": ["id_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": algs,
    }))
}

/// The key set, or why there is none.
pub fn jwks(server: &ApiServer) -> Result<Value, String> {
    if let Some(why) = unavailable(server) {
        return Err(why);
    }
    let keys: Vec<&Value> = server
        .authenticator
        .service_accounts
        .public_jwks()
        .collect();
    Ok(json!({ "keys": keys }))
}

fn respond(doc: Result<Value, String>, content_type: &'static str, path: &str) -> Response {
    match doc {
        Ok(doc) => (
            [
                (header::CONTENT_TYPE, content_type),
                (header::CACHE_CONTROL, CACHE_CONTROL),
            ],
            doc.to_string(),
        )
            .into_response(),
        Err(why) => {
            tracing::debug!(path, %why, "issuer discovery is not served");
            ApiError::NotFoundPath("the server could not find the requested resource".into())
                .into_response()
        }
    }
}

/// `GET /.well-known/openid-configuration`.
pub async fn serve_configuration(State(server): State<Arc<ApiServer>>) -> Response {
    respond(
        openid_configuration(&server),
        "application/json",
        OPENID_CONFIGURATION_PATH,
    )
}

/// `GET /openid/v1/jwks`.
pub async fn serve_jwks(State(server): State<Arc<ApiServer>>) -> Response {
    respond(jwks(&server), "application/jwk-set+json", JWKS_PATH)
}
