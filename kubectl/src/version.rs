//! `kubectl version`: our client version (the Kubernetes version whose
//! behaviour we follow) and the server's `/version`.

use serde_json::{json, Value};

use crate::cli::VersionArgs;
use crate::client::Rest;
use crate::error::{Error, Result};
use crate::kubeconfig::Flags;
use crate::printers::{json as pjson, yaml};

/// The client version we report (the upstream release whose output we match).
pub const CLIENT_VERSION: &str = "v1.36.0";

/// Runs `kubectl version`.
pub async fn run(flags: &Flags, a: VersionArgs) -> Result<i32> {
    let client = json!({
        "major": "1", "minor": "36", "gitVersion": CLIENT_VERSION,
        "gitCommit": "", "gitTreeState": "", "buildDate": "",
        "goVersion": "", "compiler": "rustc", "platform": format!("{}/{}", std::env::consts::OS, arch()),
    });
    let server: Option<std::result::Result<Value, Error>> = if a.client {
        None
    } else {
        let rest = Rest::connect(flags).await?;
        Some(rest.get("/version").await)
    };
    match a.output.as_deref() {
        Some(o @ ("yaml" | "json")) => {
            let mut doc = json!({"clientVersion": client});
            if let Some(Ok(s)) = &server {
                doc["serverVersion"] = s.clone();
            }
            print!(
                "{}",
                if o == "json" {
                    pjson::to_string(&doc)
                } else {
                    yaml::to_string(&doc)
                }
            );
        }
        Some(other) => {
            return Err(Error::usage(format!(
                "--output must be 'yaml' or 'json', got {other:?}"
            )));
        }
        None => {
            println!("Client Version: {CLIENT_VERSION}");
            if let Some(Ok(s)) = &server {
                println!("Server Version: {}", s["gitVersion"].as_str().unwrap_or(""));
            }
        }
    }
    match server {
        Some(Err(e)) => Err(e),
        _ => Ok(0),
    }
}

fn arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}
