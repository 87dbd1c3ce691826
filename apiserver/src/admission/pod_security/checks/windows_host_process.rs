//! `windowsHostProcess` (baseline, v1.0+): Windows host-process containers
//! (full access to the Windows node) are forbidden.
//!
//! Restricted fields: `securityContext.windowsOptions.hostProcess` of the
//! pod and each container; allowed: undefined, `false`.

use serde_json::Value;

use super::{bool_at, containers, containers_named, name, Check, Versioned, Violation};
use crate::admission::pod_security::Level;

/// The check.
pub const CHECK: Check = Check {
    id: "windowsHostProcess",
    level: Level::Baseline,
    versions: &[Versioned {
        since: 0,
        check: windows_host_process_1_0,
        overrides: &[],
    }],
};

const FIELD: &str = "/securityContext/windowsOptions/hostProcess";

fn windows_host_process_1_0(_meta: &Value, spec: &Value) -> Option<Violation> {
    let bad: Vec<String> = containers(spec)
        .filter(|c| bool_at(c, FIELD) == Some(true))
        .map(name)
        .collect();
    let mut setters = Vec::new();
    if bool_at(spec, FIELD) == Some(true) {
        setters.push("pod".to_string());
    }
    if !bad.is_empty() {
        setters.push(containers_named(&bad));
    }
    if setters.is_empty() {
        return None;
    }
    Violation::new(
        "hostProcess",
        format!(
            "{} must not set securityContext.windowsOptions.hostProcess=true",
            setters.join(" and ")
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admission::pod_security::checks::test_pods::{meta, with_container_sc};
    use serde_json::json;

    #[test]
    fn host_process_is_refused() {
        let mut spec = with_container_sc(json!({"windowsOptions": {"hostProcess": true}}));
        spec["securityContext"] = json!({"windowsOptions": {"hostProcess": true}});
        let v = windows_host_process_1_0(&meta(), &spec).expect("violation");
        assert_eq!(
            v.detail,
            "pod and container \"c\" must not set securityContext.windowsOptions.hostProcess=true"
        );
        let ok = with_container_sc(json!({"windowsOptions": {"hostProcess": false}}));
        assert_eq!(windows_host_process_1_0(&meta(), &ok), None);
    }
}
