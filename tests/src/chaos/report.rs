//! The verdict of a chaos run: what must be zero, and the recovery times.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;

use super::faults::{Component, Recovery};
use super::load::Load;
use super::watchers::SharedLog;
use super::workloads::{PodHealth, Settle};

/// What the run collected.
pub struct Inputs {
    /// The load's acknowledged and failed writes.
    pub load: Load,
    /// Every raw watcher's log.
    pub watchers: Vec<SharedLog>,
    /// Watchers that had not seen the sentinel write in time.
    pub caught_up: usize,
    /// A fresh list of the load at the end.
    pub final_list: Vec<ConfigMap>,
    /// The reflector's copy (name -> resourceVersion).
    pub reflected: BTreeMap<String, u64>,
    /// Every kill and its recovery.
    pub recoveries: Vec<Recovery>,
    /// Rollouts of `roller` started during the run.
    pub rollouts: u64,
    /// How the Deployments settled.
    pub settle: Settle,
    /// The workload pods at the end.
    pub pods: PodHealth,
}

/// The report: counts that must be zero, and figures.
#[derive(Debug, Default)]
pub struct Report {
    /// Acknowledged writes.
    pub acked: usize,
    /// Writes that failed (not acknowledged).
    pub failed: u64,
    /// Acknowledged writes missing from the final state.
    pub lost: usize,
    /// Raw watchers.
    pub watchers: usize,
    /// Events delivered over all watchers.
    pub events: usize,
    /// Acknowledged writes a watcher never saw (summed over watchers).
    pub missed: usize,
    /// The first few of those: watcher, object, resourceVersion.
    pub missed_examples: Vec<String>,
    /// Events delivered twice (summed).
    pub duplicated: u64,
    /// Events out of resourceVersion order (summed).
    pub out_of_order: u64,
    /// ERROR events other than 410 (summed).
    pub watch_errors: u64,
    /// 410s, each followed by a re-list (summed).
    pub gone: u64,
    /// Watch reconnects (summed).
    pub reconnects: u64,
    /// Watchers that did not catch up with the last write.
    pub behind: usize,
    /// Objects where the reflector differs from a fresh list.
    pub reflector_diff: usize,
    /// Rollouts started.
    pub rollouts: u64,
    /// Whether the Deployments were complete at the end, and after how long.
    pub settled: Option<Duration>,
    /// Workload pods at the end, and those not Running and Ready.
    pub pods: usize,
    /// Names of pods not Running and Ready.
    pub not_running: Vec<String>,
    /// Container restarts in workload pods.
    pub restarts: i32,
    /// Kills per component with their recovery times.
    pub recoveries: Vec<Recovery>,
}

fn seq_of(cm: &ConfigMap) -> Option<u64> {
    cm.data.as_ref()?.get("seq")?.parse().ok()
}

fn rv_of(cm: &ConfigMap) -> u64 {
    cm.metadata
        .resource_version
        .as_deref()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Checks the invariants.
pub fn check(inputs: Inputs) -> Report {
    let mut r = Report {
        acked: inputs.load.acked.len(),
        failed: inputs.load.failed,
        watchers: inputs.watchers.len(),
        behind: inputs.caught_up,
        rollouts: inputs.rollouts,
        settled: inputs.settle.available.then_some(inputs.settle.took),
        pods: inputs.pods.total,
        not_running: inputs.pods.not_running.clone(),
        restarts: inputs.pods.restarts,
        recoveries: inputs.recoveries,
        ..Report::default()
    };
    let final_state: BTreeMap<String, &ConfigMap> = inputs
        .final_list
        .iter()
        .map(|c| (c.metadata.name.clone().unwrap_or_default(), c))
        .collect();
    for ack in &inputs.load.acked {
        let kept = final_state
            .get(&ack.name)
            .and_then(|c| seq_of(c))
            .is_some_and(|seq| seq >= ack.seq);
        if !kept {
            r.lost += 1;
        }
    }
    for (i, log) in inputs.watchers.iter().enumerate() {
        let Ok(log) = log.lock() else {
            r.missed += inputs.load.acked.len();
            continue;
        };
        r.events += log.events.len();
        r.duplicated += log.duplicates;
        r.out_of_order += log.out_of_order;
        r.watch_errors += log.errors;
        r.gone += log.gone;
        r.reconnects += log.reconnects;
        for a in inputs.load.acked.iter().filter(|a| !log.covers(a.rv)) {
            r.missed += 1;
            if r.missed_examples.len() < 10 {
                r.missed_examples.push(format!(
                    "watcher {i}: {} seq {} at resourceVersion {} (lists at {:?})",
                    a.name, a.seq, a.rv, log.lists
                ));
            }
        }
    }
    let listed: BTreeMap<String, u64> = inputs
        .final_list
        .iter()
        .map(|c| (c.metadata.name.clone().unwrap_or_default(), rv_of(c)))
        .collect();
    let names: std::collections::BTreeSet<&String> =
        listed.keys().chain(inputs.reflected.keys()).collect();
    r.reflector_diff = names
        .into_iter()
        .filter(|n| listed.get(*n) != inputs.reflected.get(*n))
        .count();
    r
}

impl Report {
    /// Whether every must-be-zero count is zero.
    pub fn passed(&self) -> bool {
        self.lost == 0
            && self.missed == 0
            && self.duplicated == 0
            && self.out_of_order == 0
            && self.watch_errors == 0
            && self.behind == 0
            && self.reflector_diff == 0
            && self.settled.is_some()
            && self.not_running.is_empty()
            && self.restarts == 0
            && self.recoveries.iter().all(|r| r.recovered_in.is_some())
    }
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "ok"
    } else {
        "FAIL"
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "| check | value | must be | |")?;
        writeln!(f, "|---|---|---|---|")?;
        let mut row = |name: &str, value: String, want: &str, ok: bool| {
            writeln!(f, "| {name} | {value} | {want} | {} |", verdict(ok))
        };
        row(
            "acknowledged writes lost",
            format!("{} of {}", self.lost, self.acked),
            "0",
            self.lost == 0,
        )?;
        row(
            "watch events missed (all watchers)",
            format!(
                "{} ({} watchers, {} events)",
                self.missed, self.watchers, self.events
            ),
            "0",
            self.missed == 0,
        )?;
        row(
            "watch events duplicated",
            self.duplicated.to_string(),
            "0",
            self.duplicated == 0,
        )?;
        row(
            "watch events out of order",
            self.out_of_order.to_string(),
            "0",
            self.out_of_order == 0,
        )?;
        row(
            "watch ERROR events other than 410",
            self.watch_errors.to_string(),
            "0",
            self.watch_errors == 0,
        )?;
        row(
            "watchers behind at the end",
            self.behind.to_string(),
            "0",
            self.behind == 0,
        )?;
        row(
            "reflector objects differing from a fresh list",
            self.reflector_diff.to_string(),
            "0",
            self.reflector_diff == 0,
        )?;
        row(
            "container restarts (workload pods)",
            self.restarts.to_string(),
            "0",
            self.restarts == 0,
        )?;
        row(
            "workload pods not Running+Ready at the end",
            format!(
                "{} of {} {:?}",
                self.not_running.len(),
                self.pods,
                self.not_running
            ),
            "0",
            self.not_running.is_empty(),
        )?;
        row(
            "Deployments complete after the faults",
            match self.settled {
                Some(d) => format!("after {:.1?}", d),
                None => "no".into(),
            },
            "yes",
            self.settled.is_some(),
        )?;
        writeln!(f)?;
        for m in &self.missed_examples {
            writeln!(f, "- missed: {m}")?;
        }
        writeln!(
            f,
            "Writes failed while a component was down: {}; 410s (each re-listed): {}; \
             watch reconnects: {}; rollouts started: {}.",
            self.failed, self.gone, self.reconnects, self.rollouts
        )?;
        writeln!(f)?;
        writeln!(
            f,
            "| component | kills | down (each) | recovered in (each) |"
        )?;
        writeln!(f, "|---|---|---|---|")?;
        let mut by: BTreeMap<String, Vec<&Recovery>> = BTreeMap::new();
        for rec in &self.recoveries {
            let key = match rec.component {
                Component::Kubelet(_) => "kubelet".to_string(),
                c => c.lab_name(),
            };
            by.entry(key).or_default().push(rec);
        }
        for (name, recs) in by {
            let downs: Vec<String> = recs.iter().map(|r| format!("{:.1?}", r.down)).collect();
            let ups: Vec<String> = recs
                .iter()
                .map(|r| match r.recovered_in {
                    Some(d) => format!("{:.2?}", d),
                    None => "never".into(),
                })
                .collect();
            writeln!(
                f,
                "| {name} | {} | {} | {} |",
                recs.len(),
                downs.join(", "),
                ups.join(", ")
            )?;
        }
        Ok(())
    }
}
