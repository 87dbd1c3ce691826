//! The stacked etcd cluster: one member per control-plane node, each
//! next to its apiserver. `init` starts a one-member cluster and records
//! its client URL in the `kubeadm-config` ConfigMap (`ClusterStatus`, our
//! stand-in for the annotations upstream reads off its static etcd Pods);
//! `join --control-plane` adds a member through an existing one (TLS, the
//! `apiserver-etcd-client` pair), then starts its own with
//! `--initial-cluster-state=existing`; `reset` on a control-plane node
//! removes its member.

use std::path::Path;
use std::time::Duration;

use etcd_client::{Certificate, Client, ConnectOptions, Identity, TlsOptions};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams};
use serde_json::{json, Value};

use crate::apiclient;

/// The key in `kube-system/kubeadm-config` listing the members' client URLs.
pub const CLUSTER_STATUS: &str = "ClusterStatus";

/// Failures with etcd membership.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A certificate file.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// etcd refused or was unreachable.
    #[error("etcd at {endpoints:?}: {source}")]
    Etcd {
        /// Where we asked.
        endpoints: Vec<String>,
        /// Why.
        #[source]
        source: etcd_client::Error,
    },
    /// No member is known.
    #[error("no etcd endpoints in kube-system/kubeadm-config {CLUSTER_STATUS}")]
    NoEndpoints,
    /// Reading or writing kubeadm-config.
    #[error(transparent)]
    Api(#[from] apiclient::Error),
}

/// Shorthand.
pub type Result<T, E = Error> = std::result::Result<T, E>;

async fn connect(pki_dir: &Path, endpoints: &[String]) -> Result<Client> {
    let read = |f: &str| {
        let path = pki_dir.join(f);
        std::fs::read(&path).map_err(|source| Error::Read {
            path: path.display().to_string(),
            source,
        })
    };
    let tls = TlsOptions::new()
        .ca_certificate(Certificate::from_pem(read("etcd/ca.crt")?))
        .identity(Identity::from_pem(
            read("apiserver-etcd-client.crt")?,
            read("apiserver-etcd-client.key")?,
        ));
    let options = ConnectOptions::new()
        .with_tls(tls)
        .with_connect_timeout(Duration::from_secs(5))
        .with_timeout(Duration::from_secs(10));
    Client::connect(endpoints, Some(options))
        .await
        .map_err(|source| Error::Etcd {
            endpoints: endpoints.to_vec(),
            source,
        })
}

/// Runs `f` until it succeeds, fails otherwise than with etcd's
/// "unhealthy cluster" (a membership change right after another one, while
/// the last member added is not yet counted as healthy), or `timeout`
/// passes; etcd asks clients to wait, as upstream does.
async fn retry_unhealthy<T, F, Fut>(timeout: Duration, mut f: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let start = std::time::Instant::now();
    loop {
        match f().await {
            Err(e) if start.elapsed() < timeout && e.to_string().contains("unhealthy") => {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            other => return other,
        }
    }
}

/// Adds a member named `name` at `peer_url` (waiting up to `timeout` while
/// etcd says the cluster is unhealthy); returns `--initial-cluster` for it
/// (every member, `name=peerURL`).
pub async fn add_member(
    pki_dir: &Path,
    endpoints: &[String],
    name: &str,
    peer_url: &str,
    timeout: Duration,
) -> Result<String> {
    retry_unhealthy(timeout, || {
        try_add_member(pki_dir, endpoints, name, peer_url)
    })
    .await
}

async fn try_add_member(
    pki_dir: &Path,
    endpoints: &[String],
    name: &str,
    peer_url: &str,
) -> Result<String> {
    let mut client = connect(pki_dir, endpoints).await?;
    let err = |source| Error::Etcd {
        endpoints: endpoints.to_vec(),
        source,
    };
    let existing = client.member_list().await.map_err(err)?;
    let mut already = false;
    for m in existing.members() {
        if m.peer_urls().iter().any(|u| u == peer_url) {
            already = true;
        }
    }
    let members = if already {
        existing.members().to_vec()
    } else {
        client
            .member_add([peer_url], None)
            .await
            .map_err(err)?
            .member_list()
            .to_vec()
    };
    Ok(members
        .iter()
        .filter_map(|m| {
            let url = m.peer_urls().first()?;
            // The new member has no name until it starts.
            let n = if url == peer_url { name } else { m.name() };
            Some(format!("{n}={url}"))
        })
        .collect::<Vec<_>>()
        .join(","))
}

/// Removes the member at `peer_url` (a control-plane node's `reset`),
/// waiting up to `timeout` while etcd says the cluster is unhealthy.
pub async fn remove_member(
    pki_dir: &Path,
    endpoints: &[String],
    peer_url: &str,
    timeout: Duration,
) -> Result<bool> {
    retry_unhealthy(timeout, || try_remove_member(pki_dir, endpoints, peer_url)).await
}

async fn try_remove_member(pki_dir: &Path, endpoints: &[String], peer_url: &str) -> Result<bool> {
    let mut client = connect(pki_dir, endpoints).await?;
    let err = |source| Error::Etcd {
        endpoints: endpoints.to_vec(),
        source,
    };
    let list = client.member_list().await.map_err(err)?;
    let Some(id) = list
        .members()
        .iter()
        .find(|m| m.peer_urls().iter().any(|u| u == peer_url))
        .map(|m| m.id())
    else {
        return Ok(false);
    };
    if list.members().len() < 2 {
        return Ok(false);
    }
    client.member_remove(id).await.map_err(err)?;
    Ok(true)
}

/// The members' client URLs recorded in `kubeadm-config`.
pub async fn endpoints(client: &kube::Client) -> Result<Vec<String>> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "kube-system");
    let cm = api
        .get("kubeadm-config")
        .await
        .map_err(|e| Error::Api(e.into()))?;
    let status = cm
        .data
        .and_then(|d| d.get(CLUSTER_STATUS).cloned())
        .unwrap_or_default();
    let doc: Value = serde_yaml_ng::from_str(&status).unwrap_or(Value::Null);
    let urls: Vec<String> = doc["etcdEndpoints"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    if urls.is_empty() {
        return Err(Error::NoEndpoints);
    }
    Ok(urls)
}

/// Records `urls` as the members' client URLs (a merge patch: the
/// ConfigMap's other keys stay).
pub async fn record_endpoints(client: &kube::Client, urls: &[String]) -> Result<()> {
    let status = json!({
        "apiVersion": "kubeadm.k8s.io/v1beta4",
        "kind": "ClusterStatus",
        "etcdEndpoints": urls,
    });
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "kube-system");
    let patch =
        json!({"data": {CLUSTER_STATUS: serde_yaml_ng::to_string(&status).unwrap_or_default()}});
    api.patch(
        "kubeadm-config",
        &PatchParams::default(),
        &Patch::Merge(&patch),
    )
    .await
    .map_err(|e| Error::Api(e.into()))?;
    Ok(())
}
