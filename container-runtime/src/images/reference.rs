//! Image references: `busybox`, `busybox:1.36`, `127.0.0.1:5000/team/app@sha256:...`.
//!
//! A reference names a *registry* (a host, `docker.io` when absent), a *repository*
//! inside it (Docker Hub adds `library/` to single-word names) and either a *tag*
//! (a movable name, `latest` when absent) or a *digest* (the sha256 of the manifest
//! bytes, immutable). The kubelet stores images under the normalized form, so
//! `busybox` and `docker.io/library/busybox:latest` are the same image.

use std::fmt;

/// The registry used when a reference names none.
pub const DEFAULT_REGISTRY: &str = "docker.io";
/// The host Docker Hub's API really answers on.
pub const DOCKER_HUB_API_HOST: &str = "registry-1.docker.io";

/// Why a reference could not be parsed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// The reference is empty or contains characters a reference never has.
    #[error("invalid image reference {0:?}")]
    Invalid(String),
    /// A digest that is not `sha256:` followed by 64 hex digits.
    #[error("invalid digest {0:?}: want sha256:<64 hex>")]
    Digest(String),
}

/// A parsed, normalized image reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    /// Registry host (with port), e.g. `docker.io` or `127.0.0.1:5000`.
    pub registry: String,
    /// Repository path, e.g. `library/busybox`.
    pub repository: String,
    /// Tag, `latest` if neither tag nor digest was given.
    pub tag: Option<String>,
    /// Manifest digest when pinned.
    pub digest: Option<String>,
}

/// Checks `sha256:<64 lowercase hex>`.
pub fn validate_digest(d: &str) -> Result<(), Error> {
    match d.strip_prefix("sha256:") {
        Some(hex) if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) => Ok(()),
        _ => Err(Error::Digest(d.to_string())),
    }
}

impl Reference {
    /// Parses and normalizes a reference the way Docker does.
    pub fn parse(s: &str) -> Result<Self, Error> {
        let invalid = || Error::Invalid(s.to_string());
        if s.is_empty() || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid());
        }
        let (rest, digest) = match s.split_once('@') {
            Some((r, d)) => {
                validate_digest(d)?;
                (r, Some(d.to_string()))
            }
            None => (s, None),
        };
        // A tag is after the last ':' that comes after the last '/'.
        let last_slash = rest.rfind('/').map(|i| i + 1).unwrap_or(0);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => {
                let t = &rest[last_slash + i + 1..];
                if t.is_empty() || t.len() > 128 {
                    return Err(invalid());
                }
                (&rest[..last_slash + i], Some(t.to_string()))
            }
            None => (rest, None),
        };
        if name.is_empty() {
            return Err(invalid());
        }
        let (registry, repository) = match name.split_once('/') {
            Some((first, remainder))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (first.to_string(), remainder.to_string())
            }
            _ => (DEFAULT_REGISTRY.to_string(), name.to_string()),
        };
        let registry = if registry == "index.docker.io" {
            DEFAULT_REGISTRY.to_string()
        } else {
            registry
        };
        let repository = if registry == DEFAULT_REGISTRY && !repository.contains('/') {
            format!("library/{repository}")
        } else {
            repository
        };
        if repository.is_empty()
            || !repository
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-/".contains(&b))
        {
            return Err(invalid());
        }
        let tag = if tag.is_none() && digest.is_none() {
            Some("latest".to_string())
        } else {
            tag
        };
        Ok(Reference {
            registry,
            repository,
            tag,
            digest,
        })
    }

    /// `registry/repository` without tag or digest.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// What to ask the registry for: the digest when pinned, else the tag.
    pub fn manifest_ref(&self) -> &str {
        self.digest
            .as_deref()
            .or(self.tag.as_deref())
            .unwrap_or("latest")
    }

    /// True for `:latest` or untagged references (Kubernetes' default pull policy
    /// is `Always` for these).
    pub fn is_latest(&self) -> bool {
        self.digest.is_none() && self.tag.as_deref().unwrap_or("latest") == "latest"
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.name())?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_hub_short_names() {
        let r = Reference::parse("busybox").unwrap();
        assert_eq!(r.to_string(), "docker.io/library/busybox:latest");
        let r = Reference::parse("busybox:1.36").unwrap();
        assert_eq!(r.to_string(), "docker.io/library/busybox:1.36");
        let r = Reference::parse("bitnami/redis").unwrap();
        assert_eq!(r.to_string(), "docker.io/bitnami/redis:latest");
        assert!(r.is_latest());
    }

    #[test]
    fn registries_with_ports_and_digests() {
        let d = format!("sha256:{}", "a".repeat(64));
        let r = Reference::parse(&format!("127.0.0.1:5000/team/app:v1@{d}")).unwrap();
        assert_eq!(r.registry, "127.0.0.1:5000");
        assert_eq!(r.repository, "team/app");
        assert_eq!(r.tag.as_deref(), Some("v1"));
        assert_eq!(r.manifest_ref(), d);
        let r = Reference::parse("localhost/app").unwrap();
        assert_eq!(r.registry, "localhost");
        let r = Reference::parse("localhost:5000/app").unwrap();
        assert_eq!(r.name(), "localhost:5000/app");
        assert_eq!(r.tag.as_deref(), Some("latest"));
    }

    #[test]
    fn rejects_garbage() {
        assert!(Reference::parse("").is_err());
        assert!(Reference::parse("Busy Box").is_err());
        assert!(Reference::parse("UPPER").is_err());
        assert!(Reference::parse("x@sha256:12").is_err());
        assert!(Reference::parse("x:").is_err());
    }
}
