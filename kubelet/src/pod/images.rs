//! Making a container's image present before it is created: upstream's
//! image manager (`EnsureImageExists`).
//!
//! `imagePullPolicy` decides: `Never` uses only what is on the node
//! (`ErrImageNeverPull` otherwise), `IfNotPresent` pulls when missing,
//! `Always` pulls every time (layers already stored are not downloaded
//! again). A failed pull is `ErrImagePull`; the next tries wait per image
//! ([`PullBackoff`]), shown as `ImagePullBackOff`. Each step records the
//! Event upstream records (`Pulling`, `Pulled`, `Failed`, `BackOff`), and a
//! waiting reason is announced once, not on every sync.
//!
//! A pull carries the credentials the pod's `imagePullSecrets` hold for
//! the image's registry (the ServiceAccount admission plug-in has already
//! copied the account's into a pod that lists none); each is tried in turn
//! until one pull succeeds, and with none the pull is anonymous
//! ([`crate::credentialprovider`]). A pull secret the kubelet cannot read
//! (the Node authorizer lets it read those of its own pods only) is
//! reported with upstream's `FailedToRetrieveImagePullSecret` Event and the
//! pull goes on without it.
//!
//! The runtime is reached only through its
//! [`ImageService`](container_runtime::cri::ImageService).

use std::time::Instant;

use container_runtime::cri::{AuthConfig, ImageRecord, ImageService};
use container_runtime::images::PullPolicy;
use k8s_openapi::api::core::v1::{Container, Pod, Secret};
use kube::Api;

use super::backoff::PullBackoff;
use super::status::Waiting;
use super::{blocking, Context};

/// A container's pull policy; unset or unknown is `IfNotPresent` (the
/// apiserver has already defaulted `:latest` images to `Always`).
pub fn pull_policy(c: &Container) -> PullPolicy {
    match c.image_pull_policy.as_deref() {
        Some("Always") => PullPolicy::Always,
        Some("Never") => PullPolicy::Never,
        _ => PullPolicy::IfNotPresent,
    }
}

/// One pod's image pulls and their back-off.
#[derive(Debug, Default)]
pub struct ImageManager {
    backoff: PullBackoff,
}

impl ImageManager {
    /// Makes the image of container `c` present per its pull policy.
    /// `last` is the container's waiting reason from the previous sync
    /// (its Event is not repeated). On failure, the container's new waiting
    /// state.
    pub async fn ensure_image_exists(
        &mut self,
        ctx: &Context,
        pod: &Pod,
        c: &Container,
        last: Option<&str>,
    ) -> Result<(), Waiting> {
        let image = c.image.clone().unwrap_or_default();
        let policy = pull_policy(c);
        let present = {
            let images = ctx.images.clone();
            let img = image.clone();
            blocking(move || images.image_status(&img).ok().flatten().is_some()).await
        };
        if present && policy != PullPolicy::Always {
            ctx.event(
                pod,
                "Normal",
                "Pulled",
                format!("Container image \"{image}\" already present on machine"),
            );
            return Ok(());
        }
        if policy == PullPolicy::Never {
            let message =
                format!("Container image \"{image}\" is not present with pull policy of Never");
            if last != Some("ErrImageNeverPull") {
                ctx.event(pod, "Warning", "ErrImageNeverPull", message.clone());
            }
            return Err(Waiting {
                reason: "ErrImageNeverPull".into(),
                message: Some(message),
            });
        }
        if self.backoff.waiting(&image, Instant::now()) {
            let message = format!("Back-off pulling image \"{image}\"");
            if last != Some("ImagePullBackOff") {
                ctx.event(pod, "Normal", "BackOff", message.clone());
                ctx.event(pod, "Warning", "Failed", "Error: ImagePullBackOff".into());
            }
            return Err(Waiting {
                reason: "ImagePullBackOff".into(),
                message: Some(message),
            });
        }
        ctx.event(
            pod,
            "Normal",
            "Pulling",
            format!("Pulling image \"{image}\""),
        );
        let t = Instant::now();
        let images = ctx.images.clone();
        let img = image.clone();
        let pulled = match pull_credentials(ctx, pod, &image).await {
            Ok(creds) => blocking(move || pull_with(images.as_ref(), &img, &creds)).await,
            Err(e) => Err(e),
        };
        match pulled {
            Ok(rec) => {
                self.backoff.succeeded(&image);
                ctx.event(
                    pod,
                    "Normal",
                    "Pulled",
                    format!(
                        "Successfully pulled image \"{image}\" in {:.3}s. Image size: {} bytes.",
                        t.elapsed().as_secs_f64(),
                        rec.size
                    ),
                );
                Ok(())
            }
            Err(e) => {
                self.backoff.failed(&image, Instant::now());
                ctx.event(
                    pod,
                    "Warning",
                    "Failed",
                    format!("Failed to pull image \"{image}\": {e}"),
                );
                ctx.event(pod, "Warning", "Failed", "Error: ErrImagePull".into());
                Err(Waiting {
                    reason: "ErrImagePull".into(),
                    message: Some(e.to_string()),
                })
            }
        }
    }
}

/// The Secrets named in the pod's `imagePullSecrets` that can be read; an
/// Event names those that cannot.
pub async fn pull_secrets(ctx: &Context, pod: &Pod) -> Vec<Secret> {
    let names = pod
        .spec
        .as_ref()
        .and_then(|s| s.image_pull_secrets.as_ref())
        .into_iter()
        .flatten()
        .map(|r| r.name.as_str())
        // The API allowed entries with no name once; they mean nothing.
        .filter(|n| !n.is_empty());
    let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), ns);
    let mut found = Vec::new();
    let mut failed = Vec::new();
    for name in names {
        match api.get(name).await {
            Ok(secret) => found.push(secret),
            Err(e) => {
                tracing::info!(pod = ?pod.metadata.name, secret = name, error = %e,
                    "Unable to retrieve pull secret, the image pull may not succeed.");
                failed.push(name);
            }
        }
    }
    if !failed.is_empty() {
        ctx.event(
            pod,
            "Warning",
            "FailedToRetrieveImagePullSecret",
            format!(
                "Unable to retrieve some image pull secrets ({}); attempting to pull the image may not succeed.",
                failed.join(", ")
            ),
        );
    }
    found
}

/// The credentials of the pod's pull secrets for the registry of `image`,
/// most specific first.
async fn pull_credentials(
    ctx: &Context,
    pod: &Pod,
    image: &str,
) -> Result<Vec<AuthConfig>, String> {
    let secrets = pull_secrets(ctx, pod).await;
    let keyring =
        crate::credentialprovider::Keyring::from_secrets(&secrets).map_err(|e| e.to_string())?;
    Ok(keyring.lookup(image))
}

/// Pulls with each credential in turn until one works (anonymously when
/// there are none); the error of every attempt otherwise, as upstream
/// aggregates them.
fn pull_with(
    images: &dyn ImageService,
    image: &str,
    creds: &[AuthConfig],
) -> Result<ImageRecord, String> {
    if creds.is_empty() {
        return images.pull_image(image, None).map_err(|e| e.to_string());
    }
    let mut errors = Vec::new();
    for auth in creds {
        match images.pull_image(image, Some(auth)) {
            Ok(rec) => return Ok(rec),
            Err(e) => errors.push(e.to_string()),
        }
    }
    Err(match errors.as_slice() {
        [one] => one.clone(),
        many => format!("[{}]", many.join(", ")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// A registry that lets one password in, recording who tried.
    struct Private {
        password: &'static str,
        tried: Mutex<Vec<Option<String>>>,
    }

    impl ImageService for Private {
        fn pull_image(
            &self,
            reference: &str,
            auth: Option<&AuthConfig>,
        ) -> container_runtime::Result<ImageRecord> {
            self.tried
                .lock()
                .expect("tried")
                .push(auth.map(|a| a.username.clone()));
            if auth.is_some_and(|a| a.password == self.password) {
                let rec = serde_json::json!({"id": "sha256:1", "repoTags": [reference],
                    "repoDigests": [], "manifestDigest": "sha256:2", "layers": [],
                    "config": {}, "size": 1, "created": ""});
                return Ok(serde_json::from_value(rec).expect("record"));
            }
            Err(container_runtime::images::Error::NotPresent(format!("{reference} (401)")).into())
        }
        fn list_images(&self) -> container_runtime::Result<Vec<ImageRecord>> {
            Ok(Vec::new())
        }
        fn image_status(&self, _: &str) -> container_runtime::Result<Option<ImageRecord>> {
            Ok(None)
        }
        fn remove_image(&self, reference: &str) -> container_runtime::Result<ImageRecord> {
            Err(container_runtime::images::Error::NotPresent(reference.into()).into())
        }
    }

    fn cred(user: &str, password: &str) -> AuthConfig {
        AuthConfig {
            username: user.into(),
            password: password.into(),
        }
    }

    #[test]
    fn each_credential_is_tried_until_a_pull_succeeds() {
        let reg = Private {
            password: "right",
            tried: Mutex::new(Vec::new()),
        };
        let creds = [cred("a", "wrong"), cred("b", "right"), cred("c", "right")];
        pull_with(&reg, "r/app:1", &creds).expect("pulled with b");
        assert_eq!(
            *reg.tried.lock().expect("tried"),
            [Some("a".to_string()), Some("b".to_string())]
        );
    }

    #[test]
    fn failures_are_reported_together_and_no_credentials_pull_anonymously() {
        let reg = Private {
            password: "right",
            tried: Mutex::new(Vec::new()),
        };
        let err = pull_with(&reg, "r/app:1", &[cred("a", "x"), cred("b", "y")])
            .expect_err("no good credential");
        assert!(
            err.starts_with('[') && err.matches("401").count() == 2,
            "{err}"
        );
        let err = pull_with(&reg, "r/app:1", &[]).expect_err("anonymous");
        assert!(!err.starts_with('['), "{err}");
        assert_eq!(reg.tried.lock().expect("tried").last(), Some(&None));
    }

    #[test]
    fn pull_policy_of_a_container() {
        let mut c = Container {
            name: "a".into(),
            ..Default::default()
        };
        assert_eq!(pull_policy(&c), PullPolicy::IfNotPresent);
        for (s, p) in [
            ("Always", PullPolicy::Always),
            ("Never", PullPolicy::Never),
            ("IfNotPresent", PullPolicy::IfNotPresent),
        ] {
            c.image_pull_policy = Some(s.into());
            assert_eq!(pull_policy(&c), p);
        }
    }
}
