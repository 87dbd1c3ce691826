//! Gives the crate a build id: a hash of its sources. The kubelet and the
//! small `container-runtime` helper binary both link this crate; the kubelet
//! execs the helper for its monitors and inits only when the helper answers
//! the same id, so a helper built from other sources (a stale binary next
//! to a rebuilt kubelet) is never mixed with it.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::Path;

fn hash_dir(dir: &Path, h: &mut DefaultHasher) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    paths.sort();
    for p in paths {
        if p.is_dir() {
            hash_dir(&p, h);
        } else if let Ok(bytes) = std::fs::read(&p) {
            p.strip_prefix(dir).unwrap_or(&p).hash(h);
            bytes.hash(h);
        }
    }
}

fn main() {
    let mut h = DefaultHasher::new();
    hash_dir(Path::new("src"), &mut h);
    if let Ok(manifest) = std::fs::read("Cargo.toml") {
        manifest.hash(&mut h);
    }
    println!("cargo:rustc-env=RUNTIME_BUILD_ID={:016x}", h.finish());
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=Cargo.toml");
}
