//! The kubelet library: the built-in container runtime ([`runtime`]) and the
//! `kubelet ctl` debug command on top of it ([`ctl`]).
pub mod ctl;
pub mod runtime;
