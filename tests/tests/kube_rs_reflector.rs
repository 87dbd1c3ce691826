//! kube-rs, a client nobody here wrote, keeps an exact copy of a collection
//! through our apiserver: its `watcher` + `reflector` (the informer every
//! controller in this project uses) must converge to exactly what a fresh list
//! returns, through creates, updates, deletes, an apiserver restart (the watch
//! breaks and resumes from its last resourceVersion) and a forced etcd
//! compaction (the resume fails with 410 and the watcher re-lists).

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::{reflector, watcher, WatchStreamExt};
use tokio::sync::oneshot;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A throwaway etcd for this test.
struct Etcd {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Etcd {
    fn start() -> Etcd {
        let dir = tempfile::tempdir().expect("temp dir");
        let (client, peer) = (free_port(), free_port());
        let url = format!("http://127.0.0.1:{client}");
        let peer_url = format!("http://127.0.0.1:{peer}");
        let child = Command::new("etcd")
            .args(["--name", "reflector", "--data-dir"])
            .arg(dir.path().join("data"))
            .args([
                "--listen-client-urls",
                &url,
                "--advertise-client-urls",
                &url,
            ])
            .args(["--listen-peer-urls", &peer_url])
            .args(["--initial-advertise-peer-urls", &peer_url])
            .args(["--initial-cluster", &format!("reflector={peer_url}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("etcd starts (apt-get install etcd-server)");
        Etcd {
            child,
            url,
            _dir: dir,
        }
    }

    async fn put_direct(&self, key: &str, value: &str) {
        let mut client = etcd_client::Client::connect([self.url.as_str()], None)
            .await
            .expect("etcd client");
        client.put(key, value, None).await.expect("etcd put");
    }

    async fn compact_now(&self) {
        let mut client = etcd_client::Client::connect([self.url.as_str()], None)
            .await
            .expect("etcd client");
        let rev = client
            .get("/", None)
            .await
            .expect("etcd get")
            .header()
            .map(|h| h.revision())
            .expect("header");
        client
            .compact(
                rev,
                Some(etcd_client::CompactionOptions::new().with_physical()),
            )
            .await
            .expect("compact");
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An in-process apiserver that can be stopped and started on the same port.
struct Server {
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

async fn start_apiserver(etcd: &Etcd, port: u16) -> Server {
    let config = apiserver::Config {
        etcd_servers: vec![etcd.url.clone()],
        port: Some(port),
        secure_port: None,
        ..apiserver::Config::default()
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (tx, rx) = oneshot::channel::<()>();
        let shutdown = async move {
            let _ = rx.await;
        };
        match apiserver::start(config.clone(), shutdown).await {
            Ok(server) => {
                let task = tokio::spawn(async move {
                    let _ = server.wait().await;
                });
                wait_ready(port).await;
                return Server {
                    stop: Some(tx),
                    task: Some(task),
                };
            }
            // The previous instance may hold the port for a moment.
            Err(e) if Instant::now() < deadline => {
                tracing::debug!(error = %e, "retrying apiserver start");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("apiserver did not start: {e}"),
        }
    }
}

impl Server {
    async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
        }
    }
}

async fn wait_ready(port: u16) {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Ok(mut s) = tokio::net::TcpStream::connect(addr).await {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let _ = s
                .write_all(b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .await;
            let mut buf = Vec::new();
            let _ = s.read_to_end(&mut buf).await;
            if buf.starts_with(b"HTTP/1.1 200") {
                return;
            }
        }
        assert!(Instant::now() < deadline, "apiserver never became ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn cm(name: &str, value: &str) -> ConfigMap {
    let mut data = BTreeMap::new();
    data.insert("v".to_string(), value.to_string());
    ConfigMap {
        metadata: kube::api::ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        data: Some(data),
        ..Default::default()
    }
}

/// name -> (resourceVersion, data.v) of a set of ConfigMaps.
fn summary<'a>(items: impl Iterator<Item = &'a ConfigMap>) -> BTreeMap<String, (String, String)> {
    items
        .map(|c| {
            (
                c.metadata.name.clone().unwrap_or_default(),
                (
                    c.metadata.resource_version.clone().unwrap_or_default(),
                    c.data
                        .as_ref()
                        .and_then(|d| d.get("v").cloned())
                        .unwrap_or_default(),
                ),
            )
        })
        .collect()
}

async fn converged(store: &reflector::Store<ConfigMap>, api: &Api<ConfigMap>) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let truth = summary(
            api.list(&ListParams::default())
                .await
                .expect("list")
                .items
                .iter(),
        );
        let state = store.state();
        let copy = summary(state.iter().map(|a| a.as_ref()));
        if copy == truth {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "reflector did not converge:\n copy  {copy:?}\n truth {truth:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reflector_keeps_an_exact_copy_through_restart_and_compaction() {
    let etcd = Etcd::start();
    let port = free_port();
    let server = start_apiserver(&etcd, port).await;

    let config = kube::Config::new(
        format!("http://127.0.0.1:{port}")
            .parse()
            .expect("a valid URL"),
    );
    let client = kube::Client::try_from(config).expect("client");
    let ns = "default";
    let api: Api<ConfigMap> = Api::namespaced(client, ns);

    for i in 0..5 {
        api.create(&PostParams::default(), &cm(&format!("before-{i}"), "0"))
            .await
            .expect("create");
    }

    let (store, writer) = reflector::store();
    // As every informer does: back off between retries instead of spinning
    // while the apiserver is down.
    let stream = reflector(
        writer,
        watcher(api.clone(), watcher::Config::default()).default_backoff(),
    )
    .applied_objects()
    .for_each(|_| futures::future::ready(()));
    let informer = tokio::spawn(stream);
    store.wait_until_ready().await.expect("store ready");
    converged(&store, &api).await;

    // Creates, updates and deletes while watching.
    for i in 0..5 {
        api.create(&PostParams::default(), &cm(&format!("live-{i}"), "0"))
            .await
            .expect("create");
    }
    let patch = serde_json::json!({"data": {"v": "1"}});
    api.patch("before-1", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("patch");
    api.delete("before-2", &DeleteParams::default())
        .await
        .expect("delete");
    converged(&store, &api).await;

    // Restart the apiserver: the watch breaks and resumes from its last
    // resourceVersion, now older than the new server's watch cache.
    server.stop().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let server = start_apiserver(&etcd, port).await;
    api.create(&PostParams::default(), &cm("after-restart", "0"))
        .await
        .expect("create after restart");
    api.delete("before-3", &DeleteParams::default())
        .await
        .expect("delete after restart");
    converged(&store, &api).await;

    // Compaction while the server is down: resuming gives 410 and the
    // watcher must re-list to converge. A write straight into etcd makes sure
    // the watcher's last revision is strictly older than the compaction.
    server.stop().await;
    etcd.put_direct(
        "/registry/configmaps/default/written-to-etcd",
        r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"written-to-etcd","namespace":"default","uid":"direct"},"data":{"v":"etcd"}}"#,
    )
    .await;
    etcd.compact_now().await;
    let server = start_apiserver(&etcd, port).await;
    for i in 0..3 {
        let patch = serde_json::json!({"data": {"v": format!("c{i}")}});
        api.patch("live-0", &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .expect("patch after compaction");
    }
    api.delete("live-1", &DeleteParams::default())
        .await
        .expect("delete after compaction");
    converged(&store, &api).await;

    informer.abort();
    server.stop().await;
}
