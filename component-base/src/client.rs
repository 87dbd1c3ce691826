//! The apiserver client of a component: from `--kubeconfig` (server,
//! credentials) and/or `--master` (the server URL, which wins), or the
//! default kubeconfig when neither is given.

use std::path::Path;
use std::time::Duration;

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
    kube::Client::try_from(config(kubeconfig, master).await?).map_err(ClientError::Client)
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
