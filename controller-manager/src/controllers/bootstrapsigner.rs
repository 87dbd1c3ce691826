//! The bootstrap signer (upstream's `bootstrapsigner`, off unless
//! `--controllers` names it, as upstream; kubeadm turns it on): signs the
//! ConfigMap `kube-public/cluster-info` with every bootstrap token, so that
//! a joining node that knows only a token can trust what it reads there
//! (the apiserver's address and CA) before it trusts the apiserver.
//!
//! `cluster-info` holds a kubeconfig under `kubeconfig`; for every
//! bootstrap token Secret in `kube-system` with
//! `usage-bootstrap-signing: "true"` that has not expired, the signer puts
//! a detached JWS of that kubeconfig under `jws-kubeconfig-<token-id>` and
//! removes the signatures of tokens that are gone. The JWS is upstream's
//! ([`detached_signature`]): HS256 keyed with the token's secret, protected
//! header `{"alg":"HS256","kid":"<token-id>"}`, serialized compactly with
//! the payload left out (`<header>..<signature>`). `kubeadm join` computes
//! the same string with its token and compares.
//!
//! reconcile("cluster-info"): one key for the one ConfigMap; every change
//! of a token Secret or of the ConfigMap enqueues it.

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, PostParams};
use kube::runtime::watcher;

use super::{Context, Started};
use crate::machinery::bootstrap_token::{self, NAMESPACE};
use crate::machinery::controller::{
    is_conflict, is_not_found, Action, Context as _, Reconciler, Result,
};
use crate::machinery::informer::{Informer, Store};
use crate::machinery::queue::Queue;

/// The namespace of `cluster-info`.
pub const CONFIGMAP_NAMESPACE: &str = "kube-public";
/// Its name.
pub const CONFIGMAP: &str = "cluster-info";
/// The key of the kubeconfig it carries.
pub const KUBECONFIG_KEY: &str = "kubeconfig";
/// The prefix of the signature keys.
pub const JWS_PREFIX: &str = "jws-kubeconfig-";

/// The detached JWS of `content` with token `id`.`secret` (upstream's
/// `ComputeDetachedSignature`).
pub fn detached_signature(content: &str, id: &str, secret: &str) -> String {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let header = b64.encode(format!(r#"{{"alg":"HS256","kid":"{id}"}}"#));
    let payload = b64.encode(content);
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    let tag = ring::hmac::sign(&key, format!("{header}.{payload}").as_bytes());
    format!("{header}..{}", b64.encode(tag.as_ref()))
}

/// Registers handlers and returns the informers (only `kube-system`'s
/// Secrets and `kube-public`'s ConfigMaps: the signer may read nothing
/// else) and the workers, which wait for both caches.
pub fn start(ctx: &Context) -> Started {
    let secrets = Informer::<Secret>::new(
        Api::namespaced(ctx.client.clone(), NAMESPACE),
        watcher::Config::default(),
    );
    let configmaps = Informer::<ConfigMap>::new(
        Api::namespaced(ctx.client.clone(), CONFIGMAP_NAMESPACE),
        watcher::Config::default().fields(&format!("metadata.name={CONFIGMAP}")),
    );
    let queue = Queue::new("bootstrapsigner");
    let q = Arc::clone(&queue);
    secrets.add_handler(move |old, new| {
        let token = |s: Option<&Arc<Secret>>| {
            s.is_some_and(|s| s.type_.as_deref() == Some(bootstrap_token::SECRET_TYPE))
        };
        if token(old) || token(new) {
            q.add(CONFIGMAP);
        }
    });
    let q = Arc::clone(&queue);
    configmaps.add_handler(move |_, _| q.add(CONFIGMAP));
    let c = Arc::new(BootstrapSigner {
        secrets: secrets.store(),
        configmaps: configmaps.store(),
        client: ctx.client.clone(),
    });
    let workers = ctx.workers(c, queue);
    Box::pin(async move {
        tokio::spawn(Arc::clone(&secrets).run());
        tokio::spawn(Arc::clone(&configmaps).run());
        secrets.wait_synced().await;
        configmaps.wait_synced().await;
        workers.await
    })
}

/// The controller's state.
pub struct BootstrapSigner {
    secrets: Store<Secret>,
    configmaps: Store<ConfigMap>,
    client: kube::Client,
}

impl Reconciler for BootstrapSigner {
    fn name(&self) -> &'static str {
        "bootstrapsigner"
    }

    async fn reconcile(&self, _key: &str) -> Result<Action> {
        let Some(cm) = self
            .configmaps
            .get(&format!("{CONFIGMAP_NAMESPACE}/{CONFIGMAP}"))
        else {
            return Ok(Action::Done);
        };
        let Some(content) = cm.data.as_ref().and_then(|d| d.get(KUBECONFIG_KEY)) else {
            return Ok(Action::Done);
        };
        let now = chrono::Utc::now();
        let mut next_expiry: Option<chrono::DateTime<chrono::Utc>> = None;
        let mut wanted = BTreeMap::new();
        for s in self.secrets.list() {
            let Some(t) = bootstrap_token::parse(&s) else {
                continue;
            };
            if !t.signing || t.expired(now) || s.metadata.deletion_timestamp.is_some() {
                continue;
            }
            if let Some(e) = t.expiration {
                next_expiry = Some(next_expiry.map_or(e, |n| n.min(e)));
            }
            wanted.insert(
                format!("{JWS_PREFIX}{}", t.id),
                detached_signature(content, &t.id, &t.secret),
            );
        }
        let data = cm.data.clone().unwrap_or_default();
        let mut new = data.clone();
        new.retain(|k, _| !k.starts_with(JWS_PREFIX));
        new.extend(wanted);
        // A token that expires later must lose its signature then.
        let again =
            next_expiry.map(|e| Action::RequeueAfter((e - now).to_std().unwrap_or_default()));
        if new == data {
            return Ok(again.unwrap_or(Action::Done));
        }
        let mut cm = (*cm).clone();
        cm.data = Some(new);
        let api: Api<ConfigMap> = Api::namespaced(self.client.clone(), CONFIGMAP_NAMESPACE);
        match api.replace(CONFIGMAP, &PostParams::default(), &cm).await {
            Ok(_) => {
                tracing::info!("signed {CONFIGMAP_NAMESPACE}/{CONFIGMAP}");
                Ok(again.unwrap_or(Action::Done))
            }
            Err(e) if is_conflict(&e) || is_not_found(&e) => Ok(Action::Done),
            Err(e) => Err(e).context(|| format!("updating {CONFIGMAP_NAMESPACE}/{CONFIGMAP}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A vector computed independently with Python's hmac and base64
    /// modules over the same header and payload.
    #[test]
    fn the_signature_is_a_compact_detached_hs256_jws() {
        let sig = detached_signature("hello", "abcdef", "0123456789abcdef");
        let (header, rest) = sig.split_once("..").expect("detached");
        assert_eq!(header, "eyJhbGciOiJIUzI1NiIsImtpZCI6ImFiY2RlZiJ9");
        assert_eq!(rest, EXPECTED_SIG);
    }

    const EXPECTED_SIG: &str = "MxsnbCjBaYzcbNIFa06F-wuF9LX26rhMlrL4zA1511s";
}
