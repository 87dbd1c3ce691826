//! The test harness: real processes on free loopback ports, cleaned up on drop.
//!
//! - [`Etcd`]: a throwaway etcd (Debian's `etcd` binary) with its own data dir,
//!   which can be stopped, restarted on the same data and ports, and compacted.
//! - [`ApiServer`]: the `apiserver` binary as a child process (so it can be
//!   `kill -9`ed), restartable on the same port.
//! - [`Http`]: a tiny JSON client with a line-by-line watch reader.
//! - [`kubectl`]: the real `/usr/bin/kubectl`, with a fresh cache dir.
//!
//! Everything uses unique temp dirs and free ports, so tests run in parallel,
//! and nothing depends on what an earlier (killed) run left behind.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

/// Harness failures: a test calling these fails with the message.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A process could not be started.
    #[error("cannot start {what}: {source}")]
    Spawn {
        /// Which process.
        what: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Something did not become ready in time.
    #[error("{0} did not become ready in time")]
    NotReady(String),
    /// An HTTP exchange failed below the HTTP level.
    #[error("HTTP: {0}")]
    Http(String),
    /// etcd's own API failed.
    #[error("etcd: {0}")]
    Etcd(String),
}

/// Shorthand.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Runs `cmd` with `input` on its stdin; its output (stdout and stderr
/// captured).
pub fn run_with_stdin(mut cmd: Command, input: &[u8]) -> std::process::Output {
    use std::io::Write;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the command starts");
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(input).expect("writing the command's input");
    }
    child.wait_with_output().expect("the command finishes")
}

/// A finished command's exit status, stdout and stderr, for a failing
/// assertion's message.
pub fn output_text(o: &std::process::Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A free TCP port on 127.0.0.1 for a server a test starts, chosen outside
/// the kernel's ephemeral range: a port that `bind(":0")` hands out is one
/// the kernel also hands to the next outgoing connection, and with many
/// tests connecting at once one of them could take it in the seconds before
/// the server binds it (a kubeadm test then waited 240 s for an etcd that
/// never listened). Falls back to an ephemeral port.
pub fn free_port() -> u16 {
    use rand::Rng;
    let range = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| {
            let mut it = s.split_whitespace().map(|v| v.parse::<u16>().ok());
            Some((it.next()??, it.next()??))
        })
        .unwrap_or((32768, 60999));
    let mut rng = rand::thread_rng();
    for _ in 0..1000 {
        let port = rng.gen_range(10_000..=u16::MAX);
        if (range.0..=range.1).contains(&port) {
            continue;
        }
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

/// Polls `f` until it returns `Some` or `timeout` passes.
pub async fn eventually<T, F, Fut>(timeout: Duration, mut f: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return Some(v);
        }
        if Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn kill(child: &mut Option<Child>) {
    if let Some(mut c) = child.take() {
        let _ = c.kill();
        let _ = c.wait();
    }
}

/// A throwaway etcd.
pub struct Etcd {
    child: Option<Child>,
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    peer_url: String,
    name: String,
    dir: tempfile::TempDir,
}

impl Etcd {
    /// Starts etcd on free ports with a fresh data dir and waits for it.
    pub async fn start() -> Result<Etcd> {
        let dir = tempfile::Builder::new()
            .prefix("minik8s-etcd-")
            .tempdir()
            .map_err(|source| Error::Spawn {
                what: "a temp dir".into(),
                source,
            })?;
        let mut etcd = Etcd {
            child: None,
            url: format!("http://127.0.0.1:{}", free_port()),
            peer_url: format!("http://127.0.0.1:{}", free_port()),
            name: format!("t{}", std::process::id()),
            dir,
        };
        etcd.spawn().await?;
        Ok(etcd)
    }

    async fn spawn(&mut self) -> Result<()> {
        let log = std::fs::File::create(self.dir.path().join("etcd.log")).map_err(|source| {
            Error::Spawn {
                what: "etcd log".into(),
                source,
            }
        })?;
        let child = Command::new("etcd")
            .arg("--name")
            .arg(&self.name)
            .arg("--data-dir")
            .arg(self.dir.path().join("data"))
            .args(["--listen-client-urls", &self.url])
            .args(["--advertise-client-urls", &self.url])
            .args(["--listen-peer-urls", &self.peer_url])
            .args(["--initial-advertise-peer-urls", &self.peer_url])
            .arg("--initial-cluster")
            .arg(format!("{}={}", self.name, self.peer_url))
            // Room for a 1.5 MiB object plus its transaction (etcd's
            // default, 1.5 MiB, fits only smaller objects).
            .args(["--max-request-bytes", "2097152"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|source| Error::Spawn {
                what: "etcd (apt-get install etcd-server)".into(),
                source,
            })?;
        self.child = Some(child);
        let url = self.url.clone();
        eventually(Duration::from_secs(20), || {
            let url = url.clone();
            async move {
                let mut c = etcd_client::Client::connect([url], None).await.ok()?;
                c.get("health", None).await.ok().map(|_| ())
            }
        })
        .await
        .ok_or_else(|| Error::NotReady("etcd".into()))
    }

    /// A client.
    pub async fn client(&self) -> Result<etcd_client::Client> {
        etcd_client::Client::connect([self.url.as_str()], None)
            .await
            .map_err(|e| Error::Etcd(e.to_string()))
    }

    /// Stops etcd (SIGKILL); the data stays.
    pub fn stop(&mut self) {
        kill(&mut self.child);
    }

    /// Starts it again on the same data and ports.
    pub async fn restart(&mut self) -> Result<()> {
        self.stop();
        self.spawn().await
    }

    /// Compacts the history up to the current revision (and returns it).
    pub async fn compact(&self) -> Result<i64> {
        let mut c = self.client().await?;
        let rev = c
            .get("compact-probe", None)
            .await
            .map_err(|e| Error::Etcd(e.to_string()))?
            .header()
            .map(|h| h.revision())
            .unwrap_or(0);
        c.compact(
            rev,
            Some(etcd_client::CompactionOptions::new().with_physical()),
        )
        .await
        .map_err(|e| Error::Etcd(e.to_string()))?;
        Ok(rev)
    }

    /// Reads one key straight from etcd.
    pub async fn get_raw(&self, key: &str) -> Result<Option<(Value, i64)>> {
        let mut c = self.client().await?;
        let resp = c
            .get(key, None)
            .await
            .map_err(|e| Error::Etcd(e.to_string()))?;
        Ok(resp.kvs().first().and_then(|kv| {
            serde_json::from_slice(kv.value())
                .ok()
                .map(|v| (v, kv.mod_revision()))
        }))
    }

    /// Writes one key straight into etcd.
    pub async fn put_raw(&self, key: &str, value: &str) -> Result<()> {
        let mut c = self.client().await?;
        c.put(key, value, None)
            .await
            .map(|_| ())
            .map_err(|e| Error::Etcd(e.to_string()))
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A `kB` field of `/proc/<pid>/status` (`VmRSS`, `VmHWM`, ...), for the
/// benchmarks' memory figures; 0 when the process or field is gone.
pub fn proc_status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.split(':').next() == Some(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// The path of a binary built by cargo next to the test executable.
pub fn binary(name: &str) -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    // Tests run from target/<profile>/deps/, binaries from target/<profile>/.
    let dir = exe.parent()?;
    [dir.join(name), dir.parent()?.join(name)]
        .into_iter()
        .find(|p| p.exists())
}

/// The apiserver binary as a child process.
pub struct ApiServer {
    child: Option<Child>,
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    port: u16,
    etcd_url: String,
    extra_args: Vec<String>,
    bin: PathBuf,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl ApiServer {
    /// Starts the apiserver against `etcd` and waits for `/readyz`.
    pub async fn start(etcd: &Etcd) -> Result<ApiServer> {
        ApiServer::start_with(etcd, &[]).await
    }

    /// Starts the apiserver with extra flags (limits a test wants small).
    pub async fn start_with(etcd: &Etcd, extra_args: &[&str]) -> Result<ApiServer> {
        let bin = binary("apiserver").ok_or_else(|| Error::Spawn {
            what: "apiserver".into(),
            source: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "target/<profile>/apiserver is missing: run `cargo build -p apiserver`",
            ),
        })?;
        let dir = tempfile::Builder::new()
            .prefix("minik8s-apiserver-")
            .tempdir()
            .map_err(|source| Error::Spawn {
                what: "a temp dir".into(),
                source,
            })?;
        let port = free_port();
        let mut s = ApiServer {
            child: None,
            url: format!("http://127.0.0.1:{port}"),
            port,
            etcd_url: etcd.url.clone(),
            extra_args: extra_args.iter().map(|a| a.to_string()).collect(),
            bin,
            log: dir.path().join("apiserver.log"),
            _dir: dir,
        };
        s.spawn().await?;
        Ok(s)
    }

    async fn spawn(&mut self) -> Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .map_err(|source| Error::Spawn {
                what: "apiserver log".into(),
                source,
            })?;
        let child = Command::new(&self.bin)
            .args(["--etcd-servers", &self.etcd_url])
            .args(["--bind-address", "127.0.0.1"])
            .args(["--port", &self.port.to_string()])
            // The secure port is on by default (6443); tests that do not ask
            // for it serve the plain port only, so parallel servers never
            // share a port. (Tests of TLS pass their own --secure-port.)
            .args(
                (!self
                    .extra_args
                    .iter()
                    .any(|a| a.starts_with("--secure-port")))
                .then_some(["--secure-port", "0"])
                .into_iter()
                .flatten(),
            )
            // No controller-manager runs here to make each namespace's
            // `default` ServiceAccount, so ServiceAccount admission would
            // refuse every pod: it is off unless a test says otherwise
            // (upstream's integration harness does the same).
            .args(
                (!self
                    .extra_args
                    .iter()
                    .any(|a| a.contains("admission-plugins")))
                .then_some(["--disable-admission-plugins", "ServiceAccount"])
                .into_iter()
                .flatten(),
            )
            .args(&self.extra_args)
            // APISERVER_LOG raises the level when a test needs the detail.
            .env(
                "RUST_LOG",
                std::env::var("APISERVER_LOG").unwrap_or_else(|_| "info".into()),
            )
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|source| Error::Spawn {
                what: "apiserver".into(),
                source,
            })?;
        self.child = Some(child);
        let http = Http::new(&self.url);
        eventually(Duration::from_secs(20), || {
            let http = http.clone();
            async move {
                match http.get_text("/readyz").await {
                    Ok((200, _)) => Some(()),
                    _ => None,
                }
            }
        })
        .await
        .ok_or_else(|| Error::NotReady(format!("apiserver (log: {})", self.log.display())))
    }

    /// The process id (for RSS measurements).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// `kill -9`.
    pub fn kill9(&mut self) {
        kill(&mut self.child);
    }

    /// Starts it again on the same port.
    pub async fn restart(&mut self) -> Result<()> {
        self.kill9();
        self.spawn().await
    }

    /// The log file.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// A client for it.
    pub fn http(&self) -> Http {
        Http::new(&self.url)
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// A minimal HTTP/JSON client.
#[derive(Clone)]
pub struct Http {
    base: String,
    client: Client<HttpConnector, Full<Bytes>>,
}

/// An HTTP answer: status and body parsed as JSON (Null when not JSON).
#[derive(Debug, Clone)]
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// The body as JSON.
    pub body: Value,
}

impl Http {
    /// A client for `base` (e.g. `http://127.0.0.1:8080`).
    pub fn new(base: &str) -> Http {
        Http {
            base: base.trim_end_matches('/').to_string(),
            client: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    /// Sends a request with an optional body and content type.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> Result<(u16, Bytes)> {
        let mut req = http::Request::builder()
            .method(method)
            .uri(format!("{}{}", self.base, path));
        if let Some(ct) = content_type {
            req = req.header(http::header::CONTENT_TYPE, ct);
        }
        let req = req
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| Error::Http(e.to_string()))?;
        let resp = tokio::time::timeout(Duration::from_secs(30), self.client.request(req))
            .await
            .map_err(|_| Error::Http(format!("{method} {path} timed out")))?
            .map_err(|e| Error::Http(e.to_string()))?;
        let status = resp.status().as_u16();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| Error::Http(e.to_string()))?
            .to_bytes();
        Ok((status, body))
    }

    async fn json(
        &self,
        method: &str,
        path: &str,
        ct: Option<&str>,
        body: Vec<u8>,
    ) -> Result<Reply> {
        let (status, bytes) = self.send(method, path, ct, body).await?;
        Ok(Reply {
            status,
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        })
    }

    /// GET with an `Accept` header: the status, the answer's content type
    /// and the body.
    pub async fn get_accepting(&self, path: &str, accept: &str) -> Result<(u16, String, Bytes)> {
        let (status, headers, body) = self
            .request("GET", path, &[("accept", accept)], Vec::new())
            .await?;
        let content_type = headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        Ok((status, content_type, body))
    }

    /// Any request with the given headers: the status, the answer's
    /// headers and the body.
    pub async fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Result<(u16, http::HeaderMap, Bytes)> {
        let mut req = http::Request::builder()
            .method(method)
            .uri(format!("{}{}", self.base, path));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| Error::Http(e.to_string()))?;
        let resp = tokio::time::timeout(Duration::from_secs(30), self.client.request(req))
            .await
            .map_err(|_| Error::Http(format!("{method} {path} timed out")))?
            .map_err(|e| Error::Http(e.to_string()))?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| Error::Http(e.to_string()))?
            .to_bytes();
        Ok((status, headers, body))
    }

    /// GET as text.
    pub async fn get_text(&self, path: &str) -> Result<(u16, String)> {
        let (s, b) = self.send("GET", path, None, Vec::new()).await?;
        Ok((s, String::from_utf8_lossy(&b).into_owned()))
    }

    /// GET.
    pub async fn get(&self, path: &str) -> Result<Reply> {
        self.json("GET", path, None, Vec::new()).await
    }

    /// POST a JSON body.
    pub async fn post(&self, path: &str, body: &Value) -> Result<Reply> {
        self.json(
            "POST",
            path,
            Some("application/json"),
            body.to_string().into_bytes(),
        )
        .await
    }

    /// PUT a JSON body.
    pub async fn put(&self, path: &str, body: &Value) -> Result<Reply> {
        self.json(
            "PUT",
            path,
            Some("application/json"),
            body.to_string().into_bytes(),
        )
        .await
    }

    /// PATCH with a content type.
    pub async fn patch(&self, path: &str, content_type: &str, body: &Value) -> Result<Reply> {
        self.json(
            "PATCH",
            path,
            Some(content_type),
            body.to_string().into_bytes(),
        )
        .await
    }

    /// DELETE with an optional DeleteOptions body.
    pub async fn delete(&self, path: &str, body: Option<&Value>) -> Result<Reply> {
        let (ct, b) = match body {
            Some(v) => (Some("application/json"), v.to_string().into_bytes()),
            None => (None, Vec::new()),
        };
        self.json("DELETE", path, ct, b).await
    }

    /// Sends raw bytes.
    pub async fn raw(
        &self,
        method: &str,
        path: &str,
        ct: Option<&str>,
        body: Vec<u8>,
    ) -> Result<Reply> {
        self.json(method, path, ct, body).await
    }

    /// Opens a watch; events arrive as parsed JSON lines.
    pub async fn watch(&self, path: &str) -> Result<Watch> {
        let req = http::Request::builder()
            .method("GET")
            .uri(format!("{}{}", self.base, path))
            .body(Full::new(Bytes::new()))
            .map_err(|e| Error::Http(e.to_string()))?;
        let resp = self
            .client
            .request(req)
            .await
            .map_err(|e| Error::Http(e.to_string()))?;
        let status = resp.status().as_u16();
        let (tx, rx) = tokio::sync::mpsc::channel(1024);
        let mut body = resp.into_body();
        tokio::spawn(async move {
            let mut buf: Vec<u8> = Vec::new();
            loop {
                // A dropped Watch closes its stream at once, as a client
                // that goes away does.
                let frame = tokio::select! {
                    f = body.frame() => f,
                    _ = tx.closed() => return,
                };
                let Some(Ok(frame)) = frame else { return };
                if let Ok(data) = frame.into_data() {
                    buf.extend_from_slice(&data);
                    while let Some(pos) = buf.iter().position(|b| *b == b'\n') {
                        let line: Vec<u8> = buf.drain(..=pos).collect();
                        if let Ok(v) = serde_json::from_slice::<Value>(&line) {
                            if tx.send(v).await.is_err() {
                                return;
                            }
                        }
                    }
                }
            }
        });
        Ok(Watch { status, rx })
    }
}

/// An open watch.
pub struct Watch {
    /// The HTTP status of the watch request.
    pub status: u16,
    rx: tokio::sync::mpsc::Receiver<Value>,
}

impl Watch {
    /// The next event within `timeout`; `None` on timeout or end of stream.
    pub async fn next(&mut self, timeout: Duration) -> Option<Value> {
        tokio::time::timeout(timeout, self.rx.recv())
            .await
            .ok()
            .flatten()
    }

    /// Whether the stream has ended (within `timeout`).
    pub async fn ended(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, self.rx.recv()).await {
                Ok(None) => return true,
                Ok(Some(_)) => continue,
                Err(_) => return false,
            }
        }
    }
}

/// The output of a kubectl run.
#[derive(Debug)]
pub struct KubectlOutput {
    /// Whether it exited 0.
    pub success: bool,
    /// The exit code (`None` when killed by a signal).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

/// Runs the real kubectl against `server` with a fresh cache dir.
pub fn kubectl(server: &str, args: &[&str]) -> Result<KubectlOutput> {
    let cache = tempfile::tempdir().map_err(|source| Error::Spawn {
        what: "a temp dir".into(),
        source,
    })?;
    kubectl_cached(server, cache.path(), args)
}

/// Runs the real kubectl against `server` keeping its discovery cache in
/// `cache`, so a test that runs it many times against one server reads
/// discovery once.
pub fn kubectl_cached(server: &str, cache: &Path, args: &[&str]) -> Result<KubectlOutput> {
    let out = Command::new("/usr/bin/kubectl")
        .arg("--server")
        .arg(server)
        .arg("--cache-dir")
        .arg(cache)
        .args(args)
        .env("KUBECONFIG", "/dev/null")
        .output()
        .map_err(|source| Error::Spawn {
            what: "kubectl".into(),
            source,
        })?;
    Ok(KubectlOutput {
        success: out.status.success(),
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

/// Runs our kubectl (the workspace's `kubectl` binary) exactly as
/// [`kubectl_cached`] runs the real one, so their outputs can be compared.
pub fn our_kubectl_cached(server: &str, cache: &Path, args: &[&str]) -> Result<KubectlOutput> {
    let bin = binary("kubectl").ok_or_else(|| Error::Spawn {
        what: "our kubectl (cargo build -p kubectl)".into(),
        source: std::io::Error::new(std::io::ErrorKind::NotFound, "target/<profile>/kubectl"),
    })?;
    let out = Command::new(bin)
        .arg("--server")
        .arg(server)
        .arg("--cache-dir")
        .arg(cache)
        .args(args)
        .env("KUBECONFIG", "/dev/null")
        .output()
        .map_err(|source| Error::Spawn {
            what: "our kubectl".into(),
            source,
        })?;
    Ok(KubectlOutput {
        success: out.status.success(),
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

/// A unique name for test objects.
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id() % 100_000,
        N.fetch_add(1, Ordering::Relaxed)
    )
}
