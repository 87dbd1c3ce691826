//! The apiserver client of a component: from `--kubeconfig` (server,
//! credentials) and/or `--master` (the server URL, which wins), or the
//! default kubeconfig when neither is given.
//!
//! Over TLS the client speaks HTTP/2 when the apiserver offers it (ALPN),
//! as client-go does: every request and watch of a component shares one
//! connection. kube-rs' own client speaks HTTP/1.1 only, where each watch
//! holds a connection and every request beyond the idle ones opens
//! another: a burst of a hundred pods made the scheduler, the kubelet and
//! the controller-manager open 34-44 new connections each, every one a TLS
//! handshake with a client certificate the apiserver verifies (ECDSA, 8%
//! of the apiserver's CPU in that burst). [`from_config`] builds that
//! client; plain `http://` servers keep HTTP/1.1.

use std::path::Path;
use std::time::Duration;

use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use kube::client::ConfigExt;
use tower::ServiceBuilder;

/// How often an idle HTTP/2 connection is pinged, and how long an answer
/// may take before the connection counts as dead (a stopped machine does
/// not reset it): every request and watch on it then fails and is retried
/// on a new one.
const KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(30);
const KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(15);

/// Failures building a client.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The kubeconfig could not be read or used.
    #[error("kubeconfig {path}: {source}")]
    Kubeconfig {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: kube::config::KubeconfigError,
    },
    /// `--master` is not a URL.
    #[error("invalid --master URL {0:?}")]
    Master(String),
    /// The client could not be built.
    #[error("building the client: {0}")]
    Client(#[source] kube::Error),
    /// Neither flag was given and no in-cluster/default config exists.
    #[error("no --kubeconfig or --master given, and no default config: {0}")]
    NoConfig(String),
}

/// A client from `--kubeconfig` and/or `--master` (the master URL wins for
/// the server address, as upstream).
pub async fn client(
    kubeconfig: Option<&Path>,
    master: Option<&str>,
) -> Result<kube::Client, ClientError> {
    from_config(config(kubeconfig, master).await?).map_err(ClientError::Client)
}

/// A client for `config`: HTTP/2 (offered by ALPN, HTTP/1.1 if the server
/// declines) for an `https://` server, kube-rs' HTTP/1.1 client otherwise.
/// The layers are kube-rs' own: the server's base URI, the credentials,
/// extra headers (impersonation) and retries of 5xx answers.
pub fn from_config(config: kube::Config) -> Result<kube::Client, kube::Error> {
    if config.cluster_url.scheme() != Some(&http::uri::Scheme::HTTPS) {
        return kube::Client::try_from(config);
    }
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(config.connect_timeout);
    let tls = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(config.rustls_client_config()?)
        .https_only();
    let tls = match &config.tls_server_name {
        Some(name) => tls.with_server_name_resolver(hyper_rustls::FixedServerNameResolver::new(
            name.clone()
                .try_into()
                .map_err(kube::client::RustlsTlsError::InvalidServerName)
                .map_err(kube::Error::RustlsTls)?,
        )),
        None => tls,
    };
    let connector = tls.enable_all_versions().wrap_connector(http);
    let client: hyper_util::client::legacy::Client<_, kube::client::Body> =
        hyper_util::client::legacy::Builder::new(TokioExecutor::new())
            .timer(TokioTimer::new())
            .pool_timer(TokioTimer::new())
            .http2_keep_alive_interval(KEEP_ALIVE_INTERVAL)
            .http2_keep_alive_timeout(KEEP_ALIVE_TIMEOUT)
            .http2_keep_alive_while_idle(true)
            .http2_adaptive_window(true)
            .build(connector);
    let service = ServiceBuilder::new()
        .layer(config.base_uri_layer())
        .option_layer(config.default_retry.then(|| {
            tower::retry::RetryLayer::new(kube::client::retry::RetryPolicy::server_retry())
        }))
        .option_layer(config.auth_layer()?)
        .layer(config.extra_headers_layer()?)
        .map_err(tower::BoxError::from)
        .service(client);
    Ok(kube::Client::new(service, config.default_namespace))
}

/// The connection settings [`client`] builds its client from (for a
/// component that makes more clients from them, as the controller-manager
/// does for its controllers' ServiceAccounts).
pub async fn config(
    kubeconfig: Option<&Path>,
    master: Option<&str>,
) -> Result<kube::Config, ClientError> {
    let mut config = match kubeconfig {
        Some(path) => {
            let err = |source| ClientError::Kubeconfig {
                path: path.display().to_string(),
                source,
            };
            let kc = kube::config::Kubeconfig::read_from(path).map_err(err)?;
            kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
                .await
                .map_err(err)?
        }
        None => match master {
            Some(m) => {
                kube::Config::new(m.parse().map_err(|_| ClientError::Master(m.to_string()))?)
            }
            None => kube::Config::infer()
                .await
                .map_err(|e| ClientError::NoConfig(e.to_string()))?,
        },
    };
    if let Some(m) = master {
        config.cluster_url = m.parse().map_err(|_| ClientError::Master(m.to_string()))?;
    }
    config.read_timeout = Some(Duration::from_secs(300));
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn kubeconfig_and_master_build_plain_http_clients() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kubeconfig");
        std::fs::write(
            &path,
            "apiVersion: v1\nkind: Config\nclusters:\n- name: lab\n  cluster:\n    server: http://127.0.0.1:6443\n\
             users:\n- name: admin\n  user: {}\ncontexts:\n- name: lab\n  context: {cluster: lab, user: admin}\n\
             current-context: lab\n",
        )
        .unwrap();
        assert!(client(Some(&path), None).await.is_ok());
        assert!(client(None, Some("http://127.0.0.1:8080")).await.is_ok());
        assert!(matches!(
            client(None, Some("::not a url")).await,
            Err(ClientError::Master(_))
        ));
        assert!(matches!(
            client(Some(&dir.path().join("missing")), None).await,
            Err(ClientError::Kubeconfig { .. })
        ));
    }
}
