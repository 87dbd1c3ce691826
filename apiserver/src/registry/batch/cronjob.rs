//! CronJobs (`batch/v1`): Jobs on a schedule. The schedule must parse (five
//! fields or an `@` macro), the concurrency policy is one of three, and the
//! job template follows the Job rules ([`super::job`]).

use k8s_openapi::api::batch::v1::CronJob;
use serde_json::{json, Value};

use super::job::{job_spec_defaults, validate_job_spec};
use crate::defaults::{set_default, template};
use crate::printers::*;
use crate::registry::workload::Workload;
use crate::validation::{invalid, not_supported, required, FieldError};

/// The CronJob strategy.
pub struct CronJobStrategy;

impl Workload for CronJobStrategy {
    type Object = CronJob;
    const COLUMNS: &'static [Column] = COLUMNS;
    const TEMPLATE: &'static str = "/spec/jobTemplate/spec/template";

    fn defaults(obj: &mut Value) {
        set_default(obj, &["spec", "concurrencyPolicy"], json!("Allow"));
        set_default(obj, &["spec", "suspend"], json!(false));
        set_default(obj, &["spec", "successfulJobsHistoryLimit"], json!(3));
        set_default(obj, &["spec", "failedJobsHistoryLimit"], json!(1));
        job_spec_defaults(obj.pointer_mut("/spec/jobTemplate/spec"));
        template(obj, &["spec", "jobTemplate", "spec", "template", "spec"]);
    }

    fn validate(obj: &Value, errs: &mut Vec<FieldError>) {
        let sched = obj
            .pointer("/spec/schedule")
            .and_then(Value::as_str)
            .unwrap_or("");
        if sched.is_empty() {
            errs.push(required("spec.schedule"));
        } else if !is_valid_schedule(sched) {
            errs.push(invalid(
                "spec.schedule",
                &Value::String(sched.into()),
                "unparseable schedule: expected exactly 5 fields or a @-descriptor",
            ));
        }
        if let Some(p) = obj.pointer("/spec/concurrencyPolicy") {
            if !matches!(p.as_str(), Some("Allow" | "Forbid" | "Replace")) {
                errs.push(not_supported(
                    "spec.concurrencyPolicy",
                    p,
                    &["Allow", "Forbid", "Replace"],
                ));
            }
        }
        match obj.pointer("/spec/jobTemplate/spec") {
            Some(spec) => validate_job_spec(spec, "spec.jobTemplate.spec", errs),
            None => errs.push(required("spec.jobTemplate")),
        }
    }

    /// A CronJob has no selector of its own: nothing is fixed.
    fn validate_update(_new: &Value, _old: &Value) -> Vec<FieldError> {
        Vec::new()
    }

    fn status_cells(obj: &Value) -> Vec<Value> {
        let last = match obj.pointer("/status/lastScheduleTime") {
            Some(t) if !t.is_null() => since(t.as_str().unwrap_or("")),
            _ => "<none>".into(),
        };
        let suspend = match obj.pointer("/spec/suspend").and_then(Value::as_bool) {
            Some(true) => "True",
            Some(false) => "False",
            None => "<unset>",
        };
        vec![
            json!(s(obj, "/spec/schedule")),
            json!(or(s(obj, "/spec/timeZone"), "<none>")),
            json!(suspend),
            json!(len_of(obj, "/status/active")),
            json!(last),
        ]
    }

    fn selector_cell(obj: &Value) -> Option<Value> {
        Some(json!(format_label_selector(
            obj.pointer("/spec/jobTemplate/spec/selector")
        )))
    }
}

/// A cron schedule: five fields, or one of the `@` macros.
pub fn is_valid_schedule(s: &str) -> bool {
    let s = s.trim();
    let s = match s.strip_prefix("CRON_TZ=").or_else(|| s.strip_prefix("TZ=")) {
        Some(rest) => rest.split_once(' ').map(|(_, r)| r.trim()).unwrap_or(""),
        None => s,
    };
    if s.starts_with('@') {
        return matches!(
            s,
            "@yearly" | "@annually" | "@monthly" | "@weekly" | "@daily" | "@midnight" | "@hourly"
        ) || s.starts_with("@every ");
    }
    let fields: Vec<&str> = s.split_whitespace().collect();
    let ranges = [(0, 59), (0, 23), (1, 31), (1, 12), (0, 7)];
    fields.len() == 5
        && fields.iter().zip(ranges).all(|(f, (lo, hi))| {
            f.split(',').all(|part| {
                let (range, step) = match part.split_once('/') {
                    Some((r, s)) => (r, Some(s)),
                    None => (part, None),
                };
                if step.is_some_and(|s| s.parse::<u32>().map_or(true, |n| n == 0)) {
                    return false;
                }
                if range == "*" || range == "?" {
                    return true;
                }
                let named = |x: &str| -> Option<u32> {
                    x.parse::<u32>().ok().or_else(|| {
                        let names = [
                            "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct",
                            "nov", "dec", "sun", "mon", "tue", "wed", "thu", "fri", "sat",
                        ];
                        let i = names.iter().position(|n| n.eq_ignore_ascii_case(x))? as u32;
                        Some(if i < 12 { i + 1 } else { i - 12 })
                    })
                };
                let (a, b) = match range.split_once('-') {
                    Some((a, b)) => (named(a), named(b)),
                    None => (named(range), named(range)),
                };
                matches!((a, b), (Some(a), Some(b)) if a >= lo && b <= hi && a <= b)
            })
        })
}

#[rustfmt::skip]
const COLUMNS: &[Column] = &[
    NAME,
    col("Schedule", "string", 0, "The schedule in Cron format."),
    col("Timezone", "string", 0, "The time zone name for the given schedule."),
    col("Suspend", "boolean", 0, "This flag tells the controller to suspend subsequent executions."),
    col("Active", "integer", 0, "A list of pointers to currently running jobs."),
    col("Last Schedule", "string", 0, "Information when was the last time the job was successfully scheduled."),
    AGE,
    CONTAINERS,
    IMAGES,
    SELECTOR,
];
