//! The machinery every controller shares, in the shape of client-go and
//! kube-runtime: one concern per module.
//!
//! - [`informer`]: list + watch one resource type into an in-memory
//!   [`informer::Store`] and call event handlers with (old, new) objects.
//! - [`queue`]: a de-duplicating work queue of keys with delayed and
//!   rate-limited (exponential backoff) re-adds; a key is never handed to two
//!   workers at once.
//! - [`controller`]: the worker loop: pop a key, `reconcile(key)`, then
//!   forget it, requeue it after a delay, or back off on error.
//! - [`expectations`]: what a controller has asked the apiserver to create or
//!   delete and not yet seen in its watch, so it never acts twice on a lag.

pub mod controller;
pub mod expectations;
pub mod informer;
pub mod queue;
