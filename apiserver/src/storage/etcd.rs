//! Objects in etcd.
//!
//! Keys are `<prefix>/<resource>/<namespace>/<name>` for namespaced resources
//! and `<prefix>/<resource>/<name>` for cluster-scoped ones, values are the
//! object as JSON (so `etcdctl get --prefix /registry/pods` shows readable
//! objects). The stored JSON has no `metadata.resourceVersion`: the version *is*
//! etcd's `mod_revision` of the key, filled in on every read, so it can never
//! disagree with what etcd would compare against.
//!
//! Every write is one etcd transaction:
//! - create: `if create_revision(key) == 0 [and namespace key exists] then put`
//! - update: `if mod_revision(key) == expected then put`
//! - delete: `if mod_revision(key) == expected then delete`
//!
//! so nothing is ever half written and concurrent writers are serialised by etcd.
//! Writes of expiring kinds (Events) also attach the key to a lease
//! ([`super::leases`]).
//!
//! Values are made and read by the [`Codec`] (JSON, encrypted for the
//! resources an `EncryptionConfiguration` names).

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use etcd_client::{
    Client, Compare, CompareOp, ConnectOptions, GetOptions, KvClient, PutOptions, Txn, TxnOp,
    TxnOpResponse,
};
use serde_json::Value;

use super::codec::Codec;
use super::leases::Expiring;
use super::value::Transformers;
use super::{Result, StorageError};
use crate::metrics;

/// The largest etcd response the apiserver decodes. gRPC's default of 4 MiB
/// made a list of every Event in a busy cluster fail ("decoded message
/// length too large"); upstream's apiserver lifts it to `math.MaxInt32` too.
const MAX_RESPONSE_BYTES: usize = i32::MAX as usize;

/// An object read from etcd, with its revision.
#[derive(Debug, Clone)]
pub struct StoredObject {
    /// The object, `metadata.resourceVersion` set to `mod_revision`.
    pub object: Value,
    /// The key's `mod_revision`.
    pub mod_revision: i64,
    /// Read with another encryption provider or key than the one writing
    /// now: an update re-writes it even when nothing changed.
    pub stale: bool,
}

/// One page of a range read.
#[derive(Debug, Clone)]
pub struct ListPage {
    /// `(key, object)` in key order.
    pub items: Vec<(String, StoredObject)>,
    /// The etcd revision the page was read at.
    pub revision: i64,
    /// Whether more keys follow the last one returned.
    pub more: bool,
    /// How many keys follow (when `more`).
    pub remaining: i64,
}

/// The etcd-backed object store.
#[derive(Clone)]
pub struct Store {
    client: Client,
    prefix: String,
    timeout: Duration,
    /// Whether this etcd answers progress requests correctly; asked once.
    progress_reliable: Arc<tokio::sync::OnceCell<bool>>,
    /// Objects to bytes and back (with encryption at rest).
    codec: Codec,
    /// The newest revision this apiserver wrote under each registered
    /// prefix (see [`Store::write_mark`]).
    marks: WriteMarks,
    /// The kind whose objects expire ([`Store::with_ttl`]).
    expiring: Option<Arc<Expiring>>,
}

/// Collection prefixes whose writes are remembered, with the revision of
/// the newest one: what an [`Informer`](super::informer::Informer) must have
/// applied before its reads count as this apiserver's own writes included.
type WriteMarks = Arc<std::sync::RwLock<Vec<(String, Arc<std::sync::atomic::AtomicI64>)>>>;

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("prefix", &self.prefix)
            .finish()
    }
}

fn map_err(err: etcd_client::Error) -> StorageError {
    match &err {
        etcd_client::Error::GRpcStatus(status) => {
            let msg = status.message();
            if msg.contains("request is too large") {
                StorageError::TooLarge
            } else if msg.contains("required revision has been compacted") {
                // The caller fills in the real numbers when it knows them.
                StorageError::Compacted {
                    requested: 0,
                    compacted: 0,
                }
            } else if i32::from(status.code()) == 4 {
                // gRPC DEADLINE_EXCEEDED
                StorageError::Timeout
            } else {
                StorageError::Unavailable(format!("{}: {}", status.code(), msg))
            }
        }
        _ => StorageError::Unavailable(err.to_string()),
    }
}

/// The smallest key greater than every key starting with `prefix`.
pub fn prefix_end(prefix: &str) -> Vec<u8> {
    let mut end = prefix.as_bytes().to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

/// How the apiserver proves itself to etcd and checks etcd's certificate
/// (kubeadm's `apiserver-etcd-client` pair and the etcd CA).
#[derive(Debug, Clone, Default)]
pub struct EtcdTls {
    /// `--etcd-cafile`: the CA that signed etcd's serving certificate.
    pub ca_file: Option<std::path::PathBuf>,
    /// `--etcd-certfile`: the client certificate shown to etcd.
    pub cert_file: Option<std::path::PathBuf>,
    /// `--etcd-keyfile`: its private key.
    pub key_file: Option<std::path::PathBuf>,
}

impl EtcdTls {
    fn options(&self) -> Result<etcd_client::TlsOptions> {
        let read = |p: &std::path::Path| {
            std::fs::read(p)
                .map_err(|e| StorageError::Unavailable(format!("reading {}: {e}", p.display())))
        };
        let mut tls = etcd_client::TlsOptions::new();
        if let Some(ca) = &self.ca_file {
            tls = tls.ca_certificate(etcd_client::Certificate::from_pem(read(ca)?));
        }
        match (&self.cert_file, &self.key_file) {
            (Some(cert), Some(key)) => {
                tls = tls.identity(etcd_client::Identity::from_pem(read(cert)?, read(key)?));
            }
            (None, None) => {}
            _ => {
                return Err(StorageError::Unavailable(
                    "--etcd-certfile and --etcd-keyfile go together".into(),
                ))
            }
        }
        Ok(tls)
    }
}

impl Store {
    /// Connects to etcd. The connection is lazy: the apiserver starts (and
    /// answers `/readyz` with a failure) even while etcd is down, and reconnects
    /// by itself when etcd comes back.
    /// With `tls`, `https://` endpoints are dialed with its CA and client
    /// certificate (`--etcd-cafile`, `--etcd-certfile`, `--etcd-keyfile`).
    pub async fn connect(
        endpoints: &[String],
        prefix: &str,
        timeout: Duration,
        tls: Option<&EtcdTls>,
    ) -> Result<Store> {
        let mut options = ConnectOptions::new()
            .with_connect_timeout(Duration::from_secs(2))
            .with_timeout(timeout)
            .with_keep_alive(Duration::from_secs(5), Duration::from_secs(3))
            .with_keep_alive_while_idle(true);
        if let Some(tls) = tls {
            options = options.with_tls(tls.options()?);
        }
        let client = Client::connect(endpoints, Some(options))
            .await
            .map_err(map_err)?;
        Ok(Store {
            client,
            prefix: prefix.trim_end_matches('/').to_string(),
            timeout,
            progress_reliable: Arc::default(),
            codec: Codec::new(prefix.trim_end_matches('/'), Transformers::default()),
            marks: WriteMarks::default(),
            expiring: None,
        })
    }

    /// The same store, with the objects of `resource` deleted by etcd
    /// `ttl` after their last write (`--event-ttl` for `events`, the one
    /// kind that expires).
    pub fn with_ttl(mut self, resource: &str, ttl: Duration) -> Store {
        let prefix = format!("{}/{resource}/", self.prefix);
        self.expiring = Some(Arc::new(Expiring::new(prefix, ttl)));
        self
    }

    /// The lease a write of `key` must carry, if its kind expires: the
    /// current one while it can be reused, else a new grant.
    async fn lease_for(&self, key: &str) -> Result<Option<(&Expiring, i64)>> {
        let Some(e) = self
            .expiring
            .as_deref()
            .filter(|e| key.starts_with(&e.prefix))
        else {
            return Ok(None);
        };
        let now = Instant::now();
        if let Some(id) = e.reusable(now) {
            return Ok(Some((e, id)));
        }
        let mut leases = self.client.lease_client();
        let granted = self
            .call("grant", leases.grant(e.grant_seconds(), None))
            .await?;
        e.granted(granted.id(), now);
        Ok(Some((e, granted.id())))
    }

    /// `put` of `value` at `key` with the lease `lease` gives.
    fn put(key: &str, value: Vec<u8>, lease: Option<(&Expiring, i64)>) -> TxnOp {
        TxnOp::put(
            key,
            value,
            lease.map(|(_, id)| PutOptions::new().with_lease(id)),
        )
    }

    /// The same store, encrypting values as `transformers` say.
    pub fn with_transformers(mut self, transformers: Transformers) -> Store {
        self.codec = Codec::new(&self.prefix, transformers);
        self
    }

    /// The revision of this apiserver's newest write under `prefix` (0
    /// until one), kept current from now on.
    pub fn write_mark(&self, prefix: &str) -> Arc<std::sync::atomic::AtomicI64> {
        let mut marks = match self.marks.write() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some((_, mark)) = marks.iter().find(|(p, _)| p == prefix) {
            return Arc::clone(mark);
        }
        let mark = Arc::new(std::sync::atomic::AtomicI64::new(0));
        marks.push((prefix.to_string(), Arc::clone(&mark)));
        mark
    }

    /// Records a successful write of `key` at `rev`.
    fn wrote(&self, key: &str, rev: i64) {
        let marks = match self.marks.read() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        for (prefix, mark) in marks.iter() {
            if key.starts_with(prefix.as_str()) {
                mark.fetch_max(rev, std::sync::atomic::Ordering::AcqRel);
            }
        }
    }

    /// A watch client that takes responses of any size, as the KV client.
    pub fn watch_client(&self) -> etcd_client::WatchClient {
        self.client
            .watch_client()
            .max_decoding_message_size(MAX_RESPONSE_BYTES)
    }

    /// The raw client, for the watch cache.
    pub fn client(&self) -> Client {
        self.client.clone()
    }

    fn kv(&self) -> KvClient {
        self.client
            .kv_client()
            .max_decoding_message_size(MAX_RESPONSE_BYTES)
    }

    /// The storage key of an object.
    pub fn key(&self, resource: &str, namespace: Option<&str>, name: &str) -> String {
        match namespace {
            Some(ns) => format!("{}/{}/{}/{}", self.prefix, resource, ns, name),
            None => format!("{}/{}/{}", self.prefix, resource, name),
        }
    }

    /// The key prefix of a collection: one namespace, or all of them.
    pub fn collection_prefix(&self, resource: &str, namespace: Option<&str>) -> String {
        match namespace {
            Some(ns) => format!("{}/{}/{}/", self.prefix, resource, ns),
            None => format!("{}/{}/", self.prefix, resource),
        }
    }

    /// Runs one etcd call with the request timeout and records its latency.
    async fn call<T, F>(&self, op: &'static str, fut: F) -> Result<T>
    where
        F: Future<Output = std::result::Result<T, etcd_client::Error>>,
    {
        let start = Instant::now();
        let out = match tokio::time::timeout(self.timeout, fut).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(map_err(e)),
            Err(_) => Err(StorageError::Timeout),
        };
        metrics::global().observe_etcd(op, start.elapsed(), out.is_ok());
        out
    }

    /// Decodes (decrypting if need be) a stored value and stamps its
    /// resourceVersion.
    pub fn decode(&self, key: &[u8], value: &[u8], mod_revision: i64) -> Result<StoredObject> {
        self.codec.decode(key, value, mod_revision)
    }

    /// Encodes an object for storage at `key` (see [`Codec::encode`]).
    pub fn encode(&self, key: &str, object: &Value) -> Result<Vec<u8>> {
        self.codec.encode(key, object)
    }

    /// Reads one object.
    pub async fn get(&self, key: &str) -> Result<Option<StoredObject>> {
        let mut kv = self.kv();
        let resp = self.call("get", kv.get(key, None)).await?;
        match resp.kvs().first() {
            Some(kv) => Ok(Some(self.decode(
                kv.key(),
                kv.value(),
                kv.mod_revision(),
            )?)),
            None => Ok(None),
        }
    }

    /// Reads keys in `[start, end_of(prefix))` at `revision` (0 = now), at most
    /// `limit` of them (0 = all).
    pub async fn list(
        &self,
        prefix: &str,
        start: Option<&str>,
        limit: i64,
        revision: i64,
    ) -> Result<ListPage> {
        let start_key = start.unwrap_or(prefix).to_string();
        let mut opts = GetOptions::new().with_range(prefix_end(prefix));
        if limit > 0 {
            opts = opts.with_limit(limit);
        }
        if revision > 0 {
            opts = opts.with_revision(revision);
        }
        let mut kv = self.kv();
        let resp = self
            .call("list", kv.get(start_key, Some(opts)))
            .await
            .map_err(|e| match e {
                StorageError::Compacted { .. } => StorageError::Compacted {
                    requested: revision,
                    compacted: 0,
                },
                other => other,
            })?;
        // Reading at a revision: that revision is the snapshot's version
        // (the header carries the store's newest revision instead).
        let revision = if revision > 0 {
            revision
        } else {
            resp.header().map(|h| h.revision()).unwrap_or_default()
        };
        let mut items = Vec::with_capacity(resp.kvs().len());
        for kv in resp.kvs() {
            let key = String::from_utf8_lossy(kv.key()).into_owned();
            items.push((key, self.decode(kv.key(), kv.value(), kv.mod_revision())?));
        }
        let count = resp.count();
        Ok(ListPage {
            more: resp.more(),
            remaining: (count - items.len() as i64).max(0),
            items,
            revision,
        })
    }

    /// Creates `key` if absent. With `require`, the transaction also requires
    /// that key to exist (the object's namespace), so an object can never be
    /// created in a namespace that is not there. Returns the new revision.
    pub async fn create(&self, key: &str, object: &Value, require: Option<&str>) -> Result<i64> {
        let mut compares = vec![Compare::create_revision(key, CompareOp::Equal, 0)];
        if let Some(req) = require {
            compares.push(Compare::create_revision(req, CompareOp::Greater, 0));
        }
        let value = self.encode(key, object)?;
        let lease = self.lease_for(key).await?;
        let txn = Txn::new()
            .when(compares)
            .and_then(vec![Self::put(key, value, lease)])
            .or_else(vec![TxnOp::get(
                key,
                Some(GetOptions::new().with_keys_only()),
            )]);
        let mut kv = self.kv();
        let resp = self
            .call("create", kv.txn(txn))
            .await
            .inspect_err(|_| forget(lease))?;
        if resp.succeeded() {
            let rev = resp.header().map(|h| h.revision()).unwrap_or_default();
            self.wrote(key, rev);
            return Ok(rev);
        }
        // Which compare failed? The else branch read the key itself.
        let exists = resp.op_responses().into_iter().any(|r| match r {
            TxnOpResponse::Get(g) => !g.kvs().is_empty(),
            _ => false,
        });
        if exists {
            Err(StorageError::AlreadyExists)
        } else {
            Err(StorageError::NotFound)
        }
    }

    /// Replaces `key` if its `mod_revision` is still `expected`.
    pub async fn update(&self, key: &str, object: &Value, expected: i64) -> Result<i64> {
        let value = self.encode(key, object)?;
        let lease = self.lease_for(key).await?;
        let txn = Txn::new()
            .when(vec![Compare::mod_revision(key, CompareOp::Equal, expected)])
            .and_then(vec![Self::put(key, value, lease)]);
        let mut kv = self.kv();
        let resp = self
            .call("update", kv.txn(txn))
            .await
            .inspect_err(|_| forget(lease))?;
        if resp.succeeded() {
            let rev = resp.header().map(|h| h.revision()).unwrap_or_default();
            self.wrote(key, rev);
            Ok(rev)
        } else {
            Err(StorageError::Conflict)
        }
    }

    /// Deletes `key` if its `mod_revision` is still `expected`; returns the
    /// revision of the deletion.
    pub async fn delete(&self, key: &str, expected: i64) -> Result<i64> {
        let txn = Txn::new()
            .when(vec![Compare::mod_revision(key, CompareOp::Equal, expected)])
            .and_then(vec![TxnOp::delete(key, None)]);
        let mut kv = self.kv();
        let resp = self.call("delete", kv.txn(txn)).await?;
        if resp.succeeded() {
            let rev = resp.header().map(|h| h.revision()).unwrap_or_default();
            self.wrote(key, rev);
            Ok(rev)
        } else {
            Err(StorageError::Conflict)
        }
    }

    /// Deletes `key` whatever its revision (for bookkeeping keys such as IP
    /// reservations, never for API objects).
    pub async fn delete_unconditionally(&self, key: &str) -> Result<()> {
        let mut kv = self.kv();
        self.call("delete", kv.delete(key, None)).await.map(|_| ())
    }

    /// One step of the shared compaction schedule (see [`super::compactor`]):
    /// if the version of the `compact_rev_key` bookkeeping key is still
    /// `seen_version`, this apiserver wins the round: it records the store's
    /// revision there and compacts etcd up to `previous_revision` (the
    /// revision the last round saw; 0 compacts nothing). Otherwise another
    /// apiserver won, and its version is adopted. Returns the key's version
    /// now and the store's current revision (the next round's target).
    pub async fn compaction_round(
        &self,
        seen_version: i64,
        previous_revision: i64,
    ) -> Result<(i64, i64)> {
        const KEY: &str = "compact_rev_key";
        let txn = Txn::new()
            .when(vec![Compare::version(KEY, CompareOp::Equal, seen_version)])
            .and_then(vec![TxnOp::put(KEY, previous_revision.to_string(), None)])
            .or_else(vec![TxnOp::get(KEY, None)]);
        let mut kv = self.kv();
        let resp = self.call("compact", kv.txn(txn)).await?;
        let current = resp.header().map(|h| h.revision()).unwrap_or_default();
        if !resp.succeeded() {
            let version = resp
                .op_responses()
                .into_iter()
                .find_map(|op| match op {
                    etcd_client::TxnOpResponse::Get(get) => {
                        get.kvs().first().map(|kv| kv.version())
                    }
                    _ => None,
                })
                .unwrap_or(0);
            return Ok((version, current));
        }
        if previous_revision > 0 {
            let mut kv = self.kv();
            match self
                .call("compact", kv.compact(previous_revision, None))
                .await
            {
                // Already compacted further (by hand, or a slow round).
                Err(StorageError::Compacted { .. }) | Ok(_) => {}
                Err(e) => return Err(e),
            }
        }
        Ok((seen_version + 1, current))
    }

    /// The current etcd revision (a cheap, linearizable read of one missing key).
    pub async fn current_revision(&self) -> Result<i64> {
        let mut kv = self.kv();
        let resp = self
            .call(
                "revision",
                kv.get(
                    format!("{}/\u{0}", self.prefix),
                    Some(GetOptions::new().with_count_only()),
                ),
            )
            .await?;
        Ok(resp.header().map(|h| h.revision()).unwrap_or_default())
    }

    /// Whether a watch progress request can be trusted: its revision says
    /// that every change up to it has been sent on the stream. etcd before
    /// 3.4.31 and 3.5.13 may answer with the store's revision while a watch
    /// that started in the past is still catching up (etcd issue 15220), so
    /// there the watch cache goes without progress notifications (as
    /// upstream's apiserver checks the same versions). Asked once; false
    /// while etcd cannot be reached.
    pub async fn watch_progress_reliable(&self) -> bool {
        if let Some(known) = self.progress_reliable.get() {
            return *known;
        }
        let mut client = self.client.clone();
        let status = tokio::time::timeout(self.timeout, client.status()).await;
        match status {
            Ok(Ok(status)) => {
                let reliable = progress_fixed_in(status.version());
                let _ = self.progress_reliable.set(reliable);
                reliable
            }
            _ => false,
        }
    }

    /// Whether etcd answers within `timeout` (for `/readyz`).
    pub async fn healthy(&self, timeout: Duration) -> Result<()> {
        match tokio::time::timeout(timeout, self.current_revision()).await {
            Ok(r) => r.map(|_| ()),
            Err(_) => Err(StorageError::Timeout),
        }
    }
}

/// Whether etcd `version` has the fix for progress notifications sent ahead
/// of a catching-up watch: 3.4.31+, 3.5.13+ and every later minor version.
fn progress_fixed_in(version: &str) -> bool {
    let mut parts = version
        .split(['.', '-', '+'])
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor, patch) = (
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
    );
    match (major, minor) {
        (3, 4) => patch >= 31,
        (3, 5) => patch >= 13,
        (3, m) => m > 5,
        (m, _) => m > 3,
    }
}

/// Drops a lease a failed write carried: etcd may have lost it (a wiped
/// member), and the next write then asks for a new one.
fn forget(lease: Option<(&Expiring, i64)>) {
    if let Some((e, _)) = lease {
        e.forget();
    }
}

/// The revision in `metadata.resourceVersion`, if it is one.
pub fn resource_version_of(object: &Value) -> Option<i64> {
    object
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .and_then(|v| v.parse().ok())
}

/// Writes `metadata.resourceVersion` as the string form of `rev`.
pub fn set_resource_version(object: &mut Value, rev: i64) {
    if let Some(obj) = object.as_object_mut() {
        let meta = obj
            .entry("metadata")
            .or_insert_with(|| Value::Object(Default::default()));
        if let Some(meta) = meta.as_object_mut() {
            meta.insert("resourceVersion".into(), Value::String(rev.to_string()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_is_trusted_from_the_fixed_releases_on() {
        for (version, fixed) in [
            ("3.4.23", false),
            ("3.4.30", false),
            ("3.4.31", true),
            ("3.5.12", false),
            ("3.5.13", true),
            ("3.6.0", true),
            ("3.6.0-rc.1", true),
            ("4.0.0", true),
            ("3.3.27", false),
            ("", false),
        ] {
            assert_eq!(progress_fixed_in(version), fixed, "{version}");
        }
    }

    #[test]
    fn prefix_end_increments_last_byte() {
        assert_eq!(prefix_end("/registry/pods/"), b"/registry/pods0".to_vec());
    }
}
