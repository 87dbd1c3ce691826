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
//! The runtime is reached only through its
//! [`ImageService`](container_runtime::cri::ImageService).

use std::time::Instant;

use container_runtime::images::PullPolicy;
use k8s_openapi::api::core::v1::{Container, Pod};

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
        match blocking(move || images.pull_image(&img)).await {
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

#[cfg(test)]
mod tests {
    use super::*;

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
