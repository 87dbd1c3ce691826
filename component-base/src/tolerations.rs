//! Whether a pod's tolerations let it stay on or be placed on a tainted node
//! (upstream `Toleration.ToleratesTaint`): one rule for the scheduler's
//! TaintToleration plugin, the DaemonSet controller's node eligibility and
//! the node lifecycle controller's NoExecute evictions, so the three never
//! disagree about the same pod and node.
//!
//! A toleration matches a taint when its effect is empty or the taint's,
//! its key is empty or the taint's, and its operator holds: `Exists`
//! always, `Equal` (also an empty operator) when the values are equal.
//! The numeric `Lt` and `Gt` operators belong to the alpha
//! `TaintTolerationComparisonOperators` feature, off by default upstream;
//! they tolerate nothing here, as there.

use k8s_openapi::api::core::v1::{Taint, Toleration};

/// Whether toleration `t` tolerates `taint`.
pub fn tolerates(t: &Toleration, taint: &Taint) -> bool {
    if let Some(effect) = t.effect.as_deref().filter(|e| !e.is_empty()) {
        if effect != taint.effect {
            return false;
        }
    }
    if let Some(key) = t.key.as_deref().filter(|k| !k.is_empty()) {
        if key != taint.key {
            return false;
        }
    }
    match t.operator.as_deref().unwrap_or("") {
        "" | "Equal" => t.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or(""),
        "Exists" => true,
        _ => false,
    }
}

/// Whether one of `tolerations` tolerates `taint`.
pub fn tolerated(tolerations: &[Toleration], taint: &Taint) -> bool {
    tolerations.iter().any(|t| tolerates(t, taint))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn taint(key: &str, value: Option<&str>, effect: &str) -> Taint {
        Taint {
            key: key.into(),
            value: value.map(Into::into),
            effect: effect.into(),
            ..Default::default()
        }
    }

    fn toleration(key: &str, op: Option<&str>, value: Option<&str>, effect: &str) -> Toleration {
        Toleration {
            key: Some(key.into()).filter(|k: &String| !k.is_empty()),
            operator: op.map(Into::into),
            value: value.map(Into::into),
            effect: Some(effect.into()).filter(|e: &String| !e.is_empty()),
            ..Default::default()
        }
    }

    #[test]
    fn upstream_rules() {
        let gpu = taint("gpu", Some("true"), "NoSchedule");
        // (toleration, tolerates)
        let cases = [
            (
                toleration("gpu", Some("Equal"), Some("true"), "NoSchedule"),
                true,
            ),
            (toleration("gpu", None, Some("true"), ""), true),
            (toleration("gpu", Some("Equal"), Some("false"), ""), false),
            (toleration("gpu", Some("Exists"), None, ""), true),
            (toleration("gpu", Some("Exists"), None, "NoExecute"), false),
            (toleration("", Some("Exists"), None, ""), true),
            (toleration("", Some("Exists"), None, "NoSchedule"), true),
            (toleration("cpu", Some("Exists"), None, ""), false),
            // Alpha comparison operators stay off, as upstream's default.
            (toleration("gpu", Some("Gt"), Some("0"), ""), false),
            (
                toleration("gpu", Some("Sometimes"), Some("true"), ""),
                false,
            ),
        ];
        for (t, want) in cases {
            assert_eq!(tolerates(&t, &gpu), want, "{t:?}");
        }
        let unvalued = taint("dedicated", None, "NoExecute");
        assert!(tolerates(
            &toleration("dedicated", None, None, ""),
            &unvalued
        ));
        assert!(tolerates(
            &toleration("dedicated", None, Some(""), ""),
            &unvalued
        ));
        assert!(!tolerated(&[], &unvalued));
        assert!(tolerated(
            &[
                toleration("gpu", Some("Exists"), None, ""),
                toleration("dedicated", Some("Exists"), None, "NoExecute"),
            ],
            &unvalued
        ));
    }
}
