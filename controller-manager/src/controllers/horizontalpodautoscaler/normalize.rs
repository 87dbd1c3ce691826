//! From the count the metrics propose to the count written (upstream's
//! `normalizeDesiredReplicas[WithBehaviors]`), with the memory that needs:
//! the recent recommendations of each HPA (for the stabilization windows)
//! and its recent scale events (for the rate policies). Both live in the
//! controller's memory, as upstream's do: a restarted controller-manager
//! starts with an empty history (and records the current count as its
//! first recommendation, so it never scales down at once).
//!
//! Without `behavior`: the highest recommendation of the last
//! `--horizontal-pod-autoscaler-downscale-stabilization` (5 min), then
//! min/max replicas and a scale-up of at most max(2 × current, 4).
//! With `behavior`: the recommendation is held between the lowest of the
//! scale-up window and the highest of the scale-down window, then limited
//! by the policies of the direction (`Pods` or `Percent` per
//! `periodSeconds`, counted from the replicas at the period's start;
//! `selectPolicy` `Max`, `Min` or `Disabled`) and by min/max replicas.

use std::collections::HashMap;
use std::sync::Mutex;

use k8s_openapi::api::autoscaling::v2::{
    HPAScalingPolicy, HPAScalingRules, HorizontalPodAutoscalerBehavior,
};

/// A recommendation and when it was made (epoch ms).
#[derive(Debug, Clone, Copy)]
struct Recommendation {
    replicas: i32,
    at_ms: i64,
}

/// A change of the replica count (always positive) and when.
#[derive(Debug, Clone, Copy)]
struct ScaleEvent {
    change: i32,
    at_ms: i64,
    outdated: bool,
}

/// The outcome: the count, and the reasons and messages of the AbleToScale
/// and ScalingLimited conditions it sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Normalized {
    /// The count to write.
    pub replicas: i32,
    /// AbleToScale's reason (`ReadyForNewScale`, `ScaleDownStabilized`, ...).
    pub able_reason: &'static str,
    /// AbleToScale's message.
    pub able_message: &'static str,
    /// Whether the count was limited (ScalingLimited=True).
    pub limited: bool,
    /// ScalingLimited's reason (`DesiredWithinRange`, `TooManyReplicas`, ...).
    pub limited_reason: &'static str,
    /// ScalingLimited's message.
    pub limited_message: &'static str,
}

/// The defaults upstream's API fills into a `behavior`, for the parts an
/// HPA leaves out: scale up by max(4 pods, 100 %) per 15 s without a
/// window, scale down by 100 % per 15 s after the controller's window.
pub fn with_defaults(
    behavior: &HorizontalPodAutoscalerBehavior,
    downscale_window_secs: i32,
) -> (HPAScalingRules, HPAScalingRules) {
    let policy = |type_: &str, value, period| HPAScalingPolicy {
        type_: type_.into(),
        value,
        period_seconds: period,
    };
    let mut up = behavior.scale_up.clone().unwrap_or_default();
    if up.stabilization_window_seconds.is_none() {
        up.stabilization_window_seconds = Some(0);
    }
    if up.select_policy.is_none() {
        up.select_policy = Some("Max".into());
    }
    if up.policies.as_ref().is_none_or(|p| p.is_empty()) {
        up.policies = Some(vec![policy("Pods", 4, 15), policy("Percent", 100, 15)]);
    }
    let mut down = behavior.scale_down.clone().unwrap_or_default();
    if down.stabilization_window_seconds.is_none() {
        down.stabilization_window_seconds = Some(downscale_window_secs);
    }
    if down.select_policy.is_none() {
        down.select_policy = Some("Max".into());
    }
    if down.policies.as_ref().is_none_or(|p| p.is_empty()) {
        down.policies = Some(vec![policy("Percent", 100, 15)]);
    }
    (up, down)
}

#[derive(Debug, Default)]
struct History {
    recommendations: Vec<Recommendation>,
    ups: Vec<ScaleEvent>,
    downs: Vec<ScaleEvent>,
}

/// What one normalization is about (upstream's `NormalizationArg`).
#[derive(Debug, Clone, Copy)]
pub struct Args<'a> {
    /// The HPA's key.
    pub key: &'a str,
    /// The target's count now.
    pub current: i32,
    /// What the metrics propose.
    pub proposed: i32,
    /// `minReplicas`.
    pub min: i32,
    /// `maxReplicas`.
    pub max: i32,
    /// Now (epoch ms).
    pub now_ms: i64,
}

/// The recommendations and scale events of every HPA, by key.
#[derive(Debug, Default)]
pub struct Memory {
    by_key: Mutex<HashMap<String, History>>,
}

const READY: (&str, &str) = ("ReadyForNewScale", "recommended size matches current size");
const DOWN_STABILIZED: (&str, &str) = (
    "ScaleDownStabilized",
    "recent recommendations were higher than current one, applying the highest recent recommendation",
);
const UP_STABILIZED: (&str, &str) = (
    "ScaleUpStabilized",
    "recent recommendations were lower than current one, applying the lowest recent recommendation",
);
const WITHIN: (&str, &str) = (
    "DesiredWithinRange",
    "the desired count is within the acceptable range",
);
const UP_LIMIT: (&str, &str) = (
    "ScaleUpLimit",
    "the desired replica count is increasing faster than the maximum scale rate",
);
const DOWN_LIMIT: (&str, &str) = (
    "ScaleDownLimit",
    "the desired replica count is decreasing faster than the maximum scale rate",
);
const TOO_MANY: (&str, &str) = (
    "TooManyReplicas",
    "the desired replica count is more than the maximum replica count",
);
const TOO_FEW: (&str, &str) = (
    "TooFewReplicas",
    "the desired replica count is less than the minimum replica count",
);

fn normalized(
    replicas: i32,
    stabilized: i32,
    able: (&'static str, &'static str),
    limit: (&'static str, &'static str),
) -> Normalized {
    Normalized {
        replicas,
        able_reason: able.0,
        able_message: able.1,
        limited: replicas != stabilized,
        limited_reason: limit.0,
        limited_message: limit.1,
    }
}

/// The change within the last `period_secs` of `events`.
fn change_in_period(events: &[ScaleEvent], period_secs: i32, now_ms: i64) -> i32 {
    let cutoff = now_ms - i64::from(period_secs) * 1000;
    events
        .iter()
        .filter(|e| e.at_ms > cutoff)
        .map(|e| e.change)
        .sum()
}

fn policies(rules: &HPAScalingRules) -> &[HPAScalingPolicy] {
    rules.policies.as_deref().unwrap_or(&[])
}

/// The furthest count the policies of one direction allow now: the
/// highest for a scale-up, the lowest for a scale-down. Each policy counts
/// from the replicas at the start of its period (what the recorded scale
/// events undo); `selectPolicy: Max` takes the policy allowing the biggest
/// change, `Min` the smallest, `Disabled` allows none.
fn policy_limit(current: i32, h: &History, rules: &HPAScalingRules, now_ms: i64, up: bool) -> i32 {
    let select = rules.select_policy.as_deref().unwrap_or("Max");
    if select == "Disabled" {
        return current;
    }
    let biggest_change = select != "Min";
    let mut result: Option<i32> = None;
    for p in policies(rules) {
        let start = current - change_in_period(&h.ups, p.period_seconds, now_ms)
            + change_in_period(&h.downs, p.period_seconds, now_ms);
        let factor = f64::from(p.value) / 100.0;
        let proposed = match (p.type_.as_str(), up) {
            ("Pods", true) => start + p.value,
            ("Pods", false) => start - p.value,
            // Rounded up on the way up, so a small percentage still adds a pod.
            (_, true) => (f64::from(start) * (1.0 + factor)).ceil() as i32,
            (_, false) => (f64::from(start) * (1.0 - factor)) as i32,
        };
        // Up, the biggest change is the highest count; down, the lowest.
        let take_higher = biggest_change == up;
        result = Some(match result {
            None => proposed,
            Some(r) if take_higher => r.max(proposed),
            Some(r) => r.min(proposed),
        });
    }
    result.unwrap_or(current)
}

/// Replaces the oldest outdated entry, or appends.
fn record<T>(list: &mut Vec<T>, is_old: impl Fn(&T) -> bool, new: T) {
    match list.iter().rposition(is_old) {
        Some(i) => list[i] = new,
        None => list.push(new),
    }
}

impl Memory {
    fn with<R>(&self, key: &str, f: impl FnOnce(&mut History) -> R) -> R {
        let mut all = self.by_key.lock().unwrap_or_else(|p| p.into_inner());
        f(all.entry(key.to_string()).or_default())
    }

    /// Forgets a deleted HPA.
    pub fn forget(&self, key: &str) {
        let mut all = self.by_key.lock().unwrap_or_else(|p| p.into_inner());
        all.remove(key);
    }

    /// The first recommendation of an HPA is its current count.
    pub fn record_initial(&self, key: &str, current: i32, now_ms: i64) {
        self.with(key, |h| {
            if h.recommendations.is_empty() {
                h.recommendations.push(Recommendation {
                    replicas: current,
                    at_ms: now_ms,
                });
            }
        });
    }

    /// Normalizes without `behavior`, with a scale-down window of
    /// `window_ms`.
    pub fn normalize(&self, a: &Args, window_ms: i64) -> Normalized {
        let Args {
            key,
            current,
            proposed,
            min,
            max,
            now_ms,
        } = *a;
        let stabilized = self.with(key, |h| {
            let cutoff = now_ms - window_ms;
            let mut highest = proposed;
            for r in &h.recommendations {
                if r.at_ms >= cutoff {
                    highest = highest.max(r.replicas);
                }
            }
            let new = Recommendation {
                replicas: proposed,
                at_ms: now_ms,
            };
            record(&mut h.recommendations, |r| r.at_ms < cutoff, new);
            highest
        });
        let able = if stabilized != proposed {
            DOWN_STABILIZED
        } else {
            READY
        };
        let scale_up_limit = (2 * current).max(4);
        let (ceiling, over) = if max > scale_up_limit {
            (scale_up_limit, UP_LIMIT)
        } else {
            (max, TOO_MANY)
        };
        if stabilized < min {
            return normalized(min, stabilized, able, TOO_FEW);
        }
        if stabilized > ceiling {
            return normalized(ceiling, stabilized, able, over);
        }
        normalized(stabilized, stabilized, able, WITHIN)
    }

    /// Normalizes with `behavior` (already defaulted: [`with_defaults`]).
    pub fn normalize_with_behavior(
        &self,
        a: &Args,
        up: &HPAScalingRules,
        down: &HPAScalingRules,
    ) -> Normalized {
        let Args {
            key,
            current,
            proposed,
            min,
            max,
            now_ms,
        } = *a;
        self.with(key, |h| {
            // Stabilize.
            let up_cutoff = now_ms - i64::from(up.stabilization_window_seconds.unwrap_or(0)) * 1000;
            let down_cutoff =
                now_ms - i64::from(down.stabilization_window_seconds.unwrap_or(300)) * 1000;
            let (mut up_rec, mut down_rec) = (proposed, proposed);
            for r in &h.recommendations {
                if r.at_ms > up_cutoff {
                    up_rec = up_rec.min(r.replicas);
                }
                if r.at_ms > down_cutoff {
                    down_rec = down_rec.max(r.replicas);
                }
            }
            let stabilized = current.max(up_rec).min(down_rec);
            record(
                &mut h.recommendations,
                |r| r.at_ms < up_cutoff && r.at_ms < down_cutoff,
                Recommendation {
                    replicas: proposed,
                    at_ms: now_ms,
                },
            );
            let able = if stabilized == proposed {
                READY
            } else if proposed >= current {
                UP_STABILIZED
            } else {
                DOWN_STABILIZED
            };
            // Rate limits.
            if stabilized > current {
                let limit = policy_limit(current, h, up, now_ms, true).max(current);
                let (ceiling, why) = if max > limit {
                    (limit, UP_LIMIT)
                } else {
                    (max, TOO_MANY)
                };
                if stabilized > ceiling {
                    return normalized(ceiling, stabilized, able, why);
                }
            } else if stabilized < current {
                let limit = policy_limit(current, h, down, now_ms, false).min(current);
                let (floor, why) = if min < limit {
                    (limit, DOWN_LIMIT)
                } else {
                    (min, TOO_FEW)
                };
                if stabilized < floor {
                    return normalized(floor, stabilized, able, why);
                }
            }
            normalized(stabilized, stabilized, able, WITHIN)
        })
    }

    /// Records a rescale from `from` to `to`, for the rate policies (kept
    /// only with `behavior`, whose longest policy period says how long).
    pub fn record_scale(
        &self,
        key: &str,
        up: &HPAScalingRules,
        down: &HPAScalingRules,
        from: i32,
        to: i32,
        now_ms: i64,
    ) {
        self.with(key, |h| {
            let (list, rules, change) = if to > from {
                (&mut h.ups, up, to - from)
            } else {
                (&mut h.downs, down, from - to)
            };
            let longest = policies(rules)
                .iter()
                .map(|p| p.period_seconds)
                .max()
                .unwrap_or(0);
            let cutoff = now_ms - i64::from(longest) * 1000;
            for e in list.iter_mut() {
                if e.at_ms < cutoff {
                    e.outdated = true;
                }
            }
            let new = ScaleEvent {
                change,
                at_ms: now_ms,
                outdated: false,
            };
            record(list, |e| e.outdated, new);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: i64 = 1_700_000_000_000;

    fn args(key: &str, current: i32, proposed: i32, min: i32, max: i32, now_ms: i64) -> Args<'_> {
        Args {
            key,
            current,
            proposed,
            min,
            max,
            now_ms,
        }
    }

    fn rules(window: i32, select: &str, policies: &[(&str, i32, i32)]) -> HPAScalingRules {
        HPAScalingRules {
            stabilization_window_seconds: Some(window),
            select_policy: Some(select.into()),
            policies: Some(
                policies
                    .iter()
                    .map(|(t, v, p)| HPAScalingPolicy {
                        type_: (*t).into(),
                        value: *v,
                        period_seconds: *p,
                    })
                    .collect(),
            ),
            tolerance: None,
        }
    }

    #[test]
    fn without_behavior_scale_down_waits_for_the_window() {
        let m = Memory::default();
        m.record_initial("k", 5, T);
        let n = m.normalize(&args("k", 5, 2, 1, 10, T + 15_000), 300_000);
        assert_eq!(n.replicas, 5);
        assert_eq!(n.able_reason, "ScaleDownStabilized");
        let n = m.normalize(&args("k", 5, 2, 1, 10, T + 301_000), 300_000);
        assert_eq!((n.replicas, n.able_reason), (2, "ReadyForNewScale"));
    }

    #[test]
    fn without_behavior_scale_up_is_at_most_double_or_four() {
        let m = Memory::default();
        let n = m.normalize(&args("k", 1, 10, 1, 20, T), 300_000);
        assert_eq!(
            (n.replicas, n.limited, n.limited_reason),
            (4, true, "ScaleUpLimit")
        );
        let n = m.normalize(&args("k2", 3, 10, 1, 5, T), 300_000);
        assert_eq!((n.replicas, n.limited_reason), (5, "TooManyReplicas"));
        let n = m.normalize(&args("k3", 3, 0, 2, 5, T), 0);
        assert_eq!((n.replicas, n.limited_reason), (2, "TooFewReplicas"));
    }

    #[test]
    fn default_behavior_policies() {
        let (up, down) = with_defaults(&HorizontalPodAutoscalerBehavior::default(), 300);
        let m = Memory::default();
        // From 1, max(4 pods, 100 %) per 15 s: 5.
        let n = m.normalize_with_behavior(&args("k", 1, 20, 1, 30, T), &up, &down);
        assert_eq!((n.replicas, n.limited_reason), (5, "ScaleUpLimit"));
        m.record_scale("k", &up, &down, 1, 5, T);
        // 5 s later the period still started at 1: nothing more.
        let n = m.normalize_with_behavior(&args("k", 5, 20, 1, 30, T + 5_000), &up, &down);
        assert_eq!(n.replicas, 5);
        // After the period: from 5, max(9, 10) = 10.
        let n = m.normalize_with_behavior(&args("k", 5, 20, 1, 30, T + 16_000), &up, &down);
        assert_eq!(n.replicas, 10);
    }

    #[test]
    fn behavior_scale_down_window_and_percent_policy() {
        // UpStream's TestScaleDownWithScalingRules-like: a 60 s window, 50 % per 60 s.
        let up = rules(0, "Max", &[("Pods", 4, 15)]);
        let down = rules(60, "Max", &[("Percent", 50, 60)]);
        let m = Memory::default();
        m.record_initial("k", 8, T);
        let n = m.normalize_with_behavior(&args("k", 8, 1, 1, 10, T + 10_000), &up, &down);
        assert_eq!((n.replicas, n.able_reason), (8, "ScaleDownStabilized"));
        let n = m.normalize_with_behavior(&args("k", 8, 1, 1, 10, T + 61_000), &up, &down);
        assert_eq!((n.replicas, n.limited_reason), (4, "ScaleDownLimit"));
        m.record_scale("k", &up, &down, 8, 4, T + 61_000);
        // Within the policy period nothing more goes.
        let n = m.normalize_with_behavior(&args("k", 4, 1, 1, 10, T + 70_000), &up, &down);
        assert_eq!(n.replicas, 4);
    }

    #[test]
    fn select_policy_min_and_disabled() {
        let up = rules(0, "Min", &[("Pods", 1, 60), ("Percent", 100, 60)]);
        let down = rules(0, "Disabled", &[("Pods", 1, 60)]);
        let m = Memory::default();
        let n = m.normalize_with_behavior(&args("k", 4, 10, 1, 20, T), &up, &down);
        assert_eq!(n.replicas, 5);
        let n = m.normalize_with_behavior(&args("k", 4, 1, 1, 20, T), &up, &down);
        assert_eq!(n.replicas, 4);
    }
}
