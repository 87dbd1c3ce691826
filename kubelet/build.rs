//! Links the `kubelet` binary as a position-dependent executable on Linux.
//!
//! The kubelet is exec'd for every `kubelet ctl` command. As a PIE, the
//! dynamic loader first applies about 44,000 relocations to it, a
//! copy-on-write fault on each of the ~200 pages they touch: 1.67 ms per
//! start against 1.01 ms without (`perf stat kubelet --version`, see
//! docs/benchmarks.md). The code is still compiled position-independent;
//! only the final link places it at a fixed address, as Go links the
//! upstream components. Shared libraries, heap, stack and mappings stay
//! randomized.
fn main() {
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
}
