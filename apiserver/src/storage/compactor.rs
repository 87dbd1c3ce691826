//! Compaction: etcd keeps every revision of every key until it is told to
//! forget them. Like upstream's apiserver, ours compacts etcd on a fixed
//! interval (`--etcd-compaction-interval`, 5 minutes by default; 0 turns
//! it off, for an etcd compacted by its own `--auto-compaction-*`).
//!
//! Each round compacts up to the revision the *previous* round saw, so at
//! least one interval of history is always kept: a watch or a paged list
//! that is not older than that can always resume; an older one gets
//! `410 Gone` (and a paged list an inconsistent continue token). Several
//! apiservers share one schedule through the `compact_rev_key` key: a round
//! is carried out only by the apiserver whose compare-and-swap on that
//! key's version wins, so the cluster compacts once per interval, not once
//! per apiserver.

use std::sync::Arc;
use std::time::Duration;

use crate::ApiServer;

/// Runs the compaction rounds until the server stops.
pub async fn run(server: Arc<ApiServer>, interval: Duration) {
    let mut stopping = server.stopping.subscribe();
    // The key's version as last seen, and the revision of the last round.
    let (mut version, mut revision) = (0, 0);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = stopping.wait_for(|s| *s) => return,
        }
        match server.store.compaction_round(version, revision).await {
            Ok((v, r)) => {
                if v == version + 1 && revision > 0 {
                    tracing::info!(revision, "compacted etcd");
                }
                (version, revision) = (v, r);
            }
            Err(e) => tracing::warn!(error = %e, "etcd compaction round failed"),
        }
    }
}
