//! The errors every command can end with, and how upstream kubectl prints them.
//!
//! Upstream prints an API `Status` as `Error from server (Reason): message`,
//! an invalid object (422) as `The Kind "name" is invalid: field: message`
//! (one line per cause when there are several), and every other failure as
//! `error: message`; all of them exit with code 1. [`Error::render`] is that
//! mapping, so `main` only prints it.

use serde_json::Value;

/// Everything a command can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The apiserver answered with a non-2xx `Status`.
    #[error("{}", render_status(.status, .context.as_deref()))]
    Api {
        /// HTTP status code.
        code: u16,
        /// The `Status` object (or a synthesized one for non-JSON bodies).
        status: Value,
        /// Upstream's wrapping for manifests: `error when creating "f.yaml"`.
        context: Option<String>,
    },
    /// The server could not be reached.
    #[error(
        "The connection to the server {host} was refused - did you specify the right host or port?"
    )]
    Connection {
        /// `host:port` as upstream prints it.
        host: String,
    },
    /// Wrong usage or a local failure (printed with `error: `).
    #[error("error: {0}")]
    Usage(String),
    /// A message printed verbatim (already in upstream's shape).
    #[error("{0}")]
    Raw(String),
}

impl Error {
    /// A usage error (`error: ...`).
    pub fn usage(msg: impl Into<String>) -> Error {
        Error::Usage(msg.into())
    }

    /// The API status reason (`NotFound`, `AlreadyExists`, ...), if any.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Error::Api { status, .. } => status.get("reason").and_then(Value::as_str),
            _ => None,
        }
    }

    /// HTTP code of an API error.
    pub fn code(&self) -> Option<u16> {
        match self {
            Error::Api { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// True for a 404 from the server.
    pub fn is_not_found(&self) -> bool {
        self.code() == Some(404)
    }

    /// Adds upstream's manifest context (`error when creating "f.yaml"`).
    pub fn with_context(self, ctx: String) -> Error {
        match self {
            Error::Api { code, status, .. } => Error::Api {
                code,
                status,
                context: Some(ctx),
            },
            other => other,
        }
    }

    /// The text upstream prints on stderr (without the trailing newline).
    pub fn render(&self) -> String {
        self.to_string()
    }

    /// The form an error takes among several (upstream's aggregate): an
    /// invalid object prints as any other `Status`, without its causes list.
    pub fn render_standard(&self) -> String {
        match self {
            Error::Api {
                status, context, ..
            } => {
                let mut s = status.clone();
                if s["reason"] == "Invalid" {
                    if let Some(m) = s.as_object_mut() {
                        m.remove("details");
                    }
                    let reason = "Invalid";
                    let msg = s["message"].as_str().unwrap_or("");
                    return match context {
                        Some(c) => format!("Error from server ({reason}): {c}: {msg}"),
                        None => format!("Error from server ({reason}): {msg}"),
                    };
                }
                self.to_string()
            }
            other => other.to_string(),
        }
    }
}

/// Prints the errors a command collected, as upstream does (one error
/// alone in its full form, several each in the standard form); returns the
/// exit code.
pub fn report(errors: Vec<Error>) -> i32 {
    match errors.len() {
        0 => 0,
        1 => {
            eprintln!("{}", errors[0].render());
            1
        }
        _ => {
            for e in errors {
                eprintln!("{}", e.render_standard());
            }
            1
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Error {
        Error::Usage(e.to_string())
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Error {
        Error::Usage(e.to_string())
    }
}

/// Upstream's `StandardErrorMessage` for a `Status`, plus its 422 form.
fn render_status(status: &Value, context: Option<&str>) -> String {
    let reason = status.get("reason").and_then(Value::as_str).unwrap_or("");
    let message = status.get("message").and_then(Value::as_str).unwrap_or("");
    let details = status.get("details");
    if reason == "Invalid" {
        if let Some(d) = details {
            let kind = d.get("kind").and_then(Value::as_str).unwrap_or("");
            let name = d.get("name").and_then(Value::as_str).unwrap_or("");
            let mut head = "The request is invalid".to_string();
            if !kind.is_empty() || !name.is_empty() {
                head = format!("The {kind} {name:?} is invalid");
            }
            let causes: Vec<String> = d
                .get("causes")
                .and_then(Value::as_array)
                .map(|c| {
                    c.iter()
                        .map(|c| {
                            let field = c.get("field").and_then(Value::as_str).unwrap_or("");
                            let msg = c.get("message").and_then(Value::as_str).unwrap_or("");
                            format!("{field}: {msg}")
                        })
                        .collect()
                })
                .unwrap_or_default();
            return match causes.len() {
                0 => head,
                1 => format!("{head}: {}", causes[0]),
                _ => format!("{head}: \n* {}", causes.join("\n* ")),
            };
        }
    }
    let message = match context {
        Some(ctx) => format!("{ctx}: {message}"),
        None => message.to_string(),
    };
    if reason.is_empty() || reason == "Unknown" {
        format!("Error from server: {message}")
    } else {
        format!("Error from server ({reason}): {message}")
    }
}

/// Result alias for the library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn not_found_prints_like_upstream() {
        let e = Error::Api {
            code: 404,
            status: json!({"reason": "NotFound", "message": "pods \"x\" not found"}),
            context: None,
        };
        assert_eq!(
            e.render(),
            "Error from server (NotFound): pods \"x\" not found"
        );
    }

    #[test]
    fn invalid_lists_causes() {
        let status = json!({"reason": "Invalid", "message": "m", "details": {"kind": "Pod", "name": "p",
            "causes": [{"field": "spec.a", "message": "Required value"}, {"field": "spec.b", "message": "bad"}]}});
        let e = Error::Api {
            code: 422,
            status: status.clone(),
            context: None,
        };
        assert_eq!(
            e.render(),
            "The Pod \"p\" is invalid: \n* spec.a: Required value\n* spec.b: bad"
        );
        let mut one = status;
        one["details"]["causes"] = json!([{"field": "spec.a", "message": "Required value"}]);
        let e = Error::Api {
            code: 422,
            status: one,
            context: None,
        };
        assert_eq!(
            e.render(),
            "The Pod \"p\" is invalid: spec.a: Required value"
        );
    }
}
