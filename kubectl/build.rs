//! Links the `kubectl` binary as a position-dependent executable on Linux:
//! a command-line tool pays its start-up on every invocation, and as a PIE
//! about 27,000 relocations are applied first (see `kubelet/build.rs`, which
//! does the same for `kubelet ctl`, and docs/benchmarks.md).
fn main() {
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
}
