//! `kubectl exec`: runs a command in a container over the WebSocket
//! `v5.channel.k8s.io` protocol (each binary message starts with its
//! channel: 0 stdin, 1 stdout, 2 stderr, 3 the final `Status`, 4 terminal
//! resize, 255 close of a stream). The exit code comes from the `Status`:
//! a `NonZeroExitCode` failure carries it in its `ExitCode` cause, and we
//! print `command terminated with exit code N` and exit with it as upstream.
//! With `-t` the local terminal is put in raw mode (through `stty`) for the
//! session.

use std::io::Write;

use futures::{SinkExt, StreamExt};
use http::Request;
use serde_json::Value;
use tokio::io::AsyncReadExt;
use tokio_tungstenite::tungstenite::Message;

use crate::cli::ExecArgs;
use crate::client::{q, Rest};
use crate::discovery::Resolver;
use crate::error::{Error, Result};

/// Restores the terminal mode when dropped.
struct RawMode(Option<String>);

impl RawMode {
    fn enter() -> RawMode {
        let saved = std::process::Command::new("stty")
            .arg("-g")
            .stdin(std::process::Stdio::inherit())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
        if saved.is_some() {
            let _ = std::process::Command::new("stty")
                .args(["raw", "-echo"])
                .stdin(std::process::Stdio::inherit())
                .status();
        }
        RawMode(saved)
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some(s) = &self.0 {
            let _ = std::process::Command::new("stty")
                .arg(s)
                .stdin(std::process::Stdio::inherit())
                .status();
        }
    }
}

fn kube_err(rest: &Rest, e: kube::Error) -> Error {
    match e {
        kube::Error::Api(status) => {
            let v = serde_json::to_value(&*status).unwrap_or(Value::Null);
            Error::Api {
                code: status.code,
                status: v,
                context: None,
            }
        }
        other => rest.transport(other),
    }
}

/// Opens the exec WebSocket at `path` (the `exec` subresource with its
/// query).
async fn connect(rest: &Rest, path: String) -> Result<kube::client::Connection> {
    let req = Request::builder()
        .method("GET")
        .uri(path)
        .body(Vec::new())
        .map_err(|e| Error::usage(e.to_string()))?;
    rest.client
        .connect(req)
        .await
        .map_err(|e| kube_err(rest, e))
}

/// Runs `kubectl exec`; returns the remote command's exit code.
pub async fn run(rest: &Rest, a: ExecArgs) -> Result<i32> {
    if a.command.is_empty() {
        return Err(Error::usage(
            "you must specify at least one command for the container",
        ));
    }
    let ns = rest.namespace.clone();
    let pod_name = match a.target.split_once('/') {
        None => a.target.clone(),
        Some((ty, name)) => {
            let mut resolver = Resolver::new(rest).await?;
            let r = resolver.resolve(ty).await?;
            if r.kind != "Pod" {
                return Err(Error::usage(format!("cannot exec into a {}", r.kind)));
            }
            name.to_string()
        }
    };
    let pod = rest
        .get(&format!("/api/v1/namespaces/{ns}/pods/{pod_name}"))
        .await?;
    let phase = pod["status"]["phase"].as_str().unwrap_or("");
    if phase == "Succeeded" || phase == "Failed" {
        return Err(Error::usage(format!(
            "cannot exec into a container in a completed pod; current phase is {phase}"
        )));
    }
    let names: Vec<&str> = pod["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["name"].as_str())
        .collect();
    let container = match &a.container {
        Some(c) => c.clone(),
        None => {
            let first = names.first().copied().unwrap_or("");
            if names.len() > 1 {
                eprintln!(
                    "Defaulted container \"{first}\" out of: {}",
                    names.join(", ")
                );
            }
            first.to_string()
        }
    };
    let mut qs = vec![
        format!("container={}", q(&container)),
        "stdout=true".to_string(),
    ];
    if !a.tty {
        qs.push("stderr=true".into());
    }
    if a.stdin {
        qs.push("stdin=true".into());
    }
    if a.tty {
        qs.push("tty=true".into());
    }
    for c in &a.command {
        qs.push(format!("command={}", q(c)));
    }
    let path = format!(
        "/api/v1/namespaces/{ns}/pods/{pod_name}/exec?{}",
        qs.join("&")
    );
    let (mut tx, mut rx) = connect(rest, path).await?.into_stream().split();
    let _raw = (a.tty && a.stdin).then(RawMode::enter);

    // stdin pump: channel 0, then a close of channel 0 (v5) at EOF.
    let stdin_task = a.stdin.then(|| {
        let (stx, mut srx) = tokio::sync::mpsc::channel::<Vec<u8>>(16);
        tokio::spawn(async move {
            let mut input = tokio::io::stdin();
            let mut buf = vec![0u8; 8192];
            loop {
                match input.read(&mut buf).await {
                    Ok(0) | Err(_) => {
                        let _ = stx.send(vec![255, 0]).await;
                        break;
                    }
                    Ok(n) => {
                        let mut m = Vec::with_capacity(n + 1);
                        m.push(0);
                        m.extend_from_slice(&buf[..n]);
                        if stx.send(m).await.is_err() {
                            break;
                        }
                    }
                }
            }
        });
        tokio::spawn(async move {
            while let Some(m) = srx.recv().await {
                if tx.send(Message::binary(m)).await.is_err() {
                    break;
                }
            }
        })
    });

    let mut code = 0;
    let mut stdout = std::io::stdout();
    let mut stderr = std::io::stderr();
    while let Some((chan, body)) = next_frame(&mut rx).await {
        let body = body.as_slice();
        match chan {
            1 => {
                stdout.write_all(body)?;
                stdout.flush()?;
            }
            2 => {
                stderr.write_all(body)?;
                stderr.flush()?;
            }
            3 => {
                let n = exit_code(body)?;
                if n != 0 {
                    drop(_raw);
                    eprintln!("command terminated with exit code {n}");
                    code = n;
                }
                break;
            }
            _ => {}
        }
    }
    if let Some(t) = stdin_task {
        t.abort();
    }
    Ok(code)
}

/// The next message of an exec stream as its channel and bytes; `None`
/// once the stream fails or closes.
async fn next_frame<S, E>(rx: &mut S) -> Option<(u8, Vec<u8>)>
where
    S: futures::Stream<Item = std::result::Result<Message, E>> + Unpin,
{
    while let Some(Ok(msg)) = rx.next().await {
        match msg {
            Message::Binary(b) => {
                if let Some((&chan, body)) = b.split_first() {
                    return Some((chan, body.to_vec()));
                }
            }
            Message::Close(_) => return None,
            _ => {}
        }
    }
    None
}

/// The remote command's exit code from the `Status` of channel 3: 0 for
/// `Success`, N for a `NonZeroExitCode` failure; any other failure (the
/// command could not start) is an error with the server's message.
fn exit_code(status: &[u8]) -> Result<i32> {
    let status: Value = serde_json::from_slice(status).unwrap_or(Value::Null);
    if status["status"] != "Failure" {
        return Ok(0);
    }
    let exit = status["details"]["causes"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["reason"] == "ExitCode")
        .and_then(|c| c["message"].as_str())
        .and_then(|m| m.parse::<i32>().ok());
    match exit {
        Some(n) if status["reason"] == "NonZeroExitCode" => Ok(n),
        _ => Err(Error::usage(
            status["message"]
                .as_str()
                .unwrap_or("exec failed")
                .to_string(),
        )),
    }
}

/// What a command run in a container (without a terminal) wrote, and how
/// it exited.
pub(crate) struct Ran {
    /// Its standard output.
    pub stdout: Vec<u8>,
    /// Its standard error.
    pub stderr: Vec<u8>,
    /// Its exit code.
    pub code: i32,
}

/// Runs `command` in `container` of pod `namespace/pod` with `input` as its
/// whole standard input (closed after it), collecting what it writes: the
/// exec stream as [`run`] uses it, for commands built on exec (`cp`).
pub(crate) async fn run_collect(
    rest: &Rest,
    namespace: &str,
    pod: &str,
    container: Option<&str>,
    command: &[&str],
    input: Option<Vec<u8>>,
) -> Result<Ran> {
    let mut qs = vec!["stdout=true".to_string(), "stderr=true".to_string()];
    if let Some(c) = container {
        qs.push(format!("container={}", q(c)));
    }
    if input.is_some() {
        qs.push("stdin=true".into());
    }
    for c in command {
        qs.push(format!("command={}", q(c)));
    }
    let path = format!(
        "/api/v1/namespaces/{}/pods/{}/exec?{}",
        q(namespace),
        q(pod),
        qs.join("&")
    );
    let (mut tx, mut rx) = connect(rest, path).await?.into_stream().split();
    let feeder = input.map(|data| {
        tokio::spawn(async move {
            for chunk in data.chunks(32 * 1024) {
                let mut m = Vec::with_capacity(chunk.len() + 1);
                m.push(0);
                m.extend_from_slice(chunk);
                if tx.send(Message::binary(m)).await.is_err() {
                    return;
                }
            }
            let _ = tx.send(Message::binary(vec![255, 0])).await;
        })
    });
    let mut ran = Ran {
        stdout: Vec::new(),
        stderr: Vec::new(),
        code: 0,
    };
    while let Some((chan, body)) = next_frame(&mut rx).await {
        match chan {
            1 => ran.stdout.extend_from_slice(&body),
            2 => ran.stderr.extend_from_slice(&body),
            3 => {
                ran.code = exit_code(&body)?;
                break;
            }
            _ => {}
        }
    }
    if let Some(f) = feeder {
        f.abort();
    }
    Ok(ran)
}
