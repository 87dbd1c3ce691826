//! The kubelet library: the node agent ([`agent`]: its client
//! [`certificate`] (TLS bootstrap, rotation), [`node`], [`pod`],
//! node-pressure [`eviction`],
//! [`volumes`], [`network`], the service [`proxy`], the [`ingress`] proxy
//! and the cluster DNS server [`cluster_dns`] over one view of the cluster's [`services`], the
//! API [`server`]) and the `kubelet ctl` debug command ([`ctl`]), both on top
//! of the built-in container runtime, which is its own crate
//! ([`container_runtime`]) so that it cannot reach the Kubernetes API.
pub mod agent;
pub mod certificate;
pub mod cluster_dns;
pub mod config;
pub mod credentialprovider;
pub mod ctl;
pub mod eviction;
pub mod failover;
pub mod ingress;
pub mod network;
pub mod node;
pub mod pod;
pub mod proxy;
pub mod server;
pub mod services;
pub mod volumes;
