//! Levels, versions and the namespace labels that choose them (upstream:
//! `pod-security-admission/api`).
//!
//! A namespace says which level is enforced, audited and warned about with
//! `pod-security.kubernetes.io/<mode>: privileged|baseline|restricted` and
//! at which version of the standards with
//! `pod-security.kubernetes.io/<mode>-version: latest|v1.X`. What a
//! namespace does not say comes from the configured defaults (privileged,
//! latest unless `--admission-control-config-file` says otherwise); a
//! namespace that enforces a level stricter than its warn level warns at
//! the enforced level too.

use std::fmt;

use serde_json::{json, Map, Value};

use crate::validation::{invalid, FieldError};

/// The label prefix of every mode.
pub const LABEL_PREFIX: &str = "pod-security.kubernetes.io/";

/// A Pod Security Standards level, from the most permissive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Unrestricted.
    Privileged,
    /// Prevents known privilege escalations.
    Baseline,
    /// Current hardening best practice.
    Restricted,
}

impl Level {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Privileged => "privileged",
            Level::Baseline => "baseline",
            Level::Restricted => "restricted",
        }
    }

    /// Parses a label value; upstream's error text on failure.
    pub fn parse(s: &str) -> Result<Level, &'static str> {
        match s {
            "privileged" => Ok(Level::Privileged),
            "baseline" => Ok(Level::Baseline),
            "restricted" => Ok(Level::Restricted),
            _ => Err("must be one of privileged, baseline, restricted"),
        }
    }
}

/// A version of the standards: `v1.X` or `latest`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    /// `v1.<minor>`.
    Minor(u32),
    /// The newest checks this server knows.
    Latest,
}

impl Version {
    /// Parses a label value; upstream's error text on failure.
    pub fn parse(s: &str) -> Result<Version, &'static str> {
        const BAD: &str = "must be \"latest\" or \"v1.x\"";
        if s == "latest" {
            return Ok(Version::Latest);
        }
        let minor = s.strip_prefix("v1.").ok_or(BAD)?;
        let canonical = !minor.is_empty()
            && minor.bytes().all(|b| b.is_ascii_digit())
            && (minor == "0" || !minor.starts_with('0'));
        if !canonical {
            return Err(BAD);
        }
        minor.parse().map(Version::Minor).map_err(|_| BAD)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Version::Minor(m) => write!(f, "v1.{m}"),
            Version::Latest => f.write_str("latest"),
        }
    }
}

/// A level at a version, shown as `restricted:latest`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LevelVersion {
    /// The level.
    pub level: Level,
    /// The version.
    pub version: Version,
}

impl LevelVersion {
    /// `privileged:latest`, the default of every mode.
    pub const PRIVILEGED: LevelVersion = LevelVersion {
        level: Level::Privileged,
        version: Version::Latest,
    };

    /// Whether both allow the same pods (any two privileged ones do).
    pub fn equivalent(&self, other: &LevelVersion) -> bool {
        (self.level == Level::Privileged && other.level == Level::Privileged) || self == other
    }
}

impl fmt::Display for LevelVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.level.as_str(), self.version)
    }
}

/// What a namespace enforces, audits and warns about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Pods that fail it are refused.
    pub enforce: LevelVersion,
    /// Requests that fail it get an audit annotation.
    pub audit: LevelVersion,
    /// Requests that fail it get a warning.
    pub warn: LevelVersion,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            enforce: LevelVersion::PRIVILEGED,
            audit: LevelVersion::PRIVILEGED,
            warn: LevelVersion::PRIVILEGED,
        }
    }
}

impl Policy {
    /// Whether nothing is checked.
    pub fn fully_privileged(&self) -> bool {
        [self.enforce, self.audit, self.warn]
            .iter()
            .all(|lv| lv.level == Level::Privileged)
    }

    /// Whether every mode is equivalent.
    pub fn equivalent(&self, other: &Policy) -> bool {
        self.enforce.equivalent(&other.enforce)
            && self.audit.equivalent(&other.audit)
            && self.warn.equivalent(&other.warn)
    }

    /// The policy `labels` choose over `defaults`, and the labels' errors.
    /// A bad enforce level enforces `restricted` (fail closed); a bad audit
    /// or warn level is `privileged` (fail open), as upstream.
    pub fn from_labels(
        labels: &Map<String, Value>,
        defaults: &Policy,
    ) -> (Policy, Vec<FieldError>) {
        let mut p = *defaults;
        let mut errors = Vec::new();
        let label = |mode: &str| {
            let key = format!("{LABEL_PREFIX}{mode}");
            labels
                .get(&key)
                .map(|v| (key, v.as_str().unwrap_or("").to_string()))
        };
        let fail = |errors: &mut Vec<FieldError>, key: &str, value: &str, why: &str| {
            errors.push(invalid(
                format!("metadata.labels[{key}]"),
                &json!(value),
                why,
            ));
        };
        let mut has_enforce_level = false;
        if let Some((key, value)) = label("enforce") {
            match Level::parse(&value) {
                Ok(l) => {
                    p.enforce.level = l;
                    has_enforce_level = true;
                }
                Err(why) => {
                    p.enforce.level = Level::Restricted;
                    fail(&mut errors, &key, &value, why);
                }
            }
        }
        let version = |errors: &mut Vec<FieldError>, mode: &str, into: &mut Version| {
            if let Some((key, value)) = label(mode) {
                match Version::parse(&value) {
                    Ok(v) => *into = v,
                    Err(why) => {
                        *into = Version::Latest;
                        fail(errors, &key, &value, why);
                    }
                }
                true
            } else {
                false
            }
        };
        version(&mut errors, "enforce-version", &mut p.enforce.version);
        if let Some((key, value)) = label("audit") {
            p.audit.level = Level::parse(&value).unwrap_or_else(|why| {
                fail(&mut errors, &key, &value, why);
                Level::Privileged
            });
        }
        version(&mut errors, "audit-version", &mut p.audit.version);
        let mut has_warn_level = false;
        if let Some((key, value)) = label("warn") {
            has_warn_level = true;
            p.warn.level = Level::parse(&value).unwrap_or_else(|why| {
                fail(&mut errors, &key, &value, why);
                Level::Privileged
            });
        }
        let has_warn_version = version(&mut errors, "warn-version", &mut p.warn.version);
        if !has_warn_level && has_enforce_level && p.enforce.level > p.warn.level {
            p.warn.level = p.enforce.level;
            if !has_warn_version {
                p.warn.version = p.enforce.version;
            }
        }
        (p, errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Map<String, Value> {
        pairs
            .iter()
            .map(|(k, v)| (format!("{LABEL_PREFIX}{k}"), json!(v)))
            .collect()
    }

    #[test]
    fn versions_parse_as_upstream() {
        assert_eq!(Version::parse("latest"), Ok(Version::Latest));
        assert_eq!(Version::parse("v1.25"), Ok(Version::Minor(25)));
        assert_eq!(Version::parse("v1.0"), Ok(Version::Minor(0)));
        for bad in ["v1.025", "v2.1", "1.25", "v1.", "v1.x", ""] {
            assert!(Version::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            LevelVersion {
                level: Level::Baseline,
                version: Version::Minor(7)
            }
            .to_string(),
            "baseline:v1.7"
        );
    }

    #[test]
    fn labels_override_defaults_and_warn_follows_enforce() {
        let (p, errs) = Policy::from_labels(
            &labels(&[("enforce", "restricted"), ("enforce-version", "v1.24")]),
            &Policy::default(),
        );
        assert!(errs.is_empty());
        assert_eq!(p.enforce.to_string(), "restricted:v1.24");
        assert_eq!(p.warn.to_string(), "restricted:v1.24");
        assert_eq!(p.audit, LevelVersion::PRIVILEGED);
        let (p, _) = Policy::from_labels(
            &labels(&[("enforce", "baseline"), ("warn", "privileged")]),
            &Policy::default(),
        );
        assert_eq!(p.warn.level, Level::Privileged);
        assert!(Policy::from_labels(&Map::new(), &Policy::default())
            .0
            .fully_privileged());
    }

    #[test]
    fn bad_labels_fail_closed_for_enforce_and_open_for_the_others() {
        let (p, errs) = Policy::from_labels(
            &labels(&[
                ("enforce", "bogus"),
                ("warn", "nope"),
                ("audit-version", "v2"),
            ]),
            &Policy::default(),
        );
        assert_eq!(p.enforce.level, Level::Restricted);
        assert_eq!(p.warn.level, Level::Privileged);
        let texts: Vec<String> = errs.iter().map(ToString::to_string).collect();
        assert_eq!(
            texts,
            [
                "metadata.labels[pod-security.kubernetes.io/enforce]: Invalid value: \"bogus\": must be one of privileged, baseline, restricted",
                "metadata.labels[pod-security.kubernetes.io/audit-version]: Invalid value: \"v2\": must be \"latest\" or \"v1.x\"",
                "metadata.labels[pod-security.kubernetes.io/warn]: Invalid value: \"nope\": must be one of privileged, baseline, restricted",
            ]
        );
    }
}
