//! The apiserver clients kubeadm uses: the admin's (from `admin.conf` or
//! `super-admin.conf`), an anonymous one for discovery (first without
//! checking the server, then pinned to the discovered CA), and one with
//! the bootstrap token; plus waiting for `/readyz` and applying objects.

use std::path::Path;
use std::time::{Duration, Instant};

use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams};
use serde_json::Value;

/// The field manager of everything kubeadm applies.
pub const FIELD_MANAGER: &str = "kubeadm";

/// Failures talking to the apiserver.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The kubeconfig could not be used.
    #[error("kubeconfig {what}: {message}")]
    Config {
        /// Which one.
        what: String,
        /// Why.
        message: String,
    },
    /// A request failed.
    #[error(transparent)]
    Kube(#[from] kube::Error),
    /// `/readyz` did not answer ok in time.
    #[error("the API server at {server} was not healthy after {waited:?}: {last}")]
    NotHealthy {
        /// Its URL.
        server: String,
        /// How long we waited.
        waited: Duration,
        /// The last answer or error.
        last: String,
    },
}

/// Shorthand.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A client from the kubeconfig file at `path`.
pub async fn from_file(path: &Path) -> Result<kube::Client> {
    let err = |message: String| Error::Config {
        what: path.display().to_string(),
        message,
    };
    let kc = kube::config::Kubeconfig::read_from(path).map_err(|e| err(e.to_string()))?;
    let config =
        kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
            .await
            .map_err(|e| err(e.to_string()))?;
    Ok(kube::Client::try_from(config)?)
}

/// A client from kubeconfig YAML (`what` names it in errors).
pub async fn from_text(text: &str, what: &str) -> Result<kube::Client> {
    let err = |message: String| Error::Config {
        what: what.into(),
        message,
    };
    let kc = kube::config::Kubeconfig::from_yaml(text).map_err(|e| err(e.to_string()))?;
    let config =
        kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
            .await
            .map_err(|e| err(e.to_string()))?;
    Ok(kube::Client::try_from(config)?)
}

/// An anonymous client of `server` that trusts `ca_pem`, or, without one,
/// does not check the server's certificate at all (discovery's first
/// step, whose answer is then checked by its signature and CA pin).
pub fn anonymous(server: &str, ca_pem: Option<&str>) -> Result<kube::Client> {
    let url = server.parse().map_err(|_| Error::Config {
        what: server.into(),
        message: "not a URL".into(),
    })?;
    let mut config = kube::Config::new(url);
    config.connect_timeout = Some(Duration::from_secs(5));
    config.read_timeout = Some(Duration::from_secs(10));
    match ca_pem.and_then(crate::pki::first_der) {
        Some(der) => config.root_cert = Some(vec![der]),
        None => config.accept_invalid_certs = true,
    }
    Ok(kube::Client::try_from(config)?)
}

/// Waits until `GET /readyz` answers `ok`; returns how long it took.
pub async fn wait_healthy(
    client: &kube::Client,
    server: &str,
    timeout: Duration,
) -> Result<Duration> {
    let start = Instant::now();
    let mut last = String::from("no answer yet");
    loop {
        let req = http::Request::get("/readyz").body(Vec::new());
        if let Ok(req) = req {
            match client.request_text(req).await {
                Ok(body) if body.trim() == "ok" => return Ok(start.elapsed()),
                Ok(body) => last = body,
                Err(e) => last = e.to_string(),
            }
        }
        if start.elapsed() > timeout {
            return Err(Error::NotHealthy {
                server: server.into(),
                waited: start.elapsed(),
                last,
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Creates or updates `obj` (a `K` as JSON) by server-side apply, as
/// kubeadm's field manager.
pub async fn apply<K: kube::Resource<DynamicType = ()>>(
    client: &kube::Client,
    obj: &Value,
) -> Result<()> {
    apply_as(client, obj, &ApiResource::erase::<K>(&())).await
}

/// [`apply`] of an object of the resource `ar`.
pub async fn apply_as(client: &kube::Client, obj: &Value, ar: &ApiResource) -> Result<()> {
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let api: Api<DynamicObject> = match obj.pointer("/metadata/namespace").and_then(Value::as_str) {
        Some(ns) => Api::namespaced_with(client.clone(), ns, ar),
        None => Api::all_with(client.clone(), ar),
    };
    let mut obj = obj.clone();
    obj["apiVersion"] = Value::from(ar.api_version.clone());
    obj["kind"] = Value::from(ar.kind.clone());
    api.patch(
        name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&obj),
    )
    .await?;
    Ok(())
}
