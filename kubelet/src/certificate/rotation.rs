//! Client certificate rotation (upstream's certificate manager): the
//! kubelet's API client always uses the newest certificate, and a new one is
//! requested before the current one expires.
//!
//! [`RotatingClient`] is a `kube::Client` whose every request goes to the
//! client built from `--kubeconfig` most recently; after a rotation a new
//! inner client is built (it reads the `-current` symlink again), so new
//! connections present the new certificate while requests in flight
//! (watches) finish on the old ones and the old connections close with
//! them. Nothing that holds the client has to be told.
//!
//! The deadline is upstream's: a random point between 70% and 90% of the
//! certificate's life (`notBefore` to `notAfter`), so a fleet of nodes
//! bootstrapped together does not renew together. A failed request is
//! retried with backoff. Ours: two rotations are at least
//! [`MIN_INTERVAL`] apart, since a certificate shorter than the signer's
//! 5-minute backdate is due the moment it is issued.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use super::csr::{self, Naming};
use super::store::{self, Pair};
use super::Error;

/// The least time between two rotations.
pub const MIN_INTERVAL: Duration = Duration::from_secs(5);
/// How long one renewal waits for its certificate (then it asks again).
pub const WAIT: Duration = Duration::from_secs(900);

/// The client that follows rotations.
#[derive(Clone)]
pub struct RotatingClient {
    inner: Arc<RwLock<kube::Client>>,
}

impl RotatingClient {
    /// A client that starts with `first`.
    pub fn new(first: kube::Client) -> RotatingClient {
        RotatingClient {
            inner: Arc::new(RwLock::new(first)),
        }
    }

    fn current(&self) -> kube::Client {
        self.inner.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn replace(&self, client: kube::Client) {
        *self.inner.write().unwrap_or_else(|p| p.into_inner()) = client;
    }

    /// The `kube::Client` that sends every request through the current
    /// inner client.
    pub fn client(&self) -> kube::Client {
        let ns = self.current().default_namespace().to_string();
        let this = self.clone();
        let svc = tower::service_fn(move |req: http::Request<kube::client::Body>| {
            let c = this.current();
            async move { c.send(req).await }
        });
        kube::Client::new(svc, ns)
    }
}

/// What the renewal loop needs.
#[derive(Debug, Clone)]
pub struct Rotation {
    /// `--kubeconfig` (names the `-current` symlink).
    pub kubeconfig: PathBuf,
    /// `--cert-dir`.
    pub cert_dir: PathBuf,
    /// The node's name.
    pub node_name: String,
    /// `apiServerEndpoints` ([`crate::failover`]).
    pub api_server_endpoints: Vec<String>,
}

/// A random deadline between 70% and 90% of the pair's life.
pub fn deadline(pair: &Pair) -> chrono::DateTime<chrono::Utc> {
    let total = (pair.not_after - pair.not_before).num_milliseconds().max(0) as f64;
    let fraction = 0.7 + rand::random::<f64>() * 0.2;
    pair.not_before + chrono::Duration::milliseconds((total * fraction) as i64)
}

/// Renews the client certificate before each deadline, forever.
pub async fn run(rotation: Rotation, client: RotatingClient) {
    let current = store::current_path(&rotation.cert_dir, store::CLIENT);
    // The client certificate names only the node: nothing makes it stale.
    let never = tokio::sync::Notify::new();
    keep_fresh("client", &current, &never, || rotate(&rotation, &client)).await
}

/// The renewal loop every kubelet certificate shares (the client one here,
/// the serving one in [`super::serving`]): reads the pair behind the
/// `-current` symlink `current`, waits for its [`deadline`] and calls
/// `renew`, which gets a new pair, stores it and puts it to use. Without a
/// usable pair it renews at once, and a notification on `early` renews
/// before the deadline (the serving certificate after the node's
/// addresses changed). A failed renewal is retried with backoff (1 s
/// doubling to 5 minutes); forever.
pub async fn keep_fresh<F, Fut>(
    what: &str,
    current: &std::path::Path,
    early: &tokio::sync::Notify,
    mut renew: F,
) where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Pair, Error>>,
{
    let mut backoff = Duration::from_secs(1);
    loop {
        let wait = match Pair::load(current) {
            Ok(pair) => {
                let due = deadline(&pair);
                tracing::info!(certificate = what, not_after = %pair.not_after, rotate_at = %due, "certificate rotation scheduled");
                (due - chrono::Utc::now())
                    .to_std()
                    .unwrap_or_default()
                    .max(MIN_INTERVAL)
            }
            Err(e) => {
                tracing::info!(certificate = what, reason = %e, "no usable certificate: requesting one");
                Duration::ZERO
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = early.notified() => {
                tracing::info!(certificate = what, "renewing before the deadline: the certificate no longer fits");
            }
        }
        match renew().await {
            Ok(pair) => {
                tracing::info!(certificate = what, not_after = %pair.not_after, "rotated the certificate");
                backoff = Duration::from_secs(1);
            }
            Err(e) => {
                tracing::warn!(certificate = what, error = %e, "rotating the certificate");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(300));
            }
        }
    }
}

/// One rotation: a new certificate requested as the node itself, stored,
/// and a new inner client.
async fn rotate(rotation: &Rotation, client: &RotatingClient) -> Result<Pair, Error> {
    let pair = csr::request(
        &client.current(),
        &csr::Template::client(&rotation.node_name),
        Naming::Generated,
        WAIT,
    )
    .await?;
    store::update(&rotation.cert_dir, store::CLIENT, &pair)?;
    let next = crate::failover::client(Some(&rotation.kubeconfig), &rotation.api_server_endpoints)
        .await
        .map_err(|e| Error::Invalid(format!("a client with the new certificate: {e}")))?;
    client.replace(next);
    Ok(pair)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_deadline_is_between_70_and_90_percent_of_the_life() {
        let now = chrono::Utc::now();
        let pair = Pair {
            cert_pem: String::new(),
            key_pem: String::new(),
            not_before: now,
            not_after: now + chrono::Duration::seconds(1000),
        };
        for _ in 0..100 {
            let d = (deadline(&pair) - now).num_seconds();
            assert!((700..=900).contains(&d), "{d}");
        }
    }
}
