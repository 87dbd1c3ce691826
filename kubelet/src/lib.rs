//! The kubelet library: the node agent ([`agent`]: [`node`], [`pod`],
//! [`volumes`], [`network`], the service [`proxy`] and cluster [`dns`] over
//! one view of the cluster's [`services`], the API [`server`]), the built-in
//! container runtime ([`runtime`]) and the `kubelet ctl` debug command on top
//! of it ([`ctl`]).
pub mod agent;
pub mod config;
pub mod ctl;
pub mod dns;
pub mod network;
pub mod node;
pub mod pod;
pub mod proxy;
pub mod runtime;
pub mod server;
pub mod services;
pub mod volumes;
