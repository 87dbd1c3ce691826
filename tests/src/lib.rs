//! End-to-end and integration tests of the cluster: real etcd, real
//! processes, the real kubectl. The [`harness`] starts and stops what a test
//! needs ([`pki`]: a cluster CA; [`webhook_server`]: webhooks over HTTPS);
//! the tests themselves live in `tests/tests/`.

pub mod bench;
pub mod chaos;
pub mod controllers;
pub mod cpu;
pub mod harness;
pub mod lab;
pub mod pki;
pub mod webhook_server;
