//! `kubectl cordon` and `kubectl uncordon`: flip `spec.unschedulable`.

use http::Method;
use serde_json::{json, Value};

use crate::client::Rest;
use crate::error::Result;

/// Marks a node (un)schedulable, printing upstream's verdict.
pub async fn set(rest: &Rest, node: &str, cordon: bool) -> Result<i32> {
    let path = format!("/api/v1/nodes/{node}");
    let n = rest.get(&path).await?;
    let now = n["spec"]["unschedulable"].as_bool().unwrap_or(false);
    let word = if cordon { "cordoned" } else { "uncordoned" };
    if now == cordon {
        println!("node/{node} already {word}");
        return Ok(0);
    }
    let patch = json!({"spec": {"unschedulable": if cordon { json!(true) } else { Value::Null }}});
    rest.call(
        Method::PATCH,
        &path,
        Some("application/merge-patch+json"),
        Some(serde_json::to_vec(&patch)?),
    )
    .await?;
    println!("node/{node} {word}");
    Ok(0)
}
