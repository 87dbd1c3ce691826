//! The root CA publisher: the cluster's CA certificate in every namespace,
//! as the ConfigMap `kube-root-ca.crt` (key `ca.crt`).
//!
//! A pod that talks to the apiserver verifies it with this certificate (the
//! ServiceAccount token volume projects it next to the token), so it must
//! be in every namespace and always equal to the cluster's CA: the file
//! given to `--root-ca-file`. Without that flag the controller does not
//! run, as upstream. reconcile(namespace): when the namespace is active,
//! create the ConfigMap if the cache has none, or put the certificate (and
//! the description annotation) back if someone changed it; deleting it
//! brings it back ([`per_namespace::register`]).

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::{Context, Started};
use crate::machinery::controller::{is_conflict, Action, Context as _, Reconciler, Result};
use crate::machinery::informer::Store;
use crate::machinery::owner_client::ApiOwnerClient;
use crate::machinery::per_namespace::{self, ObjectWriter};
use crate::machinery::queue::Queue;

/// The ConfigMap's name.
pub const CONFIGMAP: &str = "kube-root-ca.crt";
/// Its key holding the PEM certificate.
pub const KEY: &str = "ca.crt";
/// The annotation that says what the ConfigMap is for.
pub const DESCRIPTION_ANNOTATION: &str = "kubernetes.io/description";
/// What it says.
pub const DESCRIPTION: &str = "The cluster's root certificate authority (CA), for clients in this \
     namespace to verify the apiserver's serving certificate. Kept by the controller-manager.";

/// Registers handlers and returns the workers; without a CA (no
/// `--root-ca-file`, or a file that cannot be read) there is nothing to do.
pub fn start(ctx: &Context) -> Started {
    let Some(path) = ctx.config.root_ca_file.clone() else {
        tracing::info!("no --root-ca-file: not publishing kube-root-ca.crt");
        return Box::pin(async {});
    };
    let ca = match std::fs::read_to_string(&path) {
        Ok(ca) => ca,
        Err(e) => {
            tracing::error!(path = %path.display(), error = %e, "cannot read the root CA; not publishing it");
            return Box::pin(async {});
        }
    };
    let namespaces = ctx.factory.informer::<Namespace>();
    let configmaps = ctx.factory.informer::<ConfigMap>();
    let queue = Queue::new("root-ca-cert-publisher");
    per_namespace::register(&queue, &namespaces, &configmaps, CONFIGMAP);
    let c = Arc::new(RootCaPublisher {
        ca,
        namespaces: namespaces.store(),
        configmaps: configmaps.store(),
        writer: Arc::new(ApiOwnerClient::new(ctx.client.clone())),
    });
    ctx.workers(c, queue)
}

/// The controller's state.
pub struct RootCaPublisher {
    ca: String,
    namespaces: Store<Namespace>,
    configmaps: Store<ConfigMap>,
    writer: Arc<dyn ObjectWriter<ConfigMap>>,
}

impl Reconciler for RootCaPublisher {
    fn name(&self) -> &'static str {
        "root-ca-cert-publisher"
    }

    async fn reconcile(&self, namespace: &str) -> Result<Action> {
        if !per_namespace::active(&self.namespaces, namespace) {
            return Ok(Action::Done);
        }
        let data = BTreeMap::from([(KEY.to_string(), self.ca.clone())]);
        let result = match self.configmaps.get(&format!("{namespace}/{CONFIGMAP}")) {
            None => {
                let cm = ConfigMap {
                    metadata: ObjectMeta {
                        name: Some(CONFIGMAP.into()),
                        namespace: Some(namespace.into()),
                        annotations: Some(description()),
                        ..Default::default()
                    },
                    data: Some(data),
                    ..Default::default()
                };
                self.writer.create(namespace, &cm).await
            }
            Some(cm) if self.up_to_date(&cm, &data) => return Ok(Action::Done),
            Some(cm) => {
                let mut cm = (*cm).clone();
                cm.data = Some(data);
                cm.binary_data = None;
                cm.metadata
                    .annotations
                    .get_or_insert_with(BTreeMap::new)
                    .extend(description());
                self.writer.replace(namespace, &cm).await
            }
        };
        match result {
            Ok(()) => {
                tracing::info!(namespace, "published {CONFIGMAP}");
                Ok(Action::Done)
            }
            // A stale cache (create) or a concurrent edit (replace): the
            // watch event that follows enqueues the namespace again.
            Err(e) if is_conflict(&e) => Ok(Action::Done),
            Err(e) => Err(e).context(|| format!("publishing {namespace}/{CONFIGMAP}")),
        }
    }
}

impl RootCaPublisher {
    fn up_to_date(&self, cm: &ConfigMap, data: &BTreeMap<String, String>) -> bool {
        cm.data.as_ref() == Some(data)
            && cm.binary_data.as_ref().is_none_or(BTreeMap::is_empty)
            && cm
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(DESCRIPTION_ANNOTATION))
                .is_some_and(|d| !d.is_empty())
    }
}

fn description() -> BTreeMap<String, String> {
    BTreeMap::from([(DESCRIPTION_ANNOTATION.to_string(), DESCRIPTION.to_string())])
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::machinery::per_namespace::{FakeObjectWriter, Write};

    const CA: &str = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

    fn publisher(
        configmaps: &[serde_json::Value],
    ) -> (RootCaPublisher, Arc<FakeObjectWriter<ConfigMap>>) {
        let namespaces = Store::default();
        for (n, phase) in [("a", "Active"), ("t", "Terminating")] {
            namespaces.insert(
                serde_json::from_value(
                    json!({"metadata": {"name": n}, "status": {"phase": phase}}),
                )
                .expect("namespace"),
            );
        }
        let store = Store::default();
        for cm in configmaps {
            store.insert(serde_json::from_value(cm.clone()).expect("configmap"));
        }
        let writer = Arc::new(FakeObjectWriter::default());
        let p = RootCaPublisher {
            ca: CA.into(),
            namespaces,
            configmaps: store,
            writer: writer.clone(),
        };
        (p, writer)
    }

    fn published(data: serde_json::Value) -> serde_json::Value {
        json!({"metadata": {"name": CONFIGMAP, "namespace": "a", "resourceVersion": "4",
                            "annotations": {DESCRIPTION_ANNOTATION: DESCRIPTION}},
               "data": data})
    }

    #[tokio::test]
    async fn a_namespace_without_it_gets_the_ca() {
        let (p, w) = publisher(&[]);
        p.reconcile("a").await.expect("reconcile");
        p.reconcile("t").await.expect("terminating: nothing");
        let writes = w.writes();
        assert_eq!(writes.len(), 1, "{writes:?}");
        let Write::Create(ns, cm) = &writes[0] else {
            panic!("not a create: {writes:?}");
        };
        assert_eq!(ns, "a");
        assert_eq!(cm.metadata.name.as_deref(), Some(CONFIGMAP));
        assert_eq!(
            cm.data
                .as_ref()
                .and_then(|d| d.get(KEY))
                .map(String::as_str),
            Some(CA)
        );
    }

    #[tokio::test]
    async fn an_equal_one_is_left_alone_and_a_changed_one_is_put_back() {
        let (p, w) = publisher(&[published(json!({KEY: CA}))]);
        p.reconcile("a").await.expect("reconcile");
        assert!(w.writes().is_empty());

        let (p, w) = publisher(&[published(json!({KEY: "tampered", "extra": "x"}))]);
        p.reconcile("a").await.expect("reconcile");
        let writes = w.writes();
        let [Write::Replace(_, cm)] = writes.as_slice() else {
            panic!("not one replace: {writes:?}");
        };
        assert_eq!(
            serde_json::to_value(&cm.data).expect("json"),
            json!({KEY: CA})
        );
        assert_eq!(
            cm.metadata.resource_version.as_deref(),
            Some("4"),
            "guarded by the version it read"
        );
    }
}
