//! Bodies that keep a copy of what passes through them, and tell when they
//! are done: how the audit filter sees request and response objects
//! without reading a body ahead of its handler, and writes a long-running
//! answer's `ResponseComplete` only when the stream ends.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use axum::body::{Body, Bytes, HttpBody};
use hyper::body::Frame;

/// What a [`Tee`] saw: the bytes, or `None` once they passed the cap.
#[derive(Debug, Clone, Default)]
pub struct Captured(Arc<Mutex<Option<Vec<u8>>>>);

impl Captured {
    fn new() -> Captured {
        Captured(Arc::new(Mutex::new(Some(Vec::new()))))
    }

    fn push(&self, data: &[u8], cap: usize) {
        let mut slot = match self.0.lock() {
            Ok(s) => s,
            Err(p) => p.into_inner(),
        };
        let overflow = slot
            .as_ref()
            .is_some_and(|buf| buf.len() + data.len() > cap);
        if overflow {
            *slot = None;
        } else if let Some(buf) = slot.as_mut() {
            buf.extend_from_slice(data);
        }
    }

    /// The bytes seen, if they fit under the cap.
    pub fn bytes(&self) -> Option<Vec<u8>> {
        match self.0.lock() {
            Ok(s) => s.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }
}

type OnDrop = Box<dyn FnOnce() + Send>;

/// A body passing its frames on, copying up to `cap` bytes of data, and
/// calling `on_drop` when it is dropped (sent in full, or abandoned).
pub struct Tee {
    inner: Body,
    captured: Option<Captured>,
    cap: usize,
    on_drop: Option<OnDrop>,
}

impl Tee {
    /// Wraps `inner`; `cap` 0 copies nothing.
    pub fn new(inner: Body, cap: usize) -> (Tee, Captured) {
        let captured = Captured::new();
        let tee = Tee {
            inner,
            captured: (cap > 0).then(|| captured.clone()),
            cap,
            on_drop: None,
        };
        (tee, captured)
    }

    /// Calls `f` when the body is dropped.
    pub fn on_drop(mut self, f: impl FnOnce() + Send + 'static) -> Tee {
        self.on_drop = Some(Box::new(f));
        self
    }
}

impl Drop for Tee {
    fn drop(&mut self) {
        if let Some(f) = self.on_drop.take() {
            f();
        }
    }
}

impl HttpBody for Tee {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        if let (Poll::Ready(Some(Ok(frame))), Some(captured)) = (&polled, &this.captured) {
            if let Some(data) = frame.data_ref() {
                captured.push(data, this.cap);
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}
