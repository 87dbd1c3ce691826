//! Resource quantities (`100m`, `1.5Gi`, `2e3`) as numbers: CPU in cores,
//! memory and storage in bytes. Shared by the apiserver's validation and the
//! kubelet's cgroup settings.

/// Parses a Kubernetes quantity (`100m`, `1.5Gi`, `2e3`) into a number.
pub fn parse(q: &str) -> Option<f64> {
    let q = q.trim();
    let split = q
        .find(|c: char| c.is_ascii_alphabetic() && c != 'e' && c != 'E')
        .unwrap_or(q.len());
    let (num, suffix) = q.split_at(split);
    let n: f64 = num.parse().ok()?;
    let mult = match suffix {
        "" => 1.0,
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024.0,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        _ => return None,
    };
    Some(n * mult)
}

/// CPU as millicores (`250m` -> 250, `1` -> 1000), rounded up as upstream.
pub fn millicores(q: &str) -> Option<u64> {
    parse(q)
        .filter(|v| *v >= 0.0)
        .map(|v| (v * 1000.0).ceil() as u64)
}

/// Bytes (`64Mi` -> 67108864), rounded up.
pub fn bytes(q: &str) -> Option<i64> {
    parse(q).filter(|v| *v >= 0.0).map(|v| v.ceil() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities() {
        assert_eq!(millicores("250m"), Some(250));
        assert_eq!(millicores("1.5"), Some(1500));
        assert_eq!(bytes("64Mi"), Some(64 << 20));
        assert_eq!(bytes("1G"), Some(1_000_000_000));
        assert_eq!(parse("2e3"), Some(2000.0));
        assert_eq!(parse("1x"), None);
        assert_eq!(millicores("-1"), None);
    }
}
