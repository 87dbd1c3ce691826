//! `kubectl api-resources` and `kubectl api-versions`, from discovery.

use crate::cli::ApiResourcesArgs;
use crate::client::Rest;
use crate::discovery::Discovery;
use crate::error::Result;
use crate::printers::tabwriter::align;

/// Runs `kubectl api-resources`.
pub async fn run(rest: &Rest, a: ApiResourcesArgs) -> Result<i32> {
    let d = Discovery::load_with(rest, true).await?;
    let mut list: Vec<_> = d
        .resources
        .iter()
        .filter(|r| r.preferred && !r.plural.contains('/'))
        .filter(|r| a.namespaced.is_none_or(|n| n == r.namespaced))
        .filter(|r| a.api_group.as_deref().is_none_or(|g| g == r.group))
        .filter(|r| a.verbs.iter().all(|v| r.can(v)))
        .collect();
    // Upstream sorts by group, then by name.
    list.sort_by(|x, y| {
        (x.group.as_str(), x.plural.as_str()).cmp(&(y.group.as_str(), y.plural.as_str()))
    });
    if a.output.as_deref() == Some("name") {
        for r in list {
            println!("{}", r.group_resource());
        }
        return Ok(0);
    }
    let wide = a.output.as_deref() == Some("wide");
    let mut rows = Vec::new();
    if !a.no_headers {
        let mut h: Vec<String> = ["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"]
            .map(String::from)
            .to_vec();
        if wide {
            h.push("VERBS".into());
            h.push("CATEGORIES".into());
        }
        rows.push(h);
    }
    for r in list {
        let mut row = vec![
            r.plural.clone(),
            r.short_names.join(","),
            r.api_version(),
            r.namespaced.to_string(),
            r.kind.clone(),
        ];
        if wide {
            row.push(format!("[{}]", r.verbs.join(" ")));
            row.push(r.categories.join(","));
        }
        rows.push(row);
    }
    print!("{}", align(&rows));
    Ok(0)
}

/// Runs `kubectl api-versions`.
pub async fn versions(rest: &Rest) -> Result<i32> {
    let d = Discovery::load_with(rest, true).await?;
    let mut v = d.group_versions.clone();
    v.sort();
    for gv in v {
        println!("{gv}");
    }
    Ok(0)
}
