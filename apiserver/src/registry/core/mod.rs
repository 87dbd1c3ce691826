//! The core API group (`v1`): one strategy per kind.

pub mod configmap;
pub mod endpoints;
pub mod event;
pub mod namespace;
pub mod node;
pub mod pod;
pub mod podtemplate;
pub mod replicationcontroller;
pub mod secret;
pub mod service;
pub mod serviceaccount;
