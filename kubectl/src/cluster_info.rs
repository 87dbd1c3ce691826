//! `kubectl cluster-info`: where the control plane answers.

use crate::client::Rest;
use crate::error::Result;

/// Runs `kubectl cluster-info`.
pub async fn run(rest: &Rest) -> Result<i32> {
    // The same probe upstream makes: it fails (and prints) if the server is down.
    rest.get("/api").await?;
    // Upstream colours the words with ANSI escapes; we print the same bytes.
    println!(
        "\u{1b}[0;32mKubernetes control plane\u{1b}[0m is running at \u{1b}[0;33m{}\u{1b}[0m",
        rest.server
    );
    println!("\nTo further debug and diagnose cluster problems, use 'kubectl cluster-info dump'.");
    Ok(0)
}
