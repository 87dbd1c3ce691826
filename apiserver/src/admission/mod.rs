//! Admission: cluster-wide rules applied to writes after decoding and before
//! storage, each a plug-in upstream enables by default. The create handler
//! applies namespace lifecycle to every namespaced object; the kinds'
//! strategies ([`crate::registry`]) call the ones that concern one kind:
//!
//! - [`namespace_lifecycle`]: no objects in missing or terminating namespaces;
//! - [`priority`]: a pod's `priorityClassName` resolves to `spec.priority`;
//! - [`service_ip`]: a Service gets a cluster IP from the service range;
//! - [`service_node_port`]: a NodePort Service gets its ports on every node
//!   (both through the etcd-key [`reservation`]s).
//!
//! After the built-in plug-ins come the cluster's own admission webhooks
//! ([`webhook`]): mutating webhooks before the kind's validation,
//! [`validating_admission_policy`] and the validating webhooks after it.

pub mod namespace_lifecycle;
pub mod priority;
pub mod reservation;
pub mod service_ip;
pub mod service_node_port;
pub mod validating_admission_policy;
pub mod webhook;

pub use namespace_lifecycle::{NamespaceLifecycle, SYSTEM_NAMESPACES};
