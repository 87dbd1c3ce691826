//! The `batch` API group: pods that run to completion, once or on a schedule.

pub mod cronjob;
pub mod job;
