//! `kubeadm certs check-expiration` and `kubeadm certs renew`: when each
//! certificate of the PKI and each kubeconfig's client certificate
//! expires, and new ones signed by the same CAs (the CAs themselves are
//! not renewed, as upstream).

use std::path::Path;

use crate::paths::Paths;
use crate::{kubeconfig, pki};

/// The kubeconfigs whose certificates `certs` handles (kubelet.conf's is
/// the kubelet's to rotate).
pub const KUBECONFIGS: [&str; 4] = [
    "admin.conf",
    "super-admin.conf",
    "controller-manager.conf",
    "scheduler.conf",
];

/// Upstream's `HumanDuration`: `23h`, `364d`, `9y`.
pub fn human_duration(d: chrono::Duration) -> String {
    let s = d.num_seconds();
    if s < -1 {
        return "<invalid>".into();
    }
    if s < 0 {
        return "0s".into();
    }
    let (m, h) = (s / 60, s / 3600);
    if s < 120 {
        format!("{s}s")
    } else if m < 10 {
        format!("{m}m{}s", s % 60)
    } else if m < 180 {
        format!("{m}m")
    } else if h < 8 {
        format!("{h}h{}m", m % 60)
    } else if h < 48 {
        format!("{h}h")
    } else if h < 24 * 8 {
        format!("{}d{}h", h / 24, h % 24)
    } else if h < 24 * 365 * 2 {
        format!("{}d", h / 24)
    } else if h < 24 * 365 * 8 {
        format!("{}y{}d", h / 24 / 365, (h / 24) % 365)
    } else {
        format!("{}y", h / 24 / 365)
    }
}

/// Rows as columns separated by three spaces (Go's tabwriter, as
/// upstream's tables).
pub fn columns<const N: usize>(rows: &[[String; N]]) -> String {
    let mut widths = [0usize; N];
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == N {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<w$}   ", w = widths[i]));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn date(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%b %d, %Y %H:%M UTC").to_string()
}

/// `certs check-expiration`'s two tables.
pub fn check_expiration(
    paths: &Paths,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<String, pki::Error> {
    let pki_dir = paths.pki_dir();
    let mut rows = vec![[
        "CERTIFICATE".to_string(),
        "EXPIRES".into(),
        "RESIDUAL TIME".into(),
        "CERTIFICATE AUTHORITY".into(),
        "EXTERNALLY MANAGED".into(),
    ]];
    for file in KUBECONFIGS {
        let path = paths.kubeconfig(file);
        let Ok(parsed) = kubeconfig::read(&path) else {
            continue;
        };
        let Some(facts) = parsed
            .client_cert_pem
            .as_deref()
            .and_then(pki::first_der)
            .and_then(|d| pki::facts(&d))
        else {
            continue;
        };
        rows.push([
            file.into(),
            date(facts.not_after),
            human_duration(facts.not_after - now),
            "ca".into(),
            "no".into(),
        ]);
    }
    for leaf in pki::LEAVES {
        let path = pki_dir.join(format!("{}.crt", leaf.base));
        if !path.exists() {
            continue;
        }
        let facts = pki::facts_of_file(&path)?;
        rows.push([
            leaf.name.into(),
            date(facts.not_after),
            human_duration(facts.not_after - now),
            leaf.authority.name().into(),
            "no".into(),
        ]);
    }
    let mut cas = vec![[
        "CERTIFICATE AUTHORITY".to_string(),
        "EXPIRES".into(),
        "RESIDUAL TIME".into(),
        "EXTERNALLY MANAGED".into(),
    ]];
    for ca in pki::Authority::ALL {
        let path = pki_dir.join(format!("{}.crt", ca.base()));
        if !path.exists() {
            continue;
        }
        let facts = pki::facts_of_file(&path)?;
        cas.push([
            ca.name().into(),
            date(facts.not_after),
            human_duration(facts.not_after - now),
            "no".into(),
        ]);
    }
    Ok(format!("{}\n{}", columns(&rows), columns(&cas)))
}

/// The names `certs renew` takes besides `all`.
pub fn renewable() -> Vec<&'static str> {
    let mut names: Vec<&str> = KUBECONFIGS.to_vec();
    names.extend(pki::LEAVES.iter().map(|l| l.name));
    names
}

/// Renews `name` (one of [`renewable`], or `all`): a new key and
/// certificate with the same subject and names, signed by the same CA.
/// Returns upstream's line for each.
pub fn renew(paths: &Paths, name: &str) -> Result<Vec<String>, crate::Error> {
    let names = if name == "all" {
        renewable()
    } else if renewable().contains(&name) {
        vec![name]
    } else {
        return Err(pki::Error::Unknown(name.into()).into());
    };
    let pki_dir = paths.pki_dir();
    let mut said = Vec::new();
    for n in names {
        if let Some(spec) = kubeconfig::SPECS.iter().find(|s| s.file == n) {
            let path = paths.kubeconfig(n);
            let old = kubeconfig::read(&path)?;
            kubeconfig::write(&paths.kubernetes_dir(), &pki_dir, spec, "", &old.server)?;
            said.push(format!(
                "certificate embedded in the kubeconfig file for {} renewed",
                describe(n)
            ));
        } else if let Some(leaf) = pki::LEAVES.iter().find(|l| l.name == n) {
            let old = pki::facts_of_file(&pki_dir.join(format!("{}.crt", leaf.base)))?;
            renew_leaf(&pki_dir, leaf, &old)?;
            said.push(format!("certificate for {} renewed", describe(n)));
        }
    }
    Ok(said)
}

fn renew_leaf(pki_dir: &Path, leaf: &pki::Leaf, old: &pki::Facts) -> Result<(), pki::Error> {
    let ca = pki::Ca::load(pki_dir, leaf.authority)?;
    let pair = ca.sign(
        &old.common_name,
        &old.organizations,
        &old.sans,
        leaf.usage,
        pki::CERT_VALIDITY,
    )?;
    pki::write_file(
        &pki_dir.join(format!("{}.crt", leaf.base)),
        pair.cert_pem.as_bytes(),
        false,
    )?;
    pki::write_file(
        &pki_dir.join(format!("{}.key", leaf.base)),
        pair.key_pem.as_bytes(),
        true,
    )
}

/// Upstream's words for each certificate in `renew`'s output.
fn describe(name: &str) -> &'static str {
    match name {
        "admin.conf" => "the admin to use and for kubeadm itself",
        "super-admin.conf" => "the super-admin",
        "controller-manager.conf" => "the controller manager to use",
        "scheduler.conf" => "the scheduler manager to use",
        "apiserver" => "serving the Kubernetes API",
        "apiserver-kubelet-client" => "the API server to connect to kubelet",
        "front-proxy-client" => "the front proxy client",
        "etcd-server" => "serving etcd",
        "etcd-peer" => "etcd nodes to communicate with each other",
        "etcd-healthcheck-client" => "liveness probes to healthcheck etcd",
        "apiserver-etcd-client" => "the apiserver to access etcd",
        _ => "it",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_upstreams() {
        let h = chrono::Duration::hours;
        assert_eq!(human_duration(h(24) - chrono::Duration::seconds(3)), "23h");
        assert_eq!(human_duration(h(24 * 364)), "364d");
        assert_eq!(human_duration(h(24 * 3649)), "9y");
        assert_eq!(human_duration(chrono::Duration::seconds(-5)), "<invalid>");
    }

    #[test]
    fn renew_makes_a_new_certificate_with_the_same_names() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::new(dir.path());
        let id = pki::Identity {
            node_name: "cp".into(),
            advertise_address: "10.1.2.3".parse().unwrap(),
            service_ip: "10.96.0.1".parse().unwrap(),
            dns_domain: "cluster.local".into(),
            control_plane_host: None,
            extra_sans: vec![],
        };
        pki::write_all(&paths.pki_dir(), &id).unwrap();
        for spec in kubeconfig::SPECS {
            kubeconfig::write(
                &paths.kubernetes_dir(),
                &paths.pki_dir(),
                &spec,
                "cp",
                "https://10.1.2.3:6443",
            )
            .unwrap();
        }
        let crt = paths.pki_dir().join("apiserver.crt");
        let before = std::fs::read(&crt).unwrap();
        let said = renew(&paths, "all").unwrap();
        assert_eq!(said.len(), renewable().len());
        assert_ne!(before, std::fs::read(&crt).unwrap());
        let facts = pki::facts_of_file(&crt).unwrap();
        assert!(facts.sans.contains(&"10.1.2.3".to_string()));
        let admin = kubeconfig::read(&paths.kubeconfig("admin.conf")).unwrap();
        assert_eq!(admin.server, "https://10.1.2.3:6443");
        let table = check_expiration(&paths, chrono::Utc::now()).unwrap();
        assert!(table.contains("admin.conf"), "{table}");
        assert!(table.contains("etcd-ca"), "{table}");
        assert!(renew(&paths, "nope").is_err());
    }
}
