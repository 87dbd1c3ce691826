//! Eviction signals and thresholds: what the kubelet watches and the level
//! below which it acts.
//!
//! A threshold reads like upstream's `memory.available<100Mi`: a signal, and
//! a quantity (or a percentage of the signal's capacity) it must not fall
//! below. Hard thresholds (`evictionHard`) act at once; soft ones
//! (`evictionSoft`) only after being met for their `evictionSoftGracePeriod`.
//! `evictionMinimumReclaim` asks for that much more than the threshold to be
//! free again before a met threshold counts as relieved, so the kubelet
//! does not hover right at the edge.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::config::FileConfig;

/// A threshold that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The signal name is not one the kubelet observes.
    #[error("eviction signal {0:?} is not supported (memory.available, nodefs.available, imagefs.available, pid.available)")]
    UnknownSignal(String),
    /// The value is neither a quantity nor a percentage in 0..=100.
    #[error("{field}[{signal}]: {value:?} is not a quantity or a percentage between 0% and 100%")]
    InvalidValue {
        /// `evictionHard`, `evictionSoft` or `evictionMinimumReclaim`.
        field: &'static str,
        /// The signal.
        signal: String,
        /// What was written.
        value: String,
    },
    /// A soft threshold without a grace period (upstream refuses it too).
    #[error("evictionSoft[{0}] has no evictionSoftGracePeriod")]
    SoftWithoutGrace(String),
    /// A grace period that is not a positive Go duration.
    #[error("evictionSoftGracePeriod[{signal}]: {value:?} is not a positive duration")]
    InvalidGrace {
        /// The signal.
        signal: String,
        /// What was written.
        value: String,
    },
}

/// What the kubelet observes (upstream's `evictionapi.Signal`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Signal {
    /// Memory capacity minus the working set of the node's root cgroup.
    MemoryAvailable,
    /// Free space on the filesystem of the kubelet's root directory.
    NodeFsAvailable,
    /// Free space on the filesystem of the image store.
    ImageFsAvailable,
    /// `pid_max` minus the processes running.
    PidAvailable,
}

/// The resource a signal's pressure is relieved by evicting pods that use
/// it (the word in the eviction message).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    /// Memory (working set).
    Memory,
    /// Local disk: writable layers, logs, emptyDirs.
    EphemeralStorage,
    /// Processes.
    Pids,
}

impl Resource {
    /// The name upstream prints (`memory`, `ephemeral-storage`, `pids`).
    pub fn name(self) -> &'static str {
        match self {
            Resource::Memory => "memory",
            Resource::EphemeralStorage => "ephemeral-storage",
            Resource::Pids => "pids",
        }
    }
}

impl Signal {
    /// Every signal, in the order upstream evicts for them (memory first).
    pub const ALL: [Signal; 4] = [
        Signal::MemoryAvailable,
        Signal::NodeFsAvailable,
        Signal::ImageFsAvailable,
        Signal::PidAvailable,
    ];

    /// The name in the configuration.
    pub fn name(self) -> &'static str {
        match self {
            Signal::MemoryAvailable => "memory.available",
            Signal::NodeFsAvailable => "nodefs.available",
            Signal::ImageFsAvailable => "imagefs.available",
            Signal::PidAvailable => "pid.available",
        }
    }

    /// The signal named `name`.
    pub fn parse(name: &str) -> Result<Signal, Error> {
        Signal::ALL
            .into_iter()
            .find(|s| s.name() == name)
            .ok_or_else(|| Error::UnknownSignal(name.to_string()))
    }

    /// The node condition its pressure sets.
    pub fn condition(self) -> &'static str {
        match self {
            Signal::MemoryAvailable => "MemoryPressure",
            Signal::NodeFsAvailable | Signal::ImageFsAvailable => "DiskPressure",
            Signal::PidAvailable => "PIDPressure",
        }
    }

    /// What evicting pods reclaims for it.
    pub fn resource(self) -> Resource {
        match self {
            Signal::MemoryAvailable => Resource::Memory,
            Signal::NodeFsAvailable | Signal::ImageFsAvailable => Resource::EphemeralStorage,
            Signal::PidAvailable => Resource::Pids,
        }
    }
}

/// An amount: absolute (bytes, or a count for pids) or a share of capacity.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value {
    /// Bytes (or processes).
    Quantity(u64),
    /// Percent of the signal's capacity.
    Percentage(f64),
}

impl Value {
    /// Parses `100Mi`, `1000` or `10%`; `None` when it is neither.
    pub fn parse(text: &str) -> Option<Value> {
        let text = text.trim();
        if let Some(p) = text.strip_suffix('%') {
            let p: f64 = p.trim().parse().ok()?;
            return (0.0..=100.0).contains(&p).then_some(Value::Percentage(p));
        }
        let v = apimachinery::quantity::value(text).ok()?;
        u64::try_from(v).ok().map(Value::Quantity)
    }

    /// The amount for a signal whose capacity is `capacity`.
    pub fn resolve(self, capacity: u64) -> u64 {
        match self {
            Value::Quantity(q) => q,
            Value::Percentage(p) => (capacity as f64 * p / 100.0) as u64,
        }
    }

    fn is_zero(self) -> bool {
        match self {
            Value::Quantity(q) => q == 0,
            Value::Percentage(p) => p == 0.0,
        }
    }
}

/// One threshold.
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    /// What is compared.
    pub signal: Signal,
    /// The level the signal's available amount must not fall below.
    pub value: Value,
    /// Zero for a hard threshold; how long a soft one must be met.
    pub grace_period: Duration,
    /// Extra to free beyond the threshold before pressure is relieved.
    pub min_reclaim: Option<Value>,
}

impl Threshold {
    /// A hard threshold (acts at once, pods get no grace period).
    pub fn is_hard(&self) -> bool {
        self.grace_period.is_zero()
    }

    /// Whether `available` of `capacity` is below the threshold, plus the
    /// minimum reclaim when `with_reclaim` (a threshold already met stays
    /// met until that much more is free again).
    pub fn met(&self, available: u64, capacity: u64, with_reclaim: bool) -> bool {
        let mut level = self.value.resolve(capacity);
        if with_reclaim {
            level =
                level.saturating_add(self.min_reclaim.map(|r| r.resolve(capacity)).unwrap_or(0));
        }
        available < level
    }

    /// A key telling thresholds apart (a signal may have a hard and a soft one).
    pub fn key(&self) -> (Signal, bool) {
        (self.signal, self.is_hard())
    }
}

fn parse_map(
    field: &'static str,
    map: &BTreeMap<String, String>,
) -> Result<Vec<(Signal, Value)>, Error> {
    let mut out = Vec::new();
    for (name, text) in map {
        let signal = Signal::parse(name)?;
        let value = Value::parse(text).ok_or_else(|| Error::InvalidValue {
            field,
            signal: name.clone(),
            value: text.clone(),
        })?;
        // `0` or `0%` turns a signal off (what upstream does with a
        // threshold that can never be met).
        if !value.is_zero() {
            out.push((signal, value));
        }
    }
    Ok(out)
}

/// Every threshold the configuration asks for.
pub fn parse(file: &FileConfig) -> Result<Vec<Threshold>, Error> {
    let reclaim: BTreeMap<Signal, Value> =
        parse_map("evictionMinimumReclaim", &file.eviction_minimum_reclaim)?
            .into_iter()
            .collect();
    let mut out = Vec::new();
    for (signal, value) in parse_map("evictionHard", &file.eviction_hard)? {
        out.push(Threshold {
            signal,
            value,
            grace_period: Duration::ZERO,
            min_reclaim: reclaim.get(&signal).copied(),
        });
    }
    for (signal, value) in parse_map("evictionSoft", &file.eviction_soft)? {
        let name = signal.name().to_string();
        let text = file
            .eviction_soft_grace_period
            .get(&name)
            .ok_or_else(|| Error::SoftWithoutGrace(name.clone()))?;
        let grace = component_base::duration::parse(text)
            .ok()
            .filter(|d| !d.is_zero())
            .ok_or_else(|| Error::InvalidGrace {
                signal: name.clone(),
                value: text.clone(),
            })?;
        out.push(Threshold {
            signal,
            value,
            grace_period: grace,
            min_reclaim: reclaim.get(&signal).copied(),
        });
    }
    for name in file.eviction_soft_grace_period.keys() {
        Signal::parse(name)?;
    }
    Ok(out)
}

/// The bytes held back from allocatable for a signal: its hard threshold
/// (upstream subtracts `evictionHard` from capacity).
pub fn hard_reserve(file: &FileConfig, signal: Signal, capacity: u64) -> u64 {
    file.eviction_hard
        .get(signal.name())
        .and_then(|t| Value::parse(t))
        .map(|v| v.resolve(capacity))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(yaml: &str) -> FileConfig {
        serde_yaml_ng::from_str(yaml).expect("config")
    }

    #[test]
    fn hard_soft_and_reclaim_are_parsed() {
        let f = file(
            "evictionHard: {memory.available: 100Mi, nodefs.available: '10%', pid.available: '0%'}\n\
             evictionSoft: {memory.available: 1Gi}\n\
             evictionSoftGracePeriod: {memory.available: 1m30s}\n\
             evictionMinimumReclaim: {memory.available: 50Mi}\n",
        );
        let t = parse(&f).expect("valid");
        assert_eq!(t.len(), 3, "pid.available 0% is off: {t:?}");
        let mem_hard = &t[0];
        assert_eq!(mem_hard.signal, Signal::MemoryAvailable);
        assert_eq!(mem_hard.value, Value::Quantity(100 << 20));
        assert!(mem_hard.is_hard());
        assert_eq!(mem_hard.min_reclaim, Some(Value::Quantity(50 << 20)));
        assert_eq!(t[1].value, Value::Percentage(10.0));
        assert_eq!(t[2].grace_period, Duration::from_secs(90));
        assert!(!t[2].is_hard());
    }

    #[test]
    fn bad_thresholds_are_refused() {
        let bad = |yaml: &str| parse(&file(yaml)).expect_err(yaml).to_string();
        assert!(bad("evictionHard: {memory.free: 1Gi}").contains("not supported"));
        assert!(bad("evictionHard: {memory.available: lots}").contains("not a quantity"));
        assert!(bad("evictionHard: {memory.available: '120%'}").contains("not a quantity"));
        assert!(bad("evictionHard: {memory.available: '-1Mi'}").contains("not a quantity"));
        assert!(bad("evictionSoft: {memory.available: 1Gi}").contains("no evictionSoftGracePeriod"));
        assert!(bad(
            "evictionSoft: {memory.available: 1Gi}\nevictionSoftGracePeriod: {memory.available: soon}"
        )
        .contains("not a positive duration"));
    }

    #[test]
    fn signals_compare_against_quantities_and_percentages() {
        let t = Threshold {
            signal: Signal::NodeFsAvailable,
            value: Value::Percentage(10.0),
            grace_period: Duration::ZERO,
            min_reclaim: Some(Value::Quantity(50)),
        };
        // 10% of 1000 is 100: 99 free is pressure, 100 is not.
        assert!(t.met(99, 1000, false));
        assert!(!t.met(100, 1000, false));
        // Once met, it holds until 100 + 50 are free.
        assert!(t.met(149, 1000, true));
        assert!(!t.met(150, 1000, true));
        let q = Threshold {
            value: Value::Quantity(100 << 20),
            ..t
        };
        assert!(q.met((100 << 20) - 1, 0, false));
        assert!(!q.met(100 << 20, 0, false));
        assert_eq!(Signal::ImageFsAvailable.condition(), "DiskPressure");
        assert_eq!(
            Signal::NodeFsAvailable.resource().name(),
            "ephemeral-storage"
        );
    }
}
