//! `container-runtime`: the runtime's helper processes and nothing else.
//!
//! A program that embeds the runtime points
//! [`Config::binary`](container_runtime::Config::binary) at a binary that
//! plays the helpers ([`container_runtime::helper`]); the kubelet uses
//! itself, and this binary is the runtime's own (its tests run it).

fn main() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    container_runtime::timing("main");
    let code = container_runtime::helper::dispatch(&args).unwrap_or_else(|| {
        eprintln!(
            "container-runtime: the container runtime's helper processes \
             (__launcher, __sandbox, __pause, __exec, __exec-child, __build-id); \
             the runtime starts them itself"
        );
        2
    });
    std::process::exit(code);
}
