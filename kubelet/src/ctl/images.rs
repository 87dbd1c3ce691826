//! `kubelet ctl images | pull | import | rmi`.

use super::table;
use container_runtime::cri::{AuthConfig, ImageService as _};
use container_runtime::images::Reference;
use container_runtime::Runtime;
use std::path::PathBuf;

/// `images` flags.
#[derive(Debug, clap::Args)]
pub struct ImagesArgs {
    /// Only print image ids.
    #[arg(short, long)]
    pub quiet: bool,
}

/// `pull` flags.
#[derive(Debug, clap::Args)]
pub struct PullArgs {
    /// Image reference, e.g. `127.0.0.1:5000/busybox:1.36`.
    pub image: String,
    /// Use `USERNAME[:PASSWORD]` for accessing the registry (as crictl).
    #[arg(long)]
    pub creds: Option<String>,
}

/// `import` flags.
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// OCI layout directory, or a `.tar` / `.tar.gz` of one.
    pub path: PathBuf,
    /// Name for the image(s); bare-tag ref names are appended as the tag.
    #[arg(long)]
    pub name: Option<String>,
    /// Import only the manifest with this `org.opencontainers.image.ref.name`.
    #[arg(long = "ref")]
    pub only: Option<String>,
}

/// `rmi` flags.
#[derive(Debug, clap::Args)]
pub struct RmiArgs {
    /// Images (reference or id prefix).
    #[arg(required_unless_present = "prune")]
    pub images: Vec<String>,
    /// Also remove every image no container uses (`--prune` alone is allowed).
    #[arg(long)]
    pub prune: bool,
}

pub(super) fn images(rt: &Runtime, a: &ImagesArgs) -> anyhow::Result<i32> {
    let list = rt.images().list()?;
    if a.quiet {
        for i in &list {
            outln!("{}", i.id);
        }
        return Ok(0);
    }
    let mut rows = Vec::new();
    for i in &list {
        let names: Vec<(String, String)> = if i.repo_tags.is_empty() {
            vec![("<none>".into(), "<none>".into())]
        } else {
            i.repo_tags
                .iter()
                .map(|t| match Reference::parse(t) {
                    Ok(r) => (r.name(), r.tag.unwrap_or_default()),
                    Err(_) => (t.clone(), String::new()),
                })
                .collect()
        };
        for (name, tag) in names {
            rows.push(vec![
                name,
                tag,
                i.short_id().to_string(),
                table::size(i.size),
            ]);
        }
    }
    out!(
        "{}",
        table::render(&["IMAGE", "TAG", "IMAGE ID", "SIZE"], &rows)
    );
    Ok(0)
}

pub(super) fn pull(rt: &Runtime, a: &PullArgs) -> anyhow::Result<i32> {
    let auth = a.creds.as_deref().map(|creds| {
        let (username, password) = creds.split_once(':').unwrap_or((creds, ""));
        AuthConfig {
            username: username.to_string(),
            password: password.to_string(),
        }
    });
    let img = rt.pull_image(&a.image, auth.as_ref())?;
    outln!("Image is up to date for {}", img.id);
    Ok(0)
}

pub(super) fn import(rt: &Runtime, a: &ImportArgs) -> anyhow::Result<i32> {
    let imported = rt
        .images()
        .import(&a.path, a.only.as_deref(), a.name.as_deref())?;
    for i in imported {
        let name = i
            .repo_tags
            .first()
            .cloned()
            .unwrap_or_else(|| "<none>".into());
        outln!("Imported {name} {}", i.id);
    }
    Ok(0)
}

pub(super) fn rmi(rt: &Runtime, a: &RmiArgs) -> anyhow::Result<i32> {
    let mut code = 0;
    for name in &a.images {
        match rt.remove_image(name) {
            Ok(img) => outln!("Deleted: {}", img.id),
            Err(e) => {
                eprintln!("kubelet ctl: {e}");
                code = 1;
            }
        }
    }
    if a.prune {
        let report = rt.gc_images(None)?;
        for id in report.images {
            outln!("Deleted: {id}");
        }
    }
    Ok(code)
}
