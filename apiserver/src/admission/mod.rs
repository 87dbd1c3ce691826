//! Admission: cluster-wide rules applied to writes after decoding and before
//! storage. So far one plug-in, the namespace lifecycle, which upstream also
//! enables by default.

mod namespace_lifecycle;

pub use namespace_lifecycle::{ensure_system_namespaces, NamespaceLifecycle, SYSTEM_NAMESPACES};
