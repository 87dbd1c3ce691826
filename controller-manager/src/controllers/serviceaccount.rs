//! The ServiceAccounts controller: a `default` ServiceAccount in every
//! namespace.
//!
//! A pod that names no `serviceAccountName` runs as `default`, and clients
//! (the upstream conformance framework among them) wait for it before they
//! use a new namespace, so it must appear within a moment of the namespace.
//! reconcile(namespace): when the namespace is active and the cache has no
//! `default` ServiceAccount in it, create one (409 AlreadyExists means the
//! cache was behind: done). Deleting it brings it back: its deletion
//! enqueues the namespace again ([`per_namespace::register`]).

use std::sync::Arc;

use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::{Context, Started};
use crate::machinery::controller::{is_conflict, Action, Context as _, Reconciler, Result};
use crate::machinery::informer::Store;
use crate::machinery::owner_client::ApiOwnerClient;
use crate::machinery::per_namespace::{self, ObjectWriter};
use crate::machinery::queue::Queue;

/// The ServiceAccount every namespace gets.
pub const DEFAULT: &str = "default";

/// Registers handlers and returns the workers.
pub fn start(ctx: &Context) -> Started {
    let namespaces = ctx.factory.informer::<Namespace>();
    let accounts = ctx.factory.informer::<ServiceAccount>();
    let queue = Queue::new("serviceaccount");
    per_namespace::register(&queue, &namespaces, &accounts, DEFAULT);
    let c = Arc::new(ServiceAccountsController {
        namespaces: namespaces.store(),
        accounts: accounts.store(),
        writer: Arc::new(ApiOwnerClient::new(ctx.client.clone())),
    });
    ctx.workers(c, queue)
}

/// The controller's state.
pub struct ServiceAccountsController {
    namespaces: Store<Namespace>,
    accounts: Store<ServiceAccount>,
    writer: Arc<dyn ObjectWriter<ServiceAccount>>,
}

impl Reconciler for ServiceAccountsController {
    fn name(&self) -> &'static str {
        "serviceaccount"
    }

    async fn reconcile(&self, namespace: &str) -> Result<Action> {
        if !per_namespace::active(&self.namespaces, namespace)
            || self
                .accounts
                .get(&format!("{namespace}/{DEFAULT}"))
                .is_some()
        {
            return Ok(Action::Done);
        }
        let sa = ServiceAccount {
            metadata: ObjectMeta {
                name: Some(DEFAULT.into()),
                namespace: Some(namespace.into()),
                ..Default::default()
            },
            ..Default::default()
        };
        match self.writer.create(namespace, &sa).await {
            Ok(()) => {
                tracing::info!(namespace, "created the default ServiceAccount");
                Ok(Action::Done)
            }
            Err(e) if is_conflict(&e) => Ok(Action::Done),
            Err(e) => Err(e).context(|| format!("creating {namespace}/{DEFAULT}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::machinery::per_namespace::{FakeObjectWriter, Write};

    fn namespace(name: &str, phase: &str) -> Namespace {
        serde_json::from_value(json!({"metadata": {"name": name}, "status": {"phase": phase}}))
            .expect("namespace")
    }

    fn controller(
        namespaces: &[Namespace],
        accounts: &[(&str, &str)],
    ) -> (
        ServiceAccountsController,
        Arc<FakeObjectWriter<ServiceAccount>>,
    ) {
        let ns_store = Store::default();
        for n in namespaces {
            ns_store.insert(n.clone());
        }
        let sa_store = Store::default();
        for (ns, name) in accounts {
            sa_store.insert(
                serde_json::from_value(json!({"metadata": {"name": name, "namespace": ns}}))
                    .expect("sa"),
            );
        }
        let writer = Arc::new(FakeObjectWriter::default());
        let c = ServiceAccountsController {
            namespaces: ns_store,
            accounts: sa_store,
            writer: writer.clone(),
        };
        (c, writer)
    }

    #[tokio::test]
    async fn an_active_namespace_without_default_gets_one() {
        let (c, w) = controller(&[namespace("a", "Active")], &[("a", "builder")]);
        c.reconcile("a").await.expect("reconcile");
        let writes = w.writes();
        assert_eq!(writes.len(), 1);
        let Write::Create(ns, sa) = &writes[0] else {
            panic!("not a create: {writes:?}");
        };
        assert_eq!(ns, "a");
        assert_eq!(sa.metadata.name.as_deref(), Some("default"));
        assert_eq!(sa.metadata.namespace.as_deref(), Some("a"));
    }

    #[tokio::test]
    async fn nothing_is_written_when_it_exists_or_the_namespace_is_gone_or_terminating() {
        let (c, w) = controller(
            &[namespace("a", "Active"), namespace("t", "Terminating")],
            &[("a", "default")],
        );
        for ns in ["a", "t", "missing"] {
            c.reconcile(ns).await.expect("reconcile");
        }
        assert!(w.writes().is_empty(), "{:?}", w.writes());
    }

    #[tokio::test]
    async fn already_exists_means_the_cache_was_behind() {
        let (c, w) = controller(&[namespace("a", "Active")], &[]);
        w.answer_already_exists();
        assert_eq!(c.reconcile("a").await.expect("reconcile"), Action::Done);
    }
}
