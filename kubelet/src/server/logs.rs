//! `GET /containerLogs/{ns}/{pod}/{container}`: a container's log as plain
//! text, what `kubectl logs` prints.
//!
//! The runtime's monitor writes every line the container prints into a CRI
//! log file (`/var/log/pods/<ns>_<pod>_<uid>/<container>/<attempt>.log`);
//! this handler reads it back through [`container_runtime::logs::read`] with the
//! query's options (`tailLines`, `sinceSeconds`/`sinceTime`, `timestamps`,
//! `limitBytes`) and, with `follow=true`, keeps the response open and streams
//! new lines until the container exits or the client goes away.
//!
//! The file is read on a blocking thread (the reader polls the file); lines
//! reach the HTTP body through a small channel, so a slow client slows the
//! reader instead of filling memory.

use std::path::PathBuf;

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use tokio::sync::mpsc;

use super::{find_container, find_sandbox, query_flag, query_get, query_pairs, Error};
use container_runtime::logs::Options;
use container_runtime::state::Status;
use container_runtime::Runtime;

/// What `kubectl logs` asked for.
#[derive(Debug, Clone, Default)]
pub struct LogRequest {
    /// Read the previous attempt's log.
    pub previous: bool,
    /// Reader options (tail, since, follow, timestamps).
    pub options: Options,
    /// Stop after this many bytes.
    pub limit_bytes: Option<u64>,
}

impl LogRequest {
    /// Reads the query parameters upstream's kubelet accepts.
    pub fn from_query(query: Option<&str>) -> Result<Self, Error> {
        let q = query_pairs(query);
        let number = |key: &str| -> Result<Option<i64>, Error> {
            query_get(&q, key)
                .map(|v| {
                    v.parse::<i64>()
                        .map_err(|_| Error::BadRequest(format!("{key}: invalid value {v:?}")))
                })
                .transpose()
        };
        let tail = match number("tailLines")? {
            Some(n) if n < 0 => None,
            Some(n) => Some(n as usize),
            None => None,
        };
        let mut since = match number("sinceSeconds")? {
            Some(s) if s <= 0 => {
                return Err(Error::BadRequest(
                    "sinceSeconds must be greater than 0".into(),
                ))
            }
            Some(s) => Some(chrono::Utc::now() - chrono::Duration::seconds(s)),
            None => None,
        };
        if let Some(t) = query_get(&q, "sinceTime") {
            let t = chrono::DateTime::parse_from_rfc3339(t)
                .map_err(|e| Error::BadRequest(format!("sinceTime {t:?}: {e}")))?;
            since = Some(t.with_timezone(&chrono::Utc));
        }
        let limit_bytes = match number("limitBytes")? {
            Some(n) if n <= 0 => {
                return Err(Error::BadRequest(
                    "limitBytes must be greater than 0".into(),
                ))
            }
            n => n.map(|n| n as u64),
        };
        Ok(LogRequest {
            previous: query_flag(&q, "previous"),
            options: Options {
                tail,
                since,
                follow: query_flag(&q, "follow"),
                timestamps: query_flag(&q, "timestamps"),
            },
            limit_bytes,
        })
    }
}

/// The handler.
pub async fn container_logs(
    State(st): State<super::State>,
    Path((ns, pod, container)): Path<(String, String, String)>,
    RawQuery(query): RawQuery,
) -> Result<Response, Error> {
    let req = LogRequest::from_query(query.as_deref())?;
    let (path, id) = log_source(&st.runtime, &ns, &pod, &container, req.previous)?;
    if !path.exists() {
        return Err(Error::NotFound(format!(
            "log of container \"{container}\" in pod {ns}/{pod} not found"
        )));
    }
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(16);
    let runtime = st.runtime.clone();
    tokio::task::spawn_blocking(move || stream_log(&runtime, &path, id.as_deref(), &req, tx));
    let body = Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx));
    Ok((
        [
            (http::header::CONTENT_TYPE, "text/plain"),
            (http::header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response())
}

/// The log file to read and, when following a live container, its id (the
/// reader stops once that container is no longer running).
pub fn log_source(
    runtime: &Runtime,
    ns: &str,
    pod: &str,
    container: &str,
    previous: bool,
) -> Result<(PathBuf, Option<String>), Error> {
    let sandbox = find_sandbox(runtime, ns, pod, None)?;
    if !previous {
        let c = find_container(runtime, &sandbox, container, false)?;
        return Ok((c.spec.log_path.clone(), Some(c.spec.id)));
    }
    match find_container(runtime, &sandbox, container, true) {
        Ok(c) => Ok((c.spec.log_path.clone(), None)),
        Err(e) => {
            // The previous attempt's record may be gone (removed) while its
            // log file, named after the attempt, is still there.
            let current = find_container(runtime, &sandbox, container, false)?;
            let attempt = current.spec.config.attempt;
            if attempt == 0 {
                return Err(e);
            }
            let mut path = current.spec.log_path.clone();
            path.set_file_name(format!("{}.log", attempt - 1));
            if path.exists() {
                Ok((path, None))
            } else {
                Err(e)
            }
        }
    }
}

/// Reads the log into `tx` (runs on a blocking thread).
pub fn stream_log(
    runtime: &Runtime,
    path: &std::path::Path,
    follow_id: Option<&str>,
    req: &LogRequest,
    tx: mpsc::Sender<Result<Bytes, std::io::Error>>,
) {
    let mut remaining = req.limit_bytes.unwrap_or(u64::MAX);
    let mut opts = req.options.clone();
    if follow_id.is_none() {
        opts.follow = false;
    }
    let check_tx = tx.clone();
    let mut done = || {
        check_tx.is_closed()
            || follow_id
                .map(|id| {
                    runtime
                        .container(id)
                        .map(|c| c.state.status != Status::Running)
                        .unwrap_or(true)
                })
                .unwrap_or(true)
    };
    let mut out = |_stream, data: &[u8]| {
        if remaining == 0 || tx.is_closed() {
            return;
        }
        let n = (data.len() as u64).min(remaining) as usize;
        remaining -= n as u64;
        // A closed channel means the client left; the reader stops at its
        // next quiet moment through `done`.
        let _ = tx.blocking_send(Ok(Bytes::copy_from_slice(&data[..n])));
    };
    if let Err(e) = container_runtime::logs::read(path, &opts, &mut done, &mut out) {
        let _ = tx.blocking_send(Err(e));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_options() {
        let r = LogRequest::from_query(Some(
            "follow=true&tailLines=5&timestamps=true&limitBytes=10&previous=false",
        ))
        .unwrap();
        assert!(r.options.follow && r.options.timestamps && !r.previous);
        assert_eq!(r.options.tail, Some(5));
        assert_eq!(r.limit_bytes, Some(10));
        let r = LogRequest::from_query(Some("sinceSeconds=60")).unwrap();
        let since = r.options.since.unwrap();
        assert!(chrono::Utc::now() - since >= chrono::Duration::seconds(59));
        assert!(LogRequest::from_query(Some("sinceSeconds=0")).is_err());
        assert!(LogRequest::from_query(Some("tailLines=x")).is_err());
        let r = LogRequest::from_query(Some("sinceTime=2024-01-01T00:00:00Z")).unwrap();
        assert_eq!(
            r.options.since.unwrap().to_rfc3339(),
            "2024-01-01T00:00:00+00:00"
        );
    }
}
