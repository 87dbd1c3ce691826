//! `chaos`: kills a lab's components under load and checks that nothing was
//! lost (see `tests::chaos`). Run it through `hack/chaos.sh`, which starts
//! and removes the lab.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;

#[derive(Debug, Parser)]
#[command(about = "Kill -9 a lab's components in turn under load; check what survived")]
struct Flags {
    /// The lab's name (hack/local-up-cluster.sh --name).
    #[arg(long = "lab-name")]
    lab_name: String,
    /// The lab's directory (default /var/tmp/minik8s-NAME).
    #[arg(long = "lab-dir")]
    lab_dir: Option<PathBuf>,
    /// The repository root.
    #[arg(long = "repo", default_value = ".")]
    repo: PathBuf,
    /// How long faults are injected (`5m`, `90s`).
    #[arg(long = "duration", default_value = "5m", value_parser = component_base::duration::parse)]
    duration: Duration,
    /// Writes per second (creates and updates of ConfigMaps).
    #[arg(long = "writes-per-second", default_value_t = 20)]
    writes_per_second: u32,
    /// Raw watchers of the written ConfigMaps.
    #[arg(long = "watchers", default_value_t = 50)]
    watchers: usize,
    /// Nodes in the lab.
    #[arg(long = "nodes", default_value_t = 3)]
    nodes: usize,
    /// Seed of the fault schedule (default: from the clock).
    #[arg(long = "seed")]
    seed: Option<u64>,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(true) => std::process::ExitCode::SUCCESS,
        Ok(false) => std::process::ExitCode::FAILURE,
        Err(e) => {
            eprintln!("chaos: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}

async fn run() -> anyhow::Result<bool> {
    let flags = Flags::parse();
    let seed = flags.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    });
    let opts = ::tests::chaos::Options {
        lab_dir: flags
            .lab_dir
            .unwrap_or_else(|| PathBuf::from(format!("/var/tmp/minik8s-{}", flags.lab_name))),
        lab_name: flags.lab_name,
        repo: flags.repo.canonicalize().context("the repository root")?,
        duration: flags.duration,
        writes_per_second: flags.writes_per_second,
        watchers: flags.watchers,
        nodes: flags.nodes,
        seed,
    };
    let report = ::tests::chaos::run(opts).await?;
    println!();
    println!("{report}");
    if !report.passed() {
        println!("The chaos run found a problem (see the FAIL rows above).");
        return Ok(false);
    }
    println!("All checks passed.");
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn flags_are_well_formed() {
        Flags::command().debug_assert();
    }
}
