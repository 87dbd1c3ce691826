//! Jobs (`batch/v1`): pods that run to completion.
//!
//! Defaults are upstream's (one completion, parallelism 1, six retries); the
//! pod template must restart `OnFailure` or `Never`; selector and template
//! never change. Once a new Job has its uid, its selector and pod labels are
//! derived from it (unless `manualSelector`), so its pods can never be
//! confused with another Job's. CronJobs share the JobSpec rules
//! ([`job_spec_defaults`], [`validate_job_spec`]).

use chrono::Utc;
use k8s_openapi::api::batch::v1::Job;
use serde_json::Map;
use serde_json::{json, Value};

use crate::defaults::{set_default, template};
use crate::printers::*;
use crate::registry::workload::Workload;
use crate::validation::pod_template::validate_selector_unchanged;
use crate::validation::{
    immutable, invalid, not_supported, required, validate_pod_spec, FieldError,
};

/// The Job strategy.
pub struct JobStrategy;

impl Workload for JobStrategy {
    type Object = Job;
    const COLUMNS: &'static [Column] = COLUMNS;

    fn defaults(obj: &mut Value) {
        job_spec_defaults(obj.get_mut("spec"));
        template(obj, &["spec", "template", "spec"]);
    }

    fn validate(obj: &Value, errs: &mut Vec<FieldError>) {
        match obj.get("spec") {
            Some(spec) => validate_job_spec(spec, "spec", errs),
            None => errs.push(required("spec")),
        }
    }

    /// The pod template never changes either.
    fn validate_update(new: &Value, old: &Value) -> Vec<FieldError> {
        let mut errs = validate_selector_unchanged(new, old);
        if new.pointer("/spec/template") != old.pointer("/spec/template") {
            errs.push(immutable(
                "spec.template",
                &Value::String("<the pod template>".into()),
            ));
        }
        errs
    }

    fn prepare_for_create(obj: &mut Value, uid: &str) {
        job_selector_and_labels(obj, uid);
    }

    fn status_cells(obj: &Value) -> Vec<Value> {
        let succeeded = n(obj, "/status/succeeded");
        let completions = match obj.pointer("/spec/completions").and_then(Value::as_i64) {
            Some(want) => format!("{succeeded}/{want}"),
            None => match n(obj, "/spec/parallelism") {
                p if p > 1 => format!("{succeeded}/1 of {p}"),
                _ => format!("{succeeded}/1"),
            },
        };
        let start = parse_time(s(obj, "/status/startTime"));
        let end = parse_time(s(obj, "/status/completionTime"));
        let duration = match (start, end) {
            (None, _) => String::new(),
            (Some(start), None) => human_duration((Utc::now() - start).num_seconds()),
            (Some(start), Some(end)) => human_duration((end - start).num_seconds()),
        };
        // Upstream looks at the first condition of each type only.
        let condition = |ty: &str| {
            arr(obj, "/status/conditions")
                .iter()
                .find(|c| s(c, "/type") == ty)
                .is_some_and(|c| s(c, "/status") == "True")
        };
        let status = if condition("Complete") {
            "Complete"
        } else if condition("Failed") {
            "Failed"
        } else if obj
            .pointer("/metadata/deletionTimestamp")
            .is_some_and(|d| !d.is_null())
        {
            "Terminating"
        } else if condition("Suspended") {
            "Suspended"
        } else if condition("FailureTarget") {
            "FailureTarget"
        } else {
            "Running"
        };
        vec![json!(status), json!(completions), json!(duration)]
    }
}

/// Defaults of a JobSpec (in a Job or a CronJob's job template).
pub fn job_spec_defaults(spec: Option<&mut Value>) {
    let Some(spec) = spec.filter(|s| s.is_object()) else {
        return;
    };
    let has_completions = spec.get("completions").is_some_and(|v| !v.is_null());
    let has_parallelism = spec.get("parallelism").is_some_and(|v| !v.is_null());
    if !has_completions && !has_parallelism {
        set_default(spec, &["completions"], json!(1));
    }
    set_default(spec, &["parallelism"], json!(1));
    // With a per-index limit the Job-wide one no longer applies.
    let per_index = spec
        .get("backoffLimitPerIndex")
        .is_some_and(|v| !v.is_null());
    let backoff = if per_index { i64::from(i32::MAX) } else { 6 };
    set_default(spec, &["backoffLimit"], json!(backoff));
    set_default(spec, &["completionMode"], json!("NonIndexed"));
    set_default(spec, &["suspend"], json!(false));
}

/// Sets a Job's selector and pod labels from its uid (called once the uid is
/// known), unless the user chose `manualSelector`.
pub fn job_selector_and_labels(obj: &mut Value, uid: &str) {
    if obj.pointer("/spec/manualSelector").and_then(Value::as_bool) == Some(true) {
        return;
    }
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let labels: Map<String, Value> = [
        ("batch.kubernetes.io/controller-uid", uid),
        ("batch.kubernetes.io/job-name", name.as_str()),
        ("controller-uid", uid),
        ("job-name", name.as_str()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), json!(v)))
    .collect();
    if obj.pointer("/spec/selector").is_none() {
        set_default(
            obj,
            &["spec", "selector", "matchLabels"],
            json!({"batch.kubernetes.io/controller-uid": uid}),
        );
    }
    for (k, v) in labels {
        set_default(obj, &["spec", "template", "metadata", "labels", &k], v);
    }
}

/// Rules of a JobSpec found at `path`.
pub fn validate_job_spec(spec: &Value, path: &str, errs: &mut Vec<FieldError>) {
    for f in [
        "parallelism",
        "completions",
        "backoffLimit",
        "activeDeadlineSeconds",
    ] {
        if let Some(v) = spec.get(f).and_then(Value::as_i64) {
            if v < 0 {
                errs.push(invalid(
                    format!("{path}.{f}"),
                    &Value::from(v),
                    "must be greater than or equal to 0",
                ));
            }
        }
    }
    match spec.pointer("/template/spec") {
        Some(pod) => {
            validate_pod_spec(pod, &format!("{path}.template.spec"), errs);
            let rp = pod.get("restartPolicy").cloned().unwrap_or(Value::Null);
            if !matches!(rp.as_str(), Some("OnFailure" | "Never")) {
                errs.push(not_supported(
                    format!("{path}.template.spec.restartPolicy"),
                    &rp,
                    &["OnFailure", "Never"],
                ));
            }
        }
        None => errs.push(required(format!("{path}.template"))),
    }
}

#[rustfmt::skip]
const COLUMNS: &[Column] = &[
    NAME,
    col("Status", "string", 0, "Status of the job."),
    col("Completions", "string", 0, "The number of pods which reached phase Succeeded."),
    col("Duration", "string", 0, "Time required to complete the job."),
    AGE,
    CONTAINERS,
    IMAGES,
    SELECTOR,
];
