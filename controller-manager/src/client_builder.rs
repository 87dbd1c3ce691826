//! Who each controller is to the apiserver (upstream's `clientbuilder`).
//!
//! By default every controller uses the controller-manager's own client, so
//! the apiserver sees one user, `system:kube-controller-manager`, do
//! everything. With `--use-service-account-credentials` each controller gets
//! a client of its own ServiceAccount in `kube-system`
//! (`deployment-controller`, `replicaset-controller`, ...): the
//! controller-manager, with its own credentials, makes sure the account
//! exists, asks the TokenRequest API (`serviceaccounts/<name>/token`) for a
//! token, and the controller's client sends that token instead of the
//! manager's certificate. The apiserver then knows the controller as
//! `system:serviceaccount:kube-system:<name>` and lets it do what the
//! bootstrap policy's `system:controller:<name>` ClusterRole allows, no more;
//! the audit log says which controller did what.
//!
//! A token lives an hour; a task per account asks for a new one when 80%
//! of that has passed. The client reads its token from a file (mode 0600 in a
//! private directory) that the task rewrites, as in-cluster clients read
//! their projected token, since the client re-reads such a file every minute.
//! The shared informers keep the manager's own client (as upstream's do).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::ServiceAccount;
use kube::api::{Api, PostParams};

/// Where the controllers' ServiceAccounts live.
pub const NAMESPACE: &str = "kube-system";
/// How long each requested token is valid (upstream's default).
const TOKEN_SECONDS: i64 = 3600;

/// Failures making a controller's client.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The ServiceAccount could not be read or created.
    #[error("service account {NAMESPACE}/{account}: {source}")]
    ServiceAccount {
        /// Its name.
        account: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },
    /// The TokenRequest failed or answered no token.
    #[error("token for service account {NAMESPACE}/{account}: {reason}")]
    Token {
        /// The account.
        account: String,
        /// Why.
        reason: String,
    },
    /// The token file could not be written.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The client could not be built.
    #[error("client for service account {NAMESPACE}/{account}: {source}")]
    Client {
        /// The account.
        account: String,
        /// Why.
        #[source]
        source: kube::Error,
    },
}

type Result<T, E = Error> = std::result::Result<T, E>;

/// Hands each controller its client.
pub enum ClientBuilder {
    /// Every controller is the controller-manager.
    Shared(kube::Client),
    /// `--use-service-account-credentials`.
    ServiceAccounts(Arc<ServiceAccountClients>),
}

impl ClientBuilder {
    /// `root` for everyone, or, given the manager's connection settings,
    /// one ServiceAccount per controller.
    pub fn new(root: kube::Client, service_accounts: Option<kube::Config>) -> Result<Self> {
        Ok(match service_accounts {
            None => ClientBuilder::Shared(root),
            Some(config) => {
                ClientBuilder::ServiceAccounts(Arc::new(ServiceAccountClients::new(root, config)?))
            }
        })
    }

    /// The client of the controller whose ServiceAccount is `account`.
    pub async fn client(&self, account: &str) -> Result<kube::Client> {
        match self {
            ClientBuilder::Shared(root) => Ok(root.clone()),
            ClientBuilder::ServiceAccounts(sa) => sa.client(account).await,
        }
    }
}

/// Clients of ServiceAccounts, made with the manager's credentials.
pub struct ServiceAccountClients {
    root: kube::Client,
    config: kube::Config,
    dir: PathBuf,
    /// One client per account (the node IPAM and lifecycle controllers
    /// share `node-controller`, as upstream).
    made: tokio::sync::Mutex<HashMap<String, kube::Client>>,
}

impl Drop for ServiceAccountClients {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl ServiceAccountClients {
    fn new(root: kube::Client, config: kube::Config) -> Result<Self> {
        use std::os::unix::fs::DirBuilderExt;
        let dir = std::env::temp_dir().join(format!(
            "controller-manager-tokens-{}-{:08x}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .map_err(|source| Error::Io {
                path: dir.clone(),
                source,
            })?;
        Ok(ServiceAccountClients {
            root,
            config,
            dir,
            made: Default::default(),
        })
    }

    async fn client(self: &Arc<Self>, account: &str) -> Result<kube::Client> {
        let mut made = self.made.lock().await;
        if let Some(client) = made.get(account) {
            return Ok(client.clone());
        }
        let client = self.make_client(account).await?;
        made.insert(account.to_string(), client.clone());
        Ok(client)
    }

    async fn make_client(self: &Arc<Self>, account: &str) -> Result<kube::Client> {
        self.ensure_account(account).await?;
        let path = self.dir.join(account);
        let lifetime = self.write_token(account, &path).await?;
        let mut config = self.config.clone();
        // Only the token: a client certificate would make the apiserver see
        // the manager again.
        config.auth_info = kube::config::AuthInfo {
            token_file: Some(path.to_string_lossy().into_owned()),
            ..Default::default()
        };
        let client =
            component_base::client::from_config(config).map_err(|source| Error::Client {
                account: account.to_string(),
                source,
            })?;
        let this = Arc::downgrade(self);
        let account = account.to_string();
        tokio::spawn(async move {
            let mut wait = lifetime.mul_f64(0.8);
            loop {
                tokio::time::sleep(wait).await;
                let Some(this) = this.upgrade() else { return };
                wait = match this.write_token(&account, &path).await {
                    Ok(lifetime) => lifetime.mul_f64(0.8),
                    Err(e) => {
                        tracing::warn!(%account, error = %e, "refreshing the controller's token");
                        Duration::from_secs(10)
                    }
                };
            }
        });
        Ok(client)
    }

    /// Creates the ServiceAccount unless it exists.
    async fn ensure_account(&self, account: &str) -> Result<()> {
        let api: Api<ServiceAccount> = Api::namespaced(self.root.clone(), NAMESPACE);
        let err = |source| Error::ServiceAccount {
            account: account.to_string(),
            source,
        };
        if api.get_opt(account).await.map_err(err)?.is_some() {
            return Ok(());
        }
        let sa = ServiceAccount {
            metadata: kube::api::ObjectMeta {
                name: Some(account.to_string()),
                namespace: Some(NAMESPACE.to_string()),
                ..Default::default()
            },
            ..Default::default()
        };
        match api.create(&PostParams::default(), &sa).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
            Err(e) => Err(err(e)),
        }
    }

    /// Asks for a new token and writes it to `path`; how long it is valid.
    async fn write_token(&self, account: &str, path: &Path) -> Result<Duration> {
        let api: Api<ServiceAccount> = Api::namespaced(self.root.clone(), NAMESPACE);
        let request = TokenRequest {
            spec: Some(TokenRequestSpec {
                expiration_seconds: Some(TOKEN_SECONDS),
                ..Default::default()
            }),
            ..Default::default()
        };
        let token_err = |reason: String| Error::Token {
            account: account.to_string(),
            reason,
        };
        let answer = api
            .create_token_request(account, &PostParams::default(), &request)
            .await
            .map_err(|e| token_err(e.to_string()))?;
        let status = answer.status.unwrap_or_default();
        let token = status
            .token
            .filter(|t| !t.is_empty())
            .ok_or_else(|| token_err("the answer holds no token".into()))?;
        write_private(path, &token)?;
        let expires = status.expiration_timestamp.map_or(0, |t| t.0.as_second());
        let left = expires - k8s_openapi::jiff::Timestamp::now().as_second();
        // An answer without an expiry is taken to last as long as asked.
        let left = u64::try_from(left).unwrap_or(TOKEN_SECONDS as u64);
        Ok(Duration::from_secs(left.max(60)))
    }
}

/// Replaces `path` with `text`, readable by this user only, so a reader
/// never sees half a token.
fn write_private(path: &Path, text: &str) -> Result<()> {
    let tmp = path.with_extension("new");
    component_base::tls::write_private(&tmp, text.as_bytes())
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|source| Error::Io { path: tmp, source })
}
