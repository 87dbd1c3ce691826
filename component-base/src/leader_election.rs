//! Leader election on a `coordination.k8s.io/v1` Lease (upstream
//! `leaderelection` with the `leases` lock).
//!
//! Every replica tries to write its identity into the component's Lease
//! (`kube-system/kube-scheduler`, `kube-system/kube-controller-manager`).
//! Writes are compare-and-swap on
//! `resourceVersion`, so of two replicas racing, one gets 409 Conflict.
//! - **acquire**: the Lease is missing, ours, or its holder has not renewed
//!   for `leaseDurationSeconds`. "Has not renewed" is measured on *our*
//!   clock, from when we last saw the record change, so clock skew between
//!   machines does not matter.
//! - **renew**: every `retry_period` the leader bumps `renewTime`; if it
//!   cannot for `renew_deadline`, it stops leading (the process should exit,
//!   as upstream's does), before any standby may take over.

use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::api::{Api, PostParams};

/// Election settings (upstream flags `--leader-elect-*`).
#[derive(Debug, Clone)]
pub struct Config {
    /// Lease namespace (`kube-system`).
    pub namespace: String,
    /// Lease name (`kube-scheduler`, `kube-controller-manager`).
    pub name: String,
    /// This replica's identity (hostname + random suffix).
    pub identity: String,
    /// How long a non-renewed lease stays valid (15 s).
    pub lease_duration: Duration,
    /// How long the leader keeps trying to renew before giving up (10 s).
    pub renew_deadline: Duration,
    /// Pause between attempts (2 s).
    pub retry_period: Duration,
}

impl Config {
    /// Upstream defaults (15 s / 10 s / 2 s) for the Lease `kube-system/<lease>`.
    pub fn new(lease: &str, identity: impl Into<String>) -> Config {
        Config {
            namespace: "kube-system".into(),
            name: lease.into(),
            identity: identity.into(),
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }
}

/// The `--leader-elect*` flags, the same in every component that elects
/// (`#[command(flatten)]`), durations as upstream writes them (`15s`,
/// `2m0s`; plain seconds are accepted too).
#[derive(Debug, Clone, clap::Args)]
// Its own argument group id: clap names a group after the struct, and every
// component's own flags struct is called `Flags` too.
#[group(id = "leader_election_flags")]
pub struct Flags {
    /// Run only while holding the component's Lease.
    #[arg(long, default_value_t = false, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub leader_elect: bool,
    /// How long a lease not renewed stays valid.
    #[arg(long, default_value = "15s", value_parser = crate::duration::parse)]
    pub leader_elect_lease_duration: Duration,
    /// How long the leader keeps trying to renew before it stops leading.
    #[arg(long, default_value = "10s", value_parser = crate::duration::parse)]
    pub leader_elect_renew_deadline: Duration,
    /// Pause between attempts to acquire or renew.
    #[arg(long, default_value = "2s", value_parser = crate::duration::parse)]
    pub leader_elect_retry_period: Duration,
    /// Lease name (default: the component's, `kube-scheduler`...).
    #[arg(long)]
    pub leader_elect_resource_name: Option<String>,
    /// Lease namespace.
    #[arg(long, default_value = "kube-system")]
    pub leader_elect_resource_namespace: String,
}

impl Flags {
    /// The election settings when `--leader-elect` is on: the Lease
    /// `<namespace>/<name>` (`lease` unless the flags name another) held as
    /// `identity`.
    pub fn config(&self, lease: &str, identity: impl Into<String>) -> Option<Config> {
        self.leader_elect.then(|| Config {
            namespace: self.leader_elect_resource_namespace.clone(),
            name: self
                .leader_elect_resource_name
                .clone()
                .unwrap_or_else(|| lease.to_string()),
            identity: identity.into(),
            lease_duration: self.leader_elect_lease_duration,
            renew_deadline: self.leader_elect_renew_deadline,
            retry_period: self.leader_elect_retry_period,
        })
    }
}

/// Election failures.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The apiserver refused or failed a Lease request.
    #[error("lease {name}: {source}")]
    Api {
        /// The lease.
        name: String,
        /// Why.
        #[source]
        source: kube::Error,
    },
    /// Renewal failed for longer than the renew deadline.
    #[error("leadership lost: could not renew lease within {0:?}")]
    Lost(Duration),
}

/// One replica's elector.
pub struct Elector {
    api: Api<Lease>,
    cfg: Config,
    /// (holder, renewTime) last seen, and when we saw it change.
    observed: Option<(Option<String>, Option<MicroTime>, Instant)>,
}

impl Elector {
    /// An elector using this client.
    pub fn new(client: kube::Client, cfg: Config) -> Elector {
        Elector {
            api: Api::namespaced(client, &cfg.namespace),
            cfg,
            observed: None,
        }
    }

    fn record(&self, existing: Option<&LeaseSpec>) -> LeaseSpec {
        let now = MicroTime(k8s_openapi::jiff::Timestamp::now());
        let ours = existing.and_then(|s| s.holder_identity.as_deref()) == Some(&self.cfg.identity);
        let transitions = existing.and_then(|s| s.lease_transitions).unwrap_or(0);
        LeaseSpec {
            holder_identity: Some(self.cfg.identity.clone()),
            lease_duration_seconds: Some(self.cfg.lease_duration.as_secs().max(1) as i32),
            acquire_time: if ours {
                existing.and_then(|s| s.acquire_time.clone())
            } else {
                Some(now.clone())
            },
            renew_time: Some(now),
            lease_transitions: Some(if ours || existing.is_none() {
                transitions
            } else {
                transitions + 1
            }),
            ..Default::default()
        }
    }

    /// This replica's identity.
    pub fn identity(&self) -> &str {
        &self.cfg.identity
    }

    /// One attempt to acquire or renew; `Ok(true)` if we hold the lease.
    pub async fn try_acquire_or_renew(&mut self) -> Result<bool, Error> {
        let err = |source| Error::Api {
            name: self.cfg.name.clone(),
            source,
        };
        let current = match self.api.get_opt(&self.cfg.name).await.map_err(err)? {
            Some(l) => l,
            None => {
                let lease = Lease {
                    metadata: ObjectMeta {
                        name: Some(self.cfg.name.clone()),
                        namespace: Some(self.cfg.namespace.clone()),
                        ..Default::default()
                    },
                    spec: Some(self.record(None)),
                };
                return match self.api.create(&PostParams::default(), &lease).await {
                    Ok(_) => {
                        self.observed = None;
                        Ok(true)
                    }
                    Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
                    Err(e) => Err(err(e)),
                };
            }
        };
        let spec = current.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.clone().filter(|h| !h.is_empty());
        let ours = holder.as_deref() == Some(&self.cfg.identity);
        let now = Instant::now();
        let changed = self
            .observed
            .as_ref()
            .is_none_or(|(h, r, _)| *h != holder || *r != spec.renew_time);
        if changed {
            self.observed = Some((holder.clone(), spec.renew_time.clone(), now));
        }
        let seen_at = self.observed.as_ref().map(|o| o.2).unwrap_or(now);
        let duration = Duration::from_secs(
            spec.lease_duration_seconds
                .map(|s| s.max(1) as u64)
                .unwrap_or(self.cfg.lease_duration.as_secs()),
        );
        if !ours && holder.is_some() && now.duration_since(seen_at) < duration {
            return Ok(false);
        }
        let mut lease = current;
        lease.spec = Some(self.record(Some(&spec)));
        // `replace` sends our resourceVersion: a concurrent writer makes it 409.
        match self
            .api
            .replace(&self.cfg.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
            Err(e) => Err(err(e)),
        }
    }

    /// Waits until we lead.
    pub async fn acquire(&mut self) {
        loop {
            match self.try_acquire_or_renew().await {
                Ok(true) => {
                    tracing::info!(identity = %self.cfg.identity, lease = %self.cfg.name, "acquired lease");
                    return;
                }
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "leader election"),
            }
            tokio::time::sleep(self.cfg.retry_period).await;
        }
    }

    /// Renews until it fails for longer than the renew deadline; returns
    /// the reason leadership ended.
    pub async fn keep_renewing(&mut self) -> Error {
        let mut last_ok = Instant::now();
        loop {
            tokio::time::sleep(self.cfg.retry_period).await;
            match self.try_acquire_or_renew().await {
                Ok(true) => last_ok = Instant::now(),
                Ok(false) => return Error::Lost(self.cfg.renew_deadline),
                Err(e) => tracing::warn!(error = %e, "renewing lease"),
            }
            if last_ok.elapsed() > self.cfg.renew_deadline {
                return Error::Lost(self.cfg.renew_deadline);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        leader_election: Flags,
    }

    #[test]
    fn flags_take_upstream_durations() {
        let off = Cli::parse_from(["c"]).leader_election;
        assert!(off.config("kube-scheduler", "me").is_none());
        let on = Cli::parse_from(["c", "--leader-elect"]).leader_election;
        let cfg = on.config("kube-scheduler", "me").expect("enabled");
        assert_eq!(
            (
                cfg.namespace.as_str(),
                cfg.name.as_str(),
                cfg.identity.as_str()
            ),
            ("kube-system", "kube-scheduler", "me")
        );
        assert_eq!(
            (cfg.lease_duration, cfg.renew_deadline, cfg.retry_period),
            (
                Duration::from_secs(15),
                Duration::from_secs(10),
                Duration::from_secs(2)
            )
        );
        let set = Cli::parse_from([
            "c",
            "--leader-elect=true",
            "--leader-elect-lease-duration=2m0s",
            "--leader-elect-renew-deadline=1m30s",
            "--leader-elect-retry-period=5",
            "--leader-elect-resource-name=other",
        ])
        .leader_election;
        let cfg = set.config("kube-scheduler", "me").expect("enabled");
        assert_eq!(cfg.name, "other");
        assert_eq!(
            (cfg.lease_duration, cfg.renew_deadline, cfg.retry_period),
            (
                Duration::from_secs(120),
                Duration::from_secs(90),
                Duration::from_secs(5)
            )
        );
        assert!(Cli::try_parse_from(["c", "--leader-elect-lease-duration=15x"]).is_err());
        assert!(Cli::try_parse_from(["c", "--leader-elect=false"])
            .is_ok_and(|c| !c.leader_election.leader_elect));
    }
}
