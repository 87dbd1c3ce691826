//! The Pod Security Standards' checks, one file per upstream check group
//! (upstream: `pod-security-admission/policy/check_*.go`), each naming the
//! level it belongs to and the policy versions (`v1.X`) from which each of
//! its variants applies, so a reader maps them 1:1 to the published
//! standards (<https://kubernetes.io/docs/concepts/security/pod-security-standards/>).
//!
//! A check reads the pod's (or pod template's) `metadata` and `spec` as JSON
//! and returns a [`Violation`] (upstream's `ForbiddenReason` and
//! `ForbiddenDetail`) or nothing. [`evaluate`] runs the checks of one
//! level at one version in upstream's order: the baseline checks sorted by
//! id, then the restricted ones, a restricted check replacing the baseline
//! checks it overrides (e.g. `capabilities_restricted` replaces
//! `capabilities_baseline`).
//!
//! | file | check id | level |
//! |---|---|---|
//! | [`app_armor`] | appArmorProfile | baseline |
//! | [`capabilities`] | capabilities_baseline / capabilities_restricted | baseline / restricted |
//! | [`host_namespaces`] | hostNamespaces | baseline |
//! | [`host_path_volumes`] | hostPathVolumes | baseline |
//! | [`host_ports`] | hostPorts | baseline |
//! | [`host_probes`] | hostProbesAndHostLifecycle | baseline (v1.34+) |
//! | [`privileged`] | privileged | baseline |
//! | [`proc_mount`] | procMount / procMount_restricted | baseline / restricted |
//! | [`selinux`] | seLinuxOptions | baseline |
//! | [`seccomp`] | seccompProfile_baseline / seccompProfile_restricted | baseline / restricted |
//! | [`sysctls`] | sysctls | baseline |
//! | [`windows_host_process`] | windowsHostProcess | baseline |
//! | [`privilege_escalation`] | allowPrivilegeEscalation | restricted (v1.8+) |
//! | [`restricted_volumes`] | restrictedVolumes | restricted |
//! | [`run_as_non_root`] | runAsNonRoot | restricted |
//! | [`run_as_user`] | runAsUser | restricted (v1.23+) |

pub mod app_armor;
pub mod capabilities;
pub mod host_namespaces;
pub mod host_path_volumes;
pub mod host_ports;
pub mod host_probes;
pub mod privilege_escalation;
pub mod privileged;
pub mod proc_mount;
pub mod restricted_volumes;
pub mod run_as_non_root;
pub mod run_as_user;
pub mod seccomp;
pub mod selinux;
pub mod sysctls;
pub mod windows_host_process;

use std::collections::BTreeSet;

use serde_json::Value;

use super::{Level, LevelVersion, Version};

/// Why a pod fails one check: upstream's `ForbiddenReason` (`privileged`)
/// and `ForbiddenDetail` (`container "c" must not set ...`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The short reason.
    pub reason: String,
    /// What exactly is wrong (may be empty).
    pub detail: String,
}

impl Violation {
    fn new(reason: impl Into<String>, detail: impl Into<String>) -> Option<Violation> {
        Some(Violation {
            reason: reason.into(),
            detail: detail.into(),
        })
    }
}

/// A check of one pod: its `metadata` and its `spec`.
pub type CheckFn = fn(&Value, &Value) -> Option<Violation>;

/// One variant of a check, in force from policy version `v1.<since>`
/// until the next variant's.
pub struct Versioned {
    /// The minor version (of `v1.X`) from which it applies.
    pub since: u32,
    /// The check.
    pub check: CheckFn,
    /// Baseline checks (ids) this restricted variant replaces.
    pub overrides: &'static [&'static str],
}

/// A check as upstream registers it.
pub struct Check {
    /// Upstream's check id.
    pub id: &'static str,
    /// The lowest level that applies it (restricted includes baseline).
    pub level: Level,
    /// Its variants, by increasing `since`.
    pub versions: &'static [Versioned],
}

impl Check {
    /// The variant in force at minor version `minor`.
    fn at(&self, minor: u32) -> Option<&Versioned> {
        self.versions.iter().rev().find(|v| v.since <= minor)
    }
}

/// Every check.
pub const ALL: &[&Check] = &[
    &app_armor::CHECK,
    &capabilities::BASELINE,
    &capabilities::RESTRICTED,
    &host_namespaces::CHECK,
    &host_path_volumes::CHECK,
    &host_ports::CHECK,
    &host_probes::CHECK,
    &privileged::CHECK,
    &proc_mount::BASELINE,
    &proc_mount::RESTRICTED,
    &selinux::CHECK,
    &seccomp::BASELINE,
    &seccomp::RESTRICTED,
    &sysctls::CHECK,
    &windows_host_process::CHECK,
    &privilege_escalation::CHECK,
    &restricted_volumes::CHECK,
    &run_as_non_root::CHECK,
    &run_as_user::CHECK,
];

/// The newest policy version any check knows (`latest` evaluates as it,
/// and so does any newer `v1.X`).
pub fn newest_minor() -> u32 {
    ALL.iter()
        .filter_map(|c| c.versions.last().map(|v| v.since))
        .max()
        .unwrap_or(0)
}

/// The checks of `lv`'s level and version that `pod_meta`/`pod_spec` fail,
/// in upstream's order (nothing at `privileged`).
pub fn evaluate(lv: LevelVersion, pod_meta: &Value, pod_spec: &Value) -> Vec<Violation> {
    let newest = newest_minor();
    let minor = match lv.version {
        Version::Latest => newest,
        Version::Minor(m) => m.min(newest),
    };
    let in_force = |level: Level| {
        let mut checks: Vec<(&'static str, &Versioned)> = ALL
            .iter()
            .filter(|c| c.level == level)
            .filter_map(|c| c.at(minor).map(|v| (c.id, v)))
            .collect();
        checks.sort_by_key(|(id, _)| *id);
        checks
    };
    let mut checks = match lv.level {
        Level::Privileged => return Vec::new(),
        Level::Baseline => in_force(Level::Baseline),
        Level::Restricted => {
            let restricted = in_force(Level::Restricted);
            let overridden: BTreeSet<&str> = restricted
                .iter()
                .flat_map(|(_, v)| v.overrides.iter().copied())
                .collect();
            let mut all = in_force(Level::Baseline);
            all.retain(|(id, _)| !overridden.contains(id));
            all.extend(restricted);
            all
        }
    };
    checks
        .drain(..)
        .filter_map(|(_, v)| (v.check)(pod_meta, pod_spec))
        .collect()
}

/// Upstream's aggregate message: `reason (detail), reason (detail)`.
pub fn describe(violations: &[Violation]) -> String {
    violations
        .iter()
        .map(|v| {
            if v.detail.is_empty() {
                v.reason.clone()
            } else {
                format!("{} ({})", v.reason, v.detail)
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The reasons only (`reason, reason`), as the namespace check lists them.
pub fn reasons(violations: &[Violation]) -> String {
    violations
        .iter()
        .map(|v| v.reason.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

// Helpers shared by the checks (upstream's helpers.go and visitor.go).

/// Init containers, containers and ephemeral containers, in that order.
fn containers(spec: &Value) -> impl Iterator<Item = &Value> {
    ["initContainers", "containers", "ephemeralContainers"]
        .into_iter()
        .flat_map(move |f| list(spec.get(f)))
}

/// The array at `v`, or nothing.
fn list(v: Option<&Value>) -> impl Iterator<Item = &Value> {
    v.and_then(Value::as_array).into_iter().flatten()
}

/// A container's name.
fn name(container: &Value) -> String {
    str_at(container, "/name").to_string()
}

/// The string at `pointer`, empty when absent.
fn str_at<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

/// The boolean at `pointer`, `None` when absent or null.
fn bool_at(v: &Value, pointer: &str) -> Option<bool> {
    v.pointer(pointer).and_then(Value::as_bool)
}

/// `"a", "b"`.
fn join_quote<S: AsRef<str>>(items: impl IntoIterator<Item = S>) -> String {
    items
        .into_iter()
        .map(|s| format!("\"{}\"", s.as_ref()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn pluralize(singular: &'static str, plural: &'static str, count: usize) -> &'static str {
    if count == 1 {
        singular
    } else {
        plural
    }
}

/// `container "a"` / `containers "a", "b"`.
fn containers_named(names: &[String]) -> String {
    format!(
        "{} {}",
        pluralize("container", "containers", names.len()),
        join_quote(names)
    )
}

/// `spec.os.name: windows` (upstream exempts such pods from some checks
/// from v1.25, as their fields are refused by validation anyway).
fn is_windows(spec: &Value) -> bool {
    str_at(spec, "/os/name") == "windows"
}

/// `spec.hostUsers: false`: the pod runs in a user namespace, which relaxes
/// some checks from v1.35.
fn in_user_namespace(spec: &Value) -> bool {
    bool_at(spec, "/hostUsers") == Some(false)
}

#[cfg(test)]
pub(crate) mod test_pods {
    use serde_json::{json, Value};

    /// A pod spec with one container `c` with this security context.
    pub fn with_container_sc(sc: Value) -> Value {
        json!({"containers": [{"name": "c", "image": "i", "securityContext": sc}]})
    }

    /// Metadata with no annotations.
    pub fn meta() -> Value {
        json!({"name": "p"})
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn lv(level: Level, version: Version) -> LevelVersion {
        LevelVersion { level, version }
    }

    #[test]
    fn restricted_lists_baseline_then_restricted_and_overrides() {
        let spec = json!({"hostNetwork": true, "containers": [
            {"name": "c", "image": "i", "securityContext": {"privileged": true}}]});
        let v = evaluate(
            lv(Level::Restricted, Version::Latest),
            &test_pods::meta(),
            &spec,
        );
        let got: Vec<&str> = v.iter().map(|v| v.reason.as_str()).collect();
        assert_eq!(
            got,
            [
                "host namespaces",
                "privileged",
                "allowPrivilegeEscalation != false",
                "unrestricted capabilities",
                "runAsNonRoot != true",
                "seccompProfile"
            ]
        );
        assert_eq!(
            describe(&v[..2]),
            "host namespaces (hostNetwork=true), privileged (container \"c\" must not set securityContext.privileged=true)"
        );
        let baseline = evaluate(
            lv(Level::Baseline, Version::Latest),
            &test_pods::meta(),
            &spec,
        );
        assert_eq!(reasons(&baseline), "host namespaces, privileged");
        assert!(evaluate(
            lv(Level::Privileged, Version::Latest),
            &test_pods::meta(),
            &spec
        )
        .is_empty());
    }

    #[test]
    fn old_versions_run_the_checks_of_their_time() {
        // allowPrivilegeEscalation appeared in v1.8, capabilities_restricted
        // in v1.22 and seccompProfile_restricted in v1.19.
        let spec = json!({"containers": [{"name": "c", "image": "i"}]});
        let at = |m| {
            reasons(&evaluate(
                lv(Level::Restricted, Version::Minor(m)),
                &test_pods::meta(),
                &spec,
            ))
        };
        assert_eq!(at(7), "runAsNonRoot != true");
        assert_eq!(
            at(8),
            "allowPrivilegeEscalation != false, runAsNonRoot != true"
        );
        assert_eq!(
            at(99),
            "allowPrivilegeEscalation != false, unrestricted capabilities, runAsNonRoot != true, seccompProfile"
        );
    }
}
