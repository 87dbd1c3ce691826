//! The `events.k8s.io` API group: the `core/v1` Events in a newer shape.

pub mod event;
