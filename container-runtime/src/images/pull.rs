//! Pulling an image from a registry, honouring mirrors and `imagePullPolicy`.
//!
//! For `docker.io/library/busybox:1.36` with a mirror configured for `docker.io`,
//! the client asks the mirror first and falls back to the registry itself. The
//! manifest may be an index: we follow the linux/<our arch> entry. Then the config
//! blob and each missing layer are fetched, verified and unpacked.

use super::oci::{self, Document};
use super::registry::{AuthConfig, Client, Endpoint, Fetched};
use super::{io_err, Error, ImageRecord, ImageStore, PullPolicy, Reference, Result};
use oci_spec::image::ImageConfiguration;
use std::collections::BTreeMap;
use std::fs;

/// Where to pull from: mirrors per registry host and plain-HTTP registries.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegistryConfig {
    /// `docker.io` -> `["http://127.0.0.1:5000"]`: tried in order before the registry.
    #[serde(default)]
    pub registry_mirrors: BTreeMap<String, Vec<String>>,
    /// Registries spoken to over plain HTTP (loopback hosts always are).
    #[serde(default)]
    pub insecure_registries: Vec<String>,
}

impl RegistryConfig {
    /// The base URLs to try for a registry host, mirrors first.
    pub fn endpoints(&self, registry: &str) -> Vec<Endpoint> {
        let mut out: Vec<Endpoint> = self
            .registry_mirrors
            .get(registry)
            .into_iter()
            .flatten()
            .map(|m| Endpoint {
                base: self.with_scheme(m.trim_end_matches('/')),
            })
            .collect();
        let host = if registry == super::reference::DEFAULT_REGISTRY {
            super::reference::DOCKER_HUB_API_HOST
        } else {
            registry
        };
        out.push(Endpoint {
            base: self.with_scheme(host),
        });
        out
    }

    fn with_scheme(&self, host: &str) -> String {
        if host.starts_with("http://") || host.starts_with("https://") {
            return host.to_string();
        }
        let name = host.split(':').next().unwrap_or(host);
        let plain = self
            .insecure_registries
            .iter()
            .any(|r| r == host || r == name)
            || name == "localhost"
            || name.starts_with("127.")
            || name == "[::1]";
        if plain {
            format!("http://{host}")
        } else {
            format!("https://{host}")
        }
    }
}

impl ImageStore {
    /// Makes sure the image is present according to the pull policy and returns it.
    pub fn ensure(
        &self,
        reference: &str,
        policy: Option<PullPolicy>,
        reg: &RegistryConfig,
    ) -> Result<ImageRecord> {
        let parsed = Reference::parse(reference);
        let policy = match (&parsed, policy) {
            (_, Some(p)) => p,
            (Ok(r), None) => PullPolicy::default_for(r),
            (Err(_), None) => PullPolicy::IfNotPresent,
        };
        let present = self.get(reference)?;
        match (policy, present) {
            (PullPolicy::Never, Some(img)) | (PullPolicy::IfNotPresent, Some(img)) => Ok(img),
            (PullPolicy::Never, None) => Err(Error::NotPresent(reference.to_string())),
            _ => self.pull(&parsed?, reg, None),
        }
    }

    /// Pulls an image (always contacting the registry; layers already present are
    /// not downloaded again), with credentials when the registry asks for them.
    pub fn pull(
        &self,
        r: &Reference,
        reg: &RegistryConfig,
        auth: Option<&AuthConfig>,
    ) -> Result<ImageRecord> {
        let mut client = Client::with_auth(auth.cloned());
        let mut last_err = None;
        for ep in reg.endpoints(&r.registry) {
            match self.pull_from(&mut client, &ep, r) {
                Ok(rec) => return Ok(rec),
                Err(e) => {
                    tracing::warn!(endpoint = %ep.base, image = %r, error = %e, "pull failed");
                    last_err = Some(e);
                }
            }
        }
        Err(last_err.unwrap_or_else(|| Error::NotPresent(r.to_string())))
    }

    fn pull_from(&self, client: &mut Client, ep: &Endpoint, r: &Reference) -> Result<ImageRecord> {
        let reg_err = |source| Error::Registry {
            reference: r.to_string(),
            source,
        };
        let invalid = |reason: String| Error::Invalid {
            what: format!("manifest of {r}"),
            reason,
        };
        let mut fetched = client
            .manifest(ep, &r.repository, r.manifest_ref())
            .map_err(reg_err)?;
        let parse = |fetched: &Fetched| {
            Document::parse(&fetched.bytes, &fetched.media_type).map_err(|e| invalid(e.to_string()))
        };
        let mut doc = parse(&fetched)?;
        if let Document::Index(index) = &doc {
            let chosen = oci::pick_platform(index.manifests())
                .ok_or_else(|| invalid(format!("no manifest for linux/{}", oci::host_arch())))?;
            self.put_blob(&fetched.digest, &fetched.bytes)?;
            fetched = client
                .manifest(ep, &r.repository, chosen.digest().as_ref())
                .map_err(reg_err)?;
            doc = parse(&fetched)?;
        }
        let Document::Manifest(manifest) = doc else {
            return Err(invalid("an index names another index".into()));
        };
        self.put_blob(&fetched.digest, &fetched.bytes)?;
        let config_digest = manifest.config().digest().to_string();
        let mut config_bytes = Vec::new();
        client
            .blob(ep, &r.repository, &config_digest, &mut config_bytes)
            .map_err(reg_err)?;
        self.put_blob(&config_digest, &config_bytes)?;
        let config: ImageConfiguration =
            serde_json::from_slice(&config_bytes).map_err(|e| Error::Invalid {
                what: format!("config of {r}"),
                reason: e.to_string(),
            })?;
        let mut size = 0u64;
        let mut layers = Vec::new();
        for (i, layer) in manifest.layers().iter().enumerate() {
            size += layer.size();
            let digest = layer.digest().to_string();
            if !self.has_layer(&digest) {
                let tmp = self.tmp_path("blob");
                let result = (|| {
                    let mut f = fs::File::create(&tmp).map_err(io_err(&tmp))?;
                    client
                        .blob(ep, &r.repository, &digest, &mut f)
                        .map_err(reg_err)?;
                    let f = fs::File::open(&tmp).map_err(io_err(&tmp))?;
                    let diff_id = config.rootfs().diff_ids().get(i).map(String::as_str);
                    self.add_layer(&digest, diff_id, f)
                })();
                let _ = fs::remove_file(&tmp);
                result?;
            }
            layers.push(digest);
        }
        tracing::info!(image = %r, digest = %fetched.digest, "pulled");
        self.record_image(
            Some(r),
            &fetched.digest,
            &config_digest,
            &config,
            layers,
            size,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirrors_come_first_and_loopback_is_plain_http() {
        let mut cfg = RegistryConfig::default();
        cfg.registry_mirrors
            .insert("docker.io".into(), vec!["127.0.0.1:5000/".into()]);
        let eps = cfg.endpoints("docker.io");
        assert_eq!(eps[0].base, "http://127.0.0.1:5000");
        assert_eq!(eps[1].base, "https://registry-1.docker.io");
        cfg.insecure_registries.push("myreg".into());
        assert_eq!(cfg.endpoints("myreg:80")[0].base, "http://myreg:80");
        assert_eq!(cfg.endpoints("quay.io")[0].base, "https://quay.io");
    }
}
