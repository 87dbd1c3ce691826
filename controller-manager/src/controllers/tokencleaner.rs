//! The token cleaner (upstream's `tokencleaner`, off unless
//! `--controllers` names it, as upstream; kubeadm turns it on): deletes
//! bootstrap token Secrets in `kube-system` once their `expiration` has
//! passed, so an expired `kubeadm join` token disappears instead of
//! lingering (the apiserver refuses it either way).
//!
//! reconcile(kube-system/name): a bootstrap token Secret that has expired
//! (or whose expiration cannot be read) is deleted; one that expires later
//! is looked at again then.

use std::sync::Arc;

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams, Preconditions};
use kube::runtime::watcher;

use super::{Context, Started};
use crate::machinery::bootstrap_token::{self, NAMESPACE};
use crate::machinery::controller::{is_not_found, Action, Context as _, Reconciler, Result};
use crate::machinery::informer::{key_of, split_key, Informer, Store};
use crate::machinery::queue::Queue;

/// Registers the handler and returns the informer of `kube-system`'s
/// Secrets (only that namespace: the cleaner may read nothing else) and the
/// workers.
pub fn start(ctx: &Context) -> Started {
    let secrets = Informer::<Secret>::new(
        Api::namespaced(ctx.client.clone(), NAMESPACE),
        watcher::Config::default(),
    );
    let queue = Queue::new("tokencleaner");
    let q = Arc::clone(&queue);
    secrets.add_handler(move |_, new| {
        if let Some(s) = new {
            if s.type_.as_deref() == Some(bootstrap_token::SECRET_TYPE) {
                q.add(key_of(s.as_ref()));
            }
        }
    });
    let c = Arc::new(TokenCleaner {
        secrets: secrets.store(),
        client: ctx.client.clone(),
    });
    let workers = ctx.workers(c, queue);
    Box::pin(async move {
        tokio::spawn(Arc::clone(&secrets).run());
        secrets.wait_synced().await;
        workers.await
    })
}

/// The controller's state.
pub struct TokenCleaner {
    secrets: Store<Secret>,
    client: kube::Client,
}

impl Reconciler for TokenCleaner {
    fn name(&self) -> &'static str {
        "tokencleaner"
    }

    async fn reconcile(&self, key: &str) -> Result<Action> {
        let Some(secret) = self.secrets.get(key) else {
            return Ok(Action::Done);
        };
        let now = chrono::Utc::now();
        let expired = match bootstrap_token::parse(&secret) {
            Some(t) => match t.expiration {
                Some(e) if e > now => {
                    let left = (e - now).to_std().unwrap_or_default();
                    return Ok(Action::RequeueAfter(left));
                }
                Some(_) => true,
                None => bootstrap_token::has_bad_expiration(&secret),
            },
            None => bootstrap_token::has_bad_expiration(&secret),
        };
        if !expired {
            return Ok(Action::Done);
        }
        let (_, name) = split_key(key);
        let api: Api<Secret> = Api::namespaced(self.client.clone(), NAMESPACE);
        let dp = DeleteParams {
            preconditions: Some(Preconditions {
                uid: secret.metadata.uid.clone(),
                resource_version: secret.metadata.resource_version.clone(),
            }),
            ..Default::default()
        };
        match api.delete(name, &dp).await {
            Ok(_) => {
                tracing::info!(secret = key, "deleted expired bootstrap token");
                Ok(Action::Done)
            }
            Err(e) if is_not_found(&e) => Ok(Action::Done),
            Err(e) => Err(e).context(|| format!("deleting expired bootstrap token {key}")),
        }
    }
}
