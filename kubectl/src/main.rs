//! The `kubectl` binary: parses upstream's command line and runs it.

use clap::Parser;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let cli = kubectl::cli::Cli::parse();
    let code = kubectl::run(cli).await;
    std::process::exit(code);
}
