//! ComponentStatuses (deprecated upstream, still served): the health of the
//! control plane as the apiserver sees it, computed on every read and never
//! stored. Like upstream, the apiserver probes the scheduler's and the
//! controller-manager's `/healthz` on their default local secure ports
//! (HTTPS, certificate unchecked) and asks
//! etcd itself; only `get` and `list` are served.

use std::time::Duration;

use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::ComponentStatus;
use k8s_openapi::schemars::generate::SchemaGenerator;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::printers::*;
use crate::registry::strategy::{normalize, schema, Strategy};
use crate::ApiServer;

/// How long one probe may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// The components probed over HTTPS (their secure ports; the certificate
/// is not checked, as upstream's probe): name and local port.
const COMPONENTS: &[(&str, u16)] = &[("controller-manager", 10257), ("scheduler", 10259)];

/// The ComponentStatus strategy.
pub struct ComponentStatusStrategy;

impl Strategy for ComponentStatusStrategy {
    fn normalize(&self, obj: &mut Value) -> Result<(), String> {
        normalize::<ComponentStatus>(obj)
    }

    fn schema(&self, gen: &mut SchemaGenerator) -> Option<String> {
        schema::<ComponentStatus>(gen)
    }

    fn computed<'a>(
        &'a self,
        server: &'a ApiServer,
        _namespace: Option<&'a str>,
    ) -> Option<BoxFuture<'a, Vec<Value>>> {
        Some(Box::pin(async move {
            let mut out = Vec::new();
            for (name, port) in COMPONENTS {
                out.push(status(name, probe(*port).await));
            }
            let etcd = match server.store.healthy(PROBE_TIMEOUT).await {
                Ok(()) => Ok("ok".to_string()),
                Err(e) => Err(e.to_string()),
            };
            out.push(status("etcd-0", etcd));
            out
        }))
    }

    fn columns(&self) -> &'static [Column] {
        COLUMNS
    }

    fn cells(&self, obj: &Value) -> Vec<Value> {
        cells(obj)
    }
}

/// One ComponentStatus from a probe's outcome (message or error).
fn status(name: &str, outcome: Result<String, String>) -> Value {
    let condition = match outcome {
        Ok(message) => json!({"type": "Healthy", "status": "True", "message": message}),
        Err(error) => json!({"type": "Healthy", "status": "False", "error": error}),
    };
    json!({
        "kind": "ComponentStatus",
        "apiVersion": "v1",
        "metadata": {"name": name},
        "conditions": [condition],
    })
}

/// `GET https://127.0.0.1:<port>/healthz`: the body when it answers 200.
async fn probe(port: u16) -> Result<String, String> {
    let url = format!("https://127.0.0.1:{port}/healthz");
    let tls = component_base::tls::client_config(None, None).map_err(|e| e.to_string())?;
    let exchange = async {
        let addr = format!("127.0.0.1:{port}");
        let mut conn = component_base::tls::dial(&addr, Some(&tls), PROBE_TIMEOUT).await?;
        conn.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            .await?;
        let mut reply = Vec::new();
        (&mut conn).take(64 * 1024).read_to_end(&mut reply).await?;
        Ok::<_, std::io::Error>(String::from_utf8_lossy(&reply).into_owned())
    };
    let reply = match tokio::time::timeout(PROBE_TIMEOUT, exchange).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => return Err(format!("Get \"{url}\": {e}")),
        Err(_) => return Err(format!("Get \"{url}\": timed out")),
    };
    let (head, body) = reply.split_once("\r\n\r\n").unwrap_or((&reply, ""));
    let code = head.split_whitespace().nth(1).unwrap_or("");
    if code == "200" {
        Ok(body.trim().to_string())
    } else {
        Err(format!("unhealthy: {url} answered {code}: {}", body.trim()))
    }
}

#[rustfmt::skip]
const COLUMNS: &[Column] = &[
    NAME,
    col("Status", "string", 0, "Status of the component conditions"),
    col("Message", "string", 0, "Message of the component conditions"),
    col("Error", "string", 0, "Error of the component conditions"),
];

fn cells(obj: &Value) -> Vec<Value> {
    let healthy = arr(obj, "/conditions")
        .iter()
        .find(|c| s(c, "/type") == "Healthy");
    let (state, message, error) = match healthy {
        Some(c) if s(c, "/status") == "True" => ("Healthy", s(c, "/message"), s(c, "/error")),
        Some(c) => ("Unhealthy", s(c, "/message"), s(c, "/error")),
        None => ("Unknown", "", ""),
    };
    vec![
        json!(s(obj, "/metadata/name")),
        json!(state),
        json!(message),
        json!(error),
    ]
}
