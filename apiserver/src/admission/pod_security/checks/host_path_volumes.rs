//! `hostPathVolumes` (baseline, v1.0+): hostPath volumes are forbidden.
//! (At restricted, [`super::restricted_volumes`] replaces this check.)
//!
//! Restricted fields: `spec.volumes[*].hostPath`; allowed: undefined.

use serde_json::Value;

use super::{join_quote, list, pluralize, str_at, Check, Versioned, Violation};
use crate::admission::pod_security::Level;

/// The check's id (overridden by `restrictedVolumes`).
pub const ID: &str = "hostPathVolumes";

/// The check.
pub const CHECK: Check = Check {
    id: ID,
    level: Level::Baseline,
    versions: &[Versioned {
        since: 0,
        check: host_path_volumes_1_0,
        overrides: &[],
    }],
};

fn host_path_volumes_1_0(_meta: &Value, spec: &Value) -> Option<Violation> {
    let bad: Vec<&str> = list(spec.get("volumes"))
        .filter(|v| v.get("hostPath").is_some_and(|h| !h.is_null()))
        .map(|v| str_at(v, "/name"))
        .collect();
    if bad.is_empty() {
        return None;
    }
    Violation::new(
        "hostPath volumes",
        format!(
            "{} {}",
            pluralize("volume", "volumes", bad.len()),
            join_quote(&bad)
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn host_path_volumes_are_refused() {
        let spec = json!({"volumes": [{"name": "a", "hostPath": {"path": "/"}},
                                      {"name": "b", "emptyDir": {}}]});
        let v = host_path_volumes_1_0(&json!({}), &spec).expect("violation");
        assert_eq!(
            (v.reason.as_str(), v.detail.as_str()),
            ("hostPath volumes", "volume \"a\"")
        );
        assert_eq!(
            host_path_volumes_1_0(
                &json!({}),
                &json!({"volumes": [{"name": "b", "emptyDir": {}}]})
            ),
            None
        );
    }
}
