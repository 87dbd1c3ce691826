//! The controller machinery: everything the controllers share, in the
//! shape of client-go, kube-runtime and upstream's `pkg/controller`, one
//! concern per module. (Named `machinery`, not `runtime`: in this project
//! the runtime is the kubelet's container runtime; and not `controller`,
//! which is already the worker loop below and the `controllers/` folder.)
//!
//! The loop every controller runs:
//! - [`informer`]: list + watch one resource type into an in-memory
//!   [`informer::Store`] and call event handlers with (old, new) objects.
//! - [`queue`]: a de-duplicating work queue of keys with delayed and
//!   rate-limited (exponential backoff) re-adds; a key is never handed to two
//!   workers at once.
//! - [`controller`]: the worker loop: pop a key, `reconcile(key)`, then
//!   forget it, requeue it after a delay, or back off on error.
//! - [`expectations`]: what a controller has asked the apiserver to create or
//!   delete and not yet seen in its watch, so it never acts twice on a lag.
//!
//! What the workload controllers (ReplicaSet, Deployment, Job, DaemonSet,
//! StatefulSet, CronJob) share (upstream `controller_utils.go` and
//! `controller_ref_manager.go`):
//! - [`pod_control`]: create and delete pods with Events and expectations,
//!   behind a fakeable [`pod_control::PodClient`];
//! - [`controller_ref`]: controller references, adoption and release of
//!   objects by selector, and the pod event handler that finds a pod's
//!   owner;
//! - [`owner_client`]: a fresh read of the owner and the one status write;
//! - [`pods`]: pod state (active, ready, available) and deletion ranking;
//! - [`template_hash`]: the `pod-template-hash` / revision of a template;
//! - [`history`]: the ControllerRevisions of DaemonSets and StatefulSets
//!   (their template history, for rolling updates and `rollout undo`);
//! - [`job_status`]: a Job's conditions (Job and CronJob).
//!
//! And for the rest: [`meta`] (times, labels, selectors, int-or-percent),
//! [`service_endpoints`] (a Service's pods and ports, for the Endpoints and
//! EndpointSlice controllers), [`node_addresses`] (the Ready nodes'
//! addresses, for the built-in load balancers) and [`per_namespace`] (an object kept in
//! every namespace, for the ServiceAccounts controller and the root CA
//! publisher), [`csr`] (CertificateSigningRequests: conditions and the
//! node request rules, for the CSR approver and signer) and
//! [`bootstrap_token`] (bootstrap token Secrets, for the bootstrap signer
//! and the token cleaner).

pub mod bootstrap_token;
pub mod controller;
pub mod controller_ref;
pub mod csr;
pub mod expectations;
pub mod history;
pub mod informer;
pub mod job_status;
pub mod meta;
pub mod node_addresses;
pub mod owner_client;
pub mod per_namespace;
pub mod pod_control;
pub mod pods;
pub mod queue;
pub mod service_endpoints;
pub mod template_hash;
