//! Reading a Job's status conditions: what the Job controller writes and
//! the CronJob controller reads to tell running Jobs from finished ones.

use k8s_openapi::api::batch::v1::{Job, JobCondition};

/// A condition type's status on the Job (`None` when absent).
pub fn condition<'a>(job: &'a Job, type_: &str) -> Option<&'a JobCondition> {
    job.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)
}

/// Whether the condition `type_` is True.
pub fn condition_true(job: &Job, type_: &str) -> bool {
    condition(job, type_).is_some_and(|c| c.status == "True")
}

/// Whether the Job finished (`Complete` or `Failed` is True).
pub fn finished(job: &Job) -> bool {
    condition_true(job, "Complete") || condition_true(job, "Failed")
}
