//! What every control-plane component shares, as upstream's
//! `k8s.io/component-base` and client-go's `leaderelection`:
//!
//! - [`client`]: an apiserver client from `--kubeconfig` and/or `--master`;
//! - [`duration`]: Go-style durations (`15s`, `2m0s`) for flags and config
//!   files, parsed exactly;
//! - [`events`]: the core/v1 Event recorder (`kubectl describe` shows them);
//! - [`health_server`]: `/healthz`, `/livez`, `/readyz` and `/metrics`
//!   (Prometheus, through `prometheus-client`);
//! - [`leader_election`]: act only while holding a `coordination.k8s.io`
//!   Lease, so several replicas of the scheduler or controller-manager can
//!   run with one active; its `--leader-elect*` flags ([`leader_election::Flags`]);
//! - [`storage`]: the persistent-volume annotations and matching rules
//!   the scheduler, the PV controller and the kubelet share;
//! - [`tolerations`]: whether a pod's tolerations tolerate a node's taint,
//!   the one rule of the scheduler and the DaemonSet and node lifecycle
//!   controllers;
//! - [`tls`]: TLS on a component's own port (a given or self-signed pair, a
//!   client CA) and on the connections it dials by hand.

pub mod client;
pub mod duration;
pub mod events;
pub mod health_server;
pub mod leader_election;
pub mod proxied;
pub mod storage;
pub mod tls;
pub mod tolerations;
