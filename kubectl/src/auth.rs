//! `kubectl auth whoami` and `kubectl auth can-i`: the apiserver says who we
//! are (a SelfSubjectReview) and whether we may do something (a
//! SelfSubjectAccessReview); nothing is decided here.

use http::Method;
use serde_json::{json, Value};

use crate::cli::{AuthCommand, CanIArgs};
use crate::client::Rest;
use crate::discovery::Resolver;
use crate::error::{Error, Result};
use crate::printers::{json as pjson, tabwriter, yaml};

/// Runs `kubectl auth ...`.
pub async fn run(rest: &Rest, command: AuthCommand) -> Result<i32> {
    match command {
        AuthCommand::Whoami { output } => whoami(rest, output.as_deref()).await,
        AuthCommand::CanI(a) => can_i(rest, a).await,
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
    let items: Vec<&str> = v
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    format!("[{}]", items.join(" "))
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

async fn can_i(rest: &Rest, a: CanIArgs) -> Result<i32> {
    if a.name.is_some() {
        return Err(Error::Raw(
            "error: you must specify two arguments: verb resource or verb resource/resourceName.\nSee 'kubectl auth can-i -h' for help and examples."
                .into(),
        ));
    }
    let spec = if a.target.starts_with('/') {
        json!({"nonResourceAttributes": {"verb": a.verb, "path": a.target}})
    } else {
        let (typed, name) = match a.target.split_once('/') {
            Some((t, n)) => (t.to_string(), n.to_string()),
            None => (a.target.clone(), String::new()),
        };
        let mut resolver = Resolver::new(rest).await?;
        let (group, plural, namespaced) = match resolver.resolve(&typed).await {
            Ok(r) => (r.group.clone(), r.plural.clone(), r.namespaced),
            Err(_) => {
                // Upstream asks anyway, about the name as typed.
                eprintln!("Warning: the server doesn't have a resource type '{typed}'");
                let (plural, group) = typed.split_once('.').unwrap_or((typed.as_str(), ""));
                (group.to_string(), plural.to_string(), true)
            }
        };
        let namespace = if a.all_namespaces || !namespaced {
            String::new()
        } else {
            rest.namespace.clone()
        };
        let mut attrs = json!({"namespace": namespace, "verb": a.verb, "group": group,
            "resource": plural});
        if let Some(sub) = &a.subresource {
            attrs["subresource"] = json!(sub);
        }
        if !name.is_empty() {
            attrs["name"] = json!(name);
        }
        json!({"resourceAttributes": attrs})
    };
    let review = post(
        rest,
        "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
        &json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
            "metadata": {"creationTimestamp": null}, "spec": spec, "status": {"allowed": false}}),
    )
    .await?;
    let status = &review["status"];
    let allowed = status["allowed"].as_bool().unwrap_or(false);
    if !a.quiet {
        if allowed {
            println!("yes");
        } else {
            let mut line = "no".to_string();
            for k in ["reason", "evaluationError"] {
                if let Some(r) = status[k].as_str().filter(|r| !r.is_empty()) {
                    line.push_str(&format!(" - {r}"));
                }
            }
            println!("{line}");
        }
    }
    Ok(if allowed { 0 } else { 1 })
}
