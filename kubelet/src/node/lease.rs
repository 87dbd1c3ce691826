//! The node heartbeat Lease (`kube-node-lease/<node>`): renewed every
//! [`RENEW_INTERVAL`] with a 40 s duration. Cheaper than posting the whole
//! Node status, it is what the node lifecycle controller watches to tell a
//! live kubelet from a silent one.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, OwnerReference};
use kube::api::{Api, PostParams};

/// The namespace of node Leases.
pub const NAMESPACE: &str = "kube-node-lease";
/// How often the Lease is renewed (upstream: a quarter of the duration).
pub const RENEW_INTERVAL: Duration = Duration::from_secs(10);
/// The Lease duration.
pub const DURATION_SECONDS: i32 = 40;

/// One renewal: create the Lease or bump its renewTime.
pub async fn renew(client: &kube::Client, node: &str) -> Result<(), kube::Error> {
    let api: Api<Lease> = Api::namespaced(client.clone(), NAMESPACE);
    let now = MicroTime(k8s_openapi::jiff::Timestamp::now());
    match api.get_opt(node).await? {
        Some(mut lease) => {
            let spec = lease.spec.get_or_insert_with(Default::default);
            spec.renew_time = Some(now);
            spec.holder_identity = Some(node.to_string());
            spec.lease_duration_seconds = Some(DURATION_SECONDS);
            api.replace(node, &PostParams::default(), &lease).await?;
        }
        None => {
            // Owned by the Node, so deleting the Node deletes its Lease.
            let owner = Api::<k8s_openapi::api::core::v1::Node>::all(client.clone())
                .get_opt(node)
                .await?
                .map(|n| OwnerReference {
                    api_version: "v1".into(),
                    kind: "Node".into(),
                    name: node.to_string(),
                    uid: n.metadata.uid.unwrap_or_default(),
                    ..Default::default()
                });
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(node.to_string()),
                    namespace: Some(NAMESPACE.into()),
                    owner_references: owner.map(|o| vec![o]),
                    ..Default::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some(node.to_string()),
                    lease_duration_seconds: Some(DURATION_SECONDS),
                    renew_time: Some(now),
                    ..Default::default()
                }),
            };
            api.create(&PostParams::default(), &lease).await?;
        }
    }
    Ok(())
}

/// Renews forever; failures are retried at the next tick.
pub async fn run(client: kube::Client, node: String) {
    loop {
        if let Err(e) = renew(&client, &node).await {
            tracing::warn!(node = %node, error = %e, "renewing the node lease failed");
        }
        tokio::time::sleep(RENEW_INTERVAL).await;
    }
}
