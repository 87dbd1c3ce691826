//! The WebSocket "channel" protocol of exec and attach
//! (`v5.channel.k8s.io`, `v4.channel.k8s.io`, and the older `v3`, `v2` and
//! `channel.k8s.io`).
//!
//! One WebSocket carries several byte streams. Every binary message starts
//! with a channel number and the rest is that stream's data:
//!
//! | byte | stream | direction |
//! |---|---|---|
//! | 0 | stdin | client -> server |
//! | 1 | stdout | server -> client |
//! | 2 | stderr | server -> client |
//! | 3 | error: one `metav1.Status` JSON when the process ends | server -> client |
//! | 4 | resize: `{"Width":W,"Height":H}` for a TTY | client -> server |
//! | 255 | (v5) close: `[255, channel]` ends that channel, e.g. stdin EOF | both |
//!
//! From v4 on, the exit code travels in the error channel: `Success`, or
//! `Failure` with reason `NonZeroExitCode` and a cause
//! `{reason: ExitCode, message: "<n>"}`, which is how `kubectl exec` learns
//! the code it exits with. The older protocols write nothing there on
//! success and only the failure's message text otherwise (as upstream).
//!
//! [`Session::start`] splits a socket into an outgoing queue and demultiplexed
//! incoming streams, so the exec and attach handlers only see byte channels.

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::sync::Mutex;
use tokio::sync::mpsc;

/// Channel numbers.
pub const STDIN: u8 = 0;
/// Standard output.
pub const STDOUT: u8 = 1;
/// Standard error.
pub const STDERR: u8 = 2;
/// The final status.
pub const ERROR: u8 = 3;
/// Terminal size changes.
pub const RESIZE: u8 = 4;
/// v5: closes the channel named by the next byte.
pub const CLOSE: u8 = 255;

/// Subprotocols we speak, most preferred first.
pub const PROTOCOLS: [&str; 5] = [
    "v5.channel.k8s.io",
    "v4.channel.k8s.io",
    "v3.channel.k8s.io",
    "v2.channel.k8s.io",
    "channel.k8s.io",
];

/// Whether the negotiated subprotocol sends a Status on the error channel
/// (v4 and later) rather than only a failure's text. No subprotocol at all
/// is the oldest protocol.
fn writes_status(protocol: Option<&str>) -> bool {
    matches!(protocol, Some("v5.channel.k8s.io" | "v4.channel.k8s.io"))
}

/// The terminal size a client asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
pub struct TerminalSize {
    /// Columns.
    #[serde(rename = "Width")]
    pub width: u16,
    /// Rows.
    #[serde(rename = "Height")]
    pub height: u16,
}

/// The process ended with `code`: the error channel's Status.
pub fn exit_status(code: i32) -> Value {
    if code == 0 {
        return json!({"metadata": {}, "status": "Success"});
    }
    json!({
        "metadata": {},
        "status": "Failure",
        "message": format!("command terminated with non-zero exit code: exit status {code}"),
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]},
    })
}

/// The process could not run at all: an InternalError Status.
pub fn error_status(message: &str) -> Value {
    json!({
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": "InternalError",
        "details": {"causes": [{"message": message}]},
        "code": 500,
    })
}

/// One side of a running channel session.
pub struct Session {
    /// Queue of outgoing messages (already framed).
    out: mpsc::Sender<Message>,
    /// Data the client sent on stdin; closed at stdin EOF or disconnect.
    stdin: Mutex<Option<mpsc::Receiver<Bytes>>>,
    /// Terminal sizes the client sent.
    resize: Mutex<Option<mpsc::Receiver<TerminalSize>>>,
    /// Resolves when the client disconnected.
    pub gone: tokio::sync::watch::Receiver<bool>,
    /// The final status goes out as a Status JSON (v4+).
    status_json: bool,
}

impl Session {
    /// Splits `ws` into a writer task and a reader task.
    pub fn start(ws: WebSocket) -> Session {
        let status_json = writes_status(ws.protocol().and_then(|p| p.to_str().ok()));
        let (mut sink, mut stream) = ws.split();
        let (out_tx, mut out_rx) = mpsc::channel::<Message>(32);
        let (stdin_tx, stdin_rx) = mpsc::channel::<Bytes>(32);
        let (resize_tx, resize_rx) = mpsc::channel::<TerminalSize>(4);
        let (gone_tx, gone_rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            while let Some(m) = out_rx.recv().await {
                let closing = matches!(m, Message::Close(_));
                if sink.send(m).await.is_err() || closing {
                    break;
                }
            }
            let _ = sink.close().await;
        });
        tokio::spawn(async move {
            let mut stdin = Some(stdin_tx);
            while let Some(Ok(m)) = stream.next().await {
                let data = match m {
                    Message::Binary(b) => b,
                    // Older clients base64-encode on text frames; v4/v5 do not.
                    Message::Text(t) => Bytes::copy_from_slice(t.as_bytes()),
                    Message::Close(_) => break,
                    _ => continue,
                };
                let Some((&ch, rest)) = data.split_first() else {
                    continue;
                };
                match ch {
                    STDIN => {
                        if let Some(tx) = &stdin {
                            if !rest.is_empty() && tx.send(data.slice(1..)).await.is_err() {
                                stdin = None;
                            }
                        }
                    }
                    RESIZE => {
                        if let Ok(size) = serde_json::from_slice::<TerminalSize>(rest) {
                            let _ = resize_tx.try_send(size);
                        }
                    }
                    CLOSE if rest.first() == Some(&STDIN) => stdin = None,
                    _ => {}
                }
            }
            drop(stdin);
            let _ = gone_tx.send(true);
        });
        Session {
            out: out_tx,
            stdin: Mutex::new(Some(stdin_rx)),
            resize: Mutex::new(Some(resize_rx)),
            gone: gone_rx,
            status_json,
        }
    }

    /// The stdin stream (once: one feeder owns it).
    pub fn take_stdin(&self) -> Option<mpsc::Receiver<Bytes>> {
        self.stdin.lock().ok().and_then(|mut s| s.take())
    }

    /// The terminal size stream (once).
    pub fn take_resize(&self) -> Option<mpsc::Receiver<TerminalSize>> {
        self.resize.lock().ok().and_then(|mut s| s.take())
    }

    /// A sender for one output channel.
    pub fn writer(&self, channel: u8) -> ChannelWriter {
        ChannelWriter {
            channel,
            out: self.out.clone(),
        }
    }

    /// Sends the final status and closes the socket.
    pub async fn finish(&self, status: Value) {
        if self.status_json {
            let body = serde_json::to_vec(&status).unwrap_or_default();
            let _ = self.writer(ERROR).send(&body).await;
        } else if status["status"] != "Success" {
            let text = status["message"].as_str().unwrap_or_default();
            let _ = self.writer(ERROR).send(text.as_bytes()).await;
        }
        // A normal closure (1000): kubectl reads the error stream to EOF and
        // treats a close without a code as an error.
        let close = CloseFrame {
            code: axum::extract::ws::close_code::NORMAL,
            reason: "".into(),
        };
        let _ = self.out.send(Message::Close(Some(close))).await;
    }
}

/// The client of a stream is gone (its socket closed).
#[derive(Debug, thiserror::Error)]
#[error("the stream's client is gone")]
pub struct ClientGone;

/// Writes framed messages on one channel.
#[derive(Clone)]
pub struct ChannelWriter {
    channel: u8,
    out: mpsc::Sender<Message>,
}

impl ChannelWriter {
    fn frame(&self, data: &[u8]) -> Message {
        let mut framed = Vec::with_capacity(data.len() + 1);
        framed.push(self.channel);
        framed.extend_from_slice(data);
        Message::Binary(Bytes::from(framed))
    }

    /// Sends `data` on the channel.
    pub async fn send(&self, data: &[u8]) -> Result<(), ClientGone> {
        self.out
            .send(self.frame(data))
            .await
            .map_err(|_| ClientGone)
    }

    /// Blocking variant for threads.
    pub fn blocking_send(&self, data: &[u8]) -> Result<(), ClientGone> {
        self.out
            .blocking_send(self.frame(data))
            .map_err(|_| ClientGone)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_v4_and_later_send_a_status_json() {
        assert!(writes_status(Some("v5.channel.k8s.io")));
        assert!(writes_status(Some("v4.channel.k8s.io")));
        for old in ["v3.channel.k8s.io", "v2.channel.k8s.io", "channel.k8s.io"] {
            assert!(PROTOCOLS.contains(&old));
            assert!(!writes_status(Some(old)));
        }
        assert!(!writes_status(None));
    }

    #[test]
    fn exit_code_status_shape() {
        assert_eq!(exit_status(0)["status"], "Success");
        let s = exit_status(3);
        assert_eq!(s["status"], "Failure");
        assert_eq!(s["reason"], "NonZeroExitCode");
        assert_eq!(s["details"]["causes"][0]["reason"], "ExitCode");
        assert_eq!(s["details"]["causes"][0]["message"], "3");
    }

    #[test]
    fn resize_message() {
        let s: TerminalSize = serde_json::from_str(r#"{"Width":80,"Height":24}"#).unwrap();
        assert_eq!(
            s,
            TerminalSize {
                width: 80,
                height: 24
            }
        );
    }
}
