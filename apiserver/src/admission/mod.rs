//! Admission: cluster-wide rules applied to writes after decoding and before
//! storage, each a plug-in upstream enables by default. The create handler
//! applies namespace lifecycle to every namespaced object; the kinds'
//! strategies ([`crate::registry`]) call the ones that concern one kind:
//!
//! - [`namespace_lifecycle`]: no objects in missing or terminating namespaces;
//! - [`service_account`]: a pod runs as a ServiceAccount that exists, with
//!   its API token mounted;
//! - [`priority`]: a pod's `priorityClassName` resolves to `spec.priority`;
//! - [`service_ip`]: a Service gets a cluster IP from the service range;
//! - [`service_node_port`]: a NodePort Service gets its ports on every node
//!   (both through the etcd-key [`reservation`]s);
//! - [`limit_ranger`]: a pod's containers get the LimitRanges' default
//!   requests and limits, and pods, containers and claims must stay within
//!   their min/max/ratio;
//! - [`runtime_class`]: a pod's RuntimeClass exists and gives it its
//!   `overhead`, node selector and tolerations;
//! - [`resource_quota`]: a new object must fit the namespace's
//!   ResourceQuotas, and is charged to them before it is stored;
//! - [`storage`]: a new claim gets the default StorageClass
//!   (DefaultStorageClass), claims and volumes their protection finalizers
//!   (StorageObjectInUseProtection);
//! - [`ingress_class`]: a new Ingress gets the default IngressClass
//!   (DefaultIngressClass).
//!
//! - [`certificates`]: approving a CertificateSigningRequest or issuing its
//!   certificate needs `approve`/`sign` on its signer (CertificateApproval,
//!   CertificateSigning; checked by the `/approval` and `/status` writes).
//!
//! The validating phase starts with [`pod_security`] (the Pod Security
//! Standards per namespace: refuses pods, warns about workloads' templates
//! and checks namespaces' labels).
//!
//! After the built-in plug-ins come the cluster's own admission webhooks
//! ([`webhook`]): mutating webhooks before the kind's validation,
//! [`validating_admission_policy`] and the validating webhooks after it.
//!
//! [`Plugins`] says which of the plug-ins that may be switched off
//! (`--disable-admission-plugins`, upstream's flag) are off.

pub mod admission_policy;
pub mod certificates;
pub mod ingress_class;
pub mod limit_ranger;
pub mod mutating_admission_policy;
pub mod namespace_lifecycle;
pub mod pod_security;
pub mod priority;
pub mod reservation;
pub mod resource_quota;
pub mod runtime_class;
pub mod service_account;
pub mod service_ip;
pub mod service_node_port;
pub mod storage;
pub mod validating_admission_policy;
pub mod webhook;

use std::collections::BTreeSet;

pub use namespace_lifecycle::{NamespaceLifecycle, SYSTEM_NAMESPACES};

/// Plug-ins that run unless disabled.
pub const SWITCHABLE: &[&str] = &[
    service_account::PLUGIN_NAME,
    pod_security::PLUGIN_NAME,
    mutating_admission_policy::PLUGIN_NAME,
    webhook::MUTATING_PLUGIN_NAME,
    validating_admission_policy::PLUGIN_NAME,
    webhook::VALIDATING_PLUGIN_NAME,
    storage::DEFAULT_STORAGE_CLASS,
    storage::IN_USE_PROTECTION,
    ingress_class::PLUGIN_NAME,
];

/// Plug-ins that always run: the API's own bookkeeping depends on them
/// (`NodeRestriction` is the Node authorizer's, on with `--authorization-mode=Node`).
pub const ALWAYS_ON: &[&str] = &["NamespaceLifecycle", "Priority", "NodeRestriction"];

/// A bad `--enable-admission-plugins` / `--disable-admission-plugins`.
#[derive(Debug, thiserror::Error)]
pub enum PluginsError {
    /// A name no plug-in has.
    #[error("unknown admission plugin {0:?} (known: {known})", known = known().join(", "))]
    Unknown(String),
    /// A plug-in that cannot be switched off.
    #[error("admission plugin {0:?} cannot be disabled")]
    AlwaysOn(String),
    /// Named by both flags.
    #[error("admission plugin {0:?} is both enabled and disabled")]
    Both(String),
}

fn known() -> Vec<&'static str> {
    SWITCHABLE.iter().chain(ALWAYS_ON).copied().collect()
}

/// Which switchable plug-ins are off.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plugins {
    disabled: BTreeSet<String>,
}

impl Plugins {
    /// From the two flags' lists. Enabling a plug-in that runs anyway is
    /// allowed (upstream's lab scripts list them).
    pub fn from_flags(enable: &[String], disable: &[String]) -> Result<Plugins, PluginsError> {
        let known = known();
        for name in enable.iter().chain(disable) {
            if !known.contains(&name.as_str()) {
                return Err(PluginsError::Unknown(name.clone()));
            }
        }
        let mut disabled = BTreeSet::new();
        for name in disable {
            if ALWAYS_ON.contains(&name.as_str()) {
                return Err(PluginsError::AlwaysOn(name.clone()));
            }
            if enable.contains(name) {
                return Err(PluginsError::Both(name.clone()));
            }
            disabled.insert(name.clone());
        }
        Ok(Plugins { disabled })
    }

    /// Every switchable plug-in but `names`.
    pub fn disabling(names: &[&str]) -> Plugins {
        Plugins {
            disabled: names.iter().map(|n| n.to_string()).collect(),
        }
    }

    /// Whether the plug-in `name` is switched off.
    pub fn disabled(&self, name: &str) -> bool {
        self.disabled.contains(name)
    }
}

/// A pod refused by an admission plug-in, named as upstream names it: by its
/// name, or before one is generated by its `generateName`, else `Unknown`.
pub(crate) fn pod_forbidden(pod: &serde_json::Value, why: String) -> crate::errors::ApiError {
    let at = |p: &str| {
        pod.pointer(p)
            .and_then(serde_json::Value::as_str)
            .unwrap_or("")
    };
    let name = [at("/metadata/name"), at("/metadata/generateName")]
        .into_iter()
        .find(|n| !n.is_empty())
        .unwrap_or("Unknown");
    crate::errors::ApiError::Forbidden(
        crate::errors::Target {
            group: String::new(),
            resource: "pods".into(),
            name: name.into(),
        },
        format!("pods \"{name}\" is forbidden: {why}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn flags_switch_plugins_off_and_refuse_nonsense() {
        let p = Plugins::from_flags(&[], &[]).expect("no flags");
        assert!(!p.disabled("ServiceAccount"));
        let p = Plugins::from_flags(&list(&["NodeRestriction"]), &list(&["ServiceAccount"]))
            .expect("valid");
        assert!(p.disabled("ServiceAccount"));
        assert_eq!(p, Plugins::disabling(&["ServiceAccount"]));
        let err = Plugins::from_flags(&[], &list(&["Bogus"])).expect_err("unknown");
        assert!(err
            .to_string()
            .starts_with("unknown admission plugin \"Bogus\""));
        assert!(Plugins::from_flags(&[], &list(&["NamespaceLifecycle"])).is_err());
        assert!(
            Plugins::from_flags(&list(&["ServiceAccount"]), &list(&["ServiceAccount"])).is_err()
        );
    }
}
