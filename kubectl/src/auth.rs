//! `kubectl auth whoami` and `kubectl auth can-i`: the apiserver says who we
//! are (a SelfSubjectReview), whether we may do something (a
//! SelfSubjectAccessReview) and what we may do (a SelfSubjectRulesReview,
//! in [`can_i`]); nothing is decided here.

mod can_i;

use http::Method;
use serde_json::{json, Value};

use crate::cli::AuthCommand;
use crate::client::Rest;
use crate::error::{Error, Result};
use crate::printers::{json as pjson, tabwriter, yaml};

/// Runs `kubectl auth ...`.
pub async fn run(rest: &Rest, command: AuthCommand) -> Result<i32> {
    match command {
        AuthCommand::Whoami { output } => whoami(rest, output.as_deref()).await,
        AuthCommand::CanI(a) => can_i::run(rest, a).await,
    }
}

async fn post(rest: &Rest, path: &str, body: &Value) -> Result<Value> {
    rest.call(
        Method::POST,
        path,
        Some("application/json"),
        Some(body.to_string().into_bytes()),
    )
    .await
}

/// `[a b c]`, as Go prints a string slice.
fn go_list(v: &Value) -> String {
    let items: Vec<String> = v
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect()
        })
        .unwrap_or_default();
    can_i::go_slice(&items)
}

async fn whoami(rest: &Rest, output: Option<&str>) -> Result<i32> {
    let review = post(
        rest,
        "/apis/authentication.k8s.io/v1/selfsubjectreviews",
        &json!({"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview",
            "metadata": {"creationTimestamp": null}, "status": {"userInfo": {}}}),
    )
    .await?;
    // Printed as upstream's typed object serializes: its field order, and
    // a null creationTimestamp.
    let user = &review["status"]["userInfo"];
    let mut info = serde_json::Map::new();
    for k in ["username", "uid", "groups", "extra"] {
        if let Some(v) = user.get(k).filter(|v| !v.is_null()) {
            info.insert(k.to_string(), v.clone());
        }
    }
    let typed = json!({"kind": "SelfSubjectReview", "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"creationTimestamp": null}, "status": {"userInfo": info}});
    match output {
        Some("json") => {
            print!("{}", typed_json(&info));
            return Ok(0);
        }
        Some("yaml") => {
            print!("{}", yaml::to_string(&typed));
            return Ok(0);
        }
        Some(other) => {
            return Err(Error::usage(format!(
                "unable to match a printer suitable for the output format \"{other}\", allowed formats are: json,yaml"
            )))
        }
        None => {}
    }
    let user = &review["status"]["userInfo"];
    let mut rows = vec![vec!["ATTRIBUTE".to_string(), "VALUE".to_string()]];
    let text = |k: &str| user[k].as_str().unwrap_or("").to_string();
    if !text("username").is_empty() {
        rows.push(vec!["Username".into(), text("username")]);
    }
    if !text("uid").is_empty() {
        rows.push(vec!["UID".into(), text("uid")]);
    }
    if user["groups"].as_array().is_some_and(|g| !g.is_empty()) {
        rows.push(vec!["Groups".into(), go_list(&user["groups"])]);
    }
    if let Some(extra) = user["extra"].as_object() {
        let mut keys: Vec<&String> = extra.keys().collect();
        keys.sort();
        for k in keys {
            rows.push(vec![format!("Extra: {k}"), go_list(&extra[k])]);
        }
    }
    print!("{}", tabwriter::align(&rows));
    Ok(0)
}

/// The review as upstream's `-o json` prints its typed object: fields in
/// struct order (Go maps, like `extra`, sorted).
fn typed_json(info: &serde_json::Map<String, Value>) -> String {
    let nested = |v: &Value| {
        pjson::to_string(v)
            .trim_end()
            .replace('\n', "\n            ")
    };
    let fields: Vec<String> = ["username", "uid", "groups", "extra"]
        .iter()
        .filter_map(|k| info.get(*k).map(|v| (k, v)))
        .map(|(k, v)| format!("            \"{k}\": {}", nested(v)))
        .collect();
    format!(
        "{{\n    \"kind\": \"SelfSubjectReview\",\n    \"apiVersion\": \"authentication.k8s.io/v1\",\n    \"metadata\": {{\n        \"creationTimestamp\": null\n    }},\n    \"status\": {{\n        \"userInfo\": {{\n{}\n        }}\n    }}\n}}\n",
        fields.join(",\n")
    )
}
