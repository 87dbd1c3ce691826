//! Shared API machinery: what every component of the cluster needs to agree on.
//!
//! - [`resources`]: the table of served resources (group, version, kind, plural,
//!   namespaced, short names, subresources). It drives the apiserver's routes,
//!   discovery and storage keys.
//! - [`ingress_class`]: which IngressClass (and so which controller) an
//!   Ingress belongs to.
//! - [`labels`]: label selectors (`app=web,tier in (fe,be),!canary`).
//! - [`fields`]: field selectors (`spec.nodeName=node-1,status.phase!=Running`)
//!   and which fields each resource supports.
//! - [`patch`]: JSON patch, merge patch and strategic merge patch.
//! - [`protobuf`]: decoding the Kubernetes protobuf encoding kubectl's typed
//!   clients send.
//! - [`quantity`]: resource quantities (`250m`, `64Mi`, `1e3`), parsed exactly
//!   with integers, and written back in canonical form.
//! - [`qos`]: a pod's QoS class (Guaranteed, Burstable, BestEffort).
//! - [`quota`]: what an object uses of a ResourceQuota and which quotas
//!   apply to it (shared by quota admission and the quota controller).

pub mod duration;
pub mod fields;
pub mod ingress_class;
pub mod labels;
pub mod patch;
pub mod protobuf;
pub mod qos;
pub mod quantity;
pub mod quota;
pub mod resources;
