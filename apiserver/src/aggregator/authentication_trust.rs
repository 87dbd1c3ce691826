//! The `kube-system/extension-apiserver-authentication` ConfigMap: what an
//! extension apiserver reads (with the `extension-apiserver-authentication-reader`
//! Role) to trust this server, as upstream's cluster authentication trust
//! controller publishes it.
//!
//! | key | from |
//! | --- | --- |
//! | `client-ca-file` | `--client-ca-file` (clients with certificates) |
//! | `requestheader-client-ca-file` | `--requestheader-client-ca-file` (the front proxy: this server's `--proxy-client-cert-file` chains to it) |
//! | `requestheader-allowed-names` | `--requestheader-allowed-names`, a JSON list |
//! | `requestheader-username-headers`, `-group-headers`, `-extra-headers-prefix`, `-uid-headers` | the `--requestheader-*` header flags, JSON lists |
//!
//! The request-header keys are written only with a request-header CA.
//! Upstream merges what other apiservers of the cluster wrote; with one
//! apiserver the ConfigMap is simply kept equal to these flags.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use crate::storage::StorageError;
use crate::ApiServer;

/// The ConfigMap's namespace.
pub const NAMESPACE: &str = "kube-system";
/// The ConfigMap's name.
pub const NAME: &str = "extension-apiserver-authentication";

/// How often the ConfigMap is compared with the flags.
const PERIOD: Duration = Duration::from_secs(10);

/// The ConfigMap's data for this server's flags; `Err` names a CA file
/// that cannot be read.
pub fn data(server: &ApiServer) -> Result<BTreeMap<String, String>, String> {
    let read = |p: &std::path::Path| {
        std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))
    };
    let mut out = BTreeMap::new();
    if let Some(ca) = &server.config.tls.client_ca_file {
        let pem = read(ca)?;
        if !pem.is_empty() {
            out.insert("client-ca-file".into(), pem);
        }
    }
    let rh = &server.config.aggregator.requestheader;
    let Some(ca) = &rh.client_ca_file else {
        return Ok(out);
    };
    let pem = read(ca)?;
    if pem.is_empty() {
        return Ok(out);
    }
    let list = |v: &Vec<String>| json!(v).to_string();
    out.insert(
        "requestheader-username-headers".into(),
        list(&rh.username_headers),
    );
    if !rh.uid_headers.is_empty() {
        out.insert("requestheader-uid-headers".into(), list(&rh.uid_headers));
    }
    out.insert(
        "requestheader-group-headers".into(),
        list(&rh.group_headers),
    );
    out.insert(
        "requestheader-extra-headers-prefix".into(),
        list(&rh.extra_headers_prefix),
    );
    out.insert("requestheader-client-ca-file".into(), pem);
    out.insert(
        "requestheader-allowed-names".into(),
        list(&rh.allowed_names),
    );
    Ok(out)
}

/// Runs until the server stops.
pub async fn run(server: Arc<ApiServer>) {
    super::periodically(server, PERIOD, |s| async move {
        if let Err(e) = sync(&s).await {
            tracing::warn!(error = %e, "publishing {NAMESPACE}/{NAME}");
        }
    })
    .await;
}

async fn sync(server: &ApiServer) -> Result<(), String> {
    let want = json!(data(server)?);
    let Some(res) = apimachinery::resources::find("", "v1", "configmaps") else {
        return Ok(());
    };
    let key = server.store.key(res.storage_name(), Some(NAMESPACE), NAME);
    match server.store.get(&key).await.map_err(|e| e.to_string())? {
        None => {
            let mut obj = json!({
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": NAME, "namespace": NAMESPACE},
                "data": want,
            });
            crate::registry::prepare_for_create(res, &mut obj, &uuid::Uuid::new_v4().to_string());
            match server.store.create(&key, &obj, None).await {
                Ok(_) => {
                    tracing::info!(
                        "wrote the authentication info to {NAMESPACE}/configmaps/{NAME}"
                    );
                    Ok(())
                }
                Err(StorageError::AlreadyExists) => Ok(()),
                Err(e) => Err(e.to_string()),
            }
        }
        Some(current) => {
            if current.object.get("data").unwrap_or(&Value::Null) == &want {
                return Ok(());
            }
            let mut obj = current.object;
            obj["data"] = want;
            match server.store.update(&key, &obj, current.mod_revision).await {
                Ok(_) => {
                    tracing::info!(
                        "updated the authentication info in {NAMESPACE}/configmaps/{NAME}"
                    );
                    Ok(())
                }
                Err(StorageError::Conflict) => Ok(()),
                Err(e) => Err(e.to_string()),
            }
        }
    }
}
