//! Links in pages answered through `pods/proxy`, `services/proxy` and
//! `nodes/proxy`. A page served by a pod links to `/static/app.css`; seen
//! through the apiserver it must link to
//! `/api/v1/namespaces/ns/pods/web:8080/proxy/static/app.css` instead, or the
//! browser would leave the proxy. Like upstream's proxy transport, the
//! apiserver rewrites absolute-path URLs in the link attributes of HTML
//! answers and in a redirect's `Location`; other answers (and compressed
//! HTML, which we do not unpack) pass through untouched.

use std::sync::OnceLock;

use regex::Regex;

/// The attributes holding URLs that upstream rewrites (`href`, `src`,
/// `action`, ...), whatever the element.
const ATTRIBUTES: &str =
    "href|src|action|cite|background|formaction|icon|longdesc|manifest|profile|usemap|classid|codebase|data|poster";

fn tag() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"<[^<>]+>").unwrap_or_else(|e| unreachable!("a fixed pattern: {e}"))
    })
}

fn attribute_url() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        // `attr="/path"` or `attr='/path'`; `//host` is not a path.
        Regex::new(&format!(
            r#"(?i)(\s(?:{ATTRIBUTES})\s*=\s*)(["'])(/[^/"'][^"']*|/)(["'])"#
        ))
        .unwrap_or_else(|e| unreachable!("a fixed pattern: {e}"))
    })
}

/// The proxy prefix of a request path: everything up to and including
/// `/{id}/proxy` (`/api/v1/namespaces/ns/pods/web:8080/proxy`).
pub fn prefix(path: &str, id: &str) -> Option<String> {
    let marker = format!("/{id}/proxy");
    path.find(&marker)
        .map(|i| path[..i + marker.len()].to_string())
}

fn prepend(prefix: &str, url: &str) -> String {
    if url.starts_with(prefix) {
        url.to_string()
    } else {
        format!("{prefix}{url}")
    }
}

/// `html` with every absolute-path link under `prefix`.
pub fn rewrite_html(html: &str, prefix: &str) -> String {
    tag()
        .replace_all(html, |t: &regex::Captures<'_>| {
            attribute_url()
                .replace_all(&t[0], |c: &regex::Captures<'_>| {
                    format!("{}{}{}{}", &c[1], &c[2], prepend(prefix, &c[3]), &c[4])
                })
                .into_owned()
        })
        .into_owned()
}

/// A redirect to an absolute path stays inside the proxy.
pub fn rewrite_location(location: &str, prefix: &str) -> Option<String> {
    (location.starts_with('/') && !location.starts_with("//")).then(|| prepend(prefix, location))
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: &str = "/api/v1/namespaces/ns/pods/web:1080/proxy";

    #[test]
    fn absolute_paths_in_link_attributes_go_through_the_proxy() {
        let page = r#"<a href="/rewriteme">test</a> <img SRC='/i.png' alt="/x"> <a href="https://example.com/a">x</a> <a href="rel/b">y</a> <script src="//cdn/x.js"></script> <form action="/post"><link rel=x href="/css" data="/d">"#;
        let got = rewrite_html(page, P);
        assert_eq!(
            got,
            format!(
                r#"<a href="{P}/rewriteme">test</a> <img SRC='{P}/i.png' alt="/x"> <a href="https://example.com/a">x</a> <a href="rel/b">y</a> <script src="//cdn/x.js"></script> <form action="{P}/post"><link rel=x href="{P}/css" data="{P}/d">"#
            )
        );
        // Twice is the same as once.
        assert_eq!(rewrite_html(&got, P), got);
    }

    #[test]
    fn prefixes_and_redirects() {
        assert_eq!(
            prefix("/api/v1/namespaces/ns/pods/web:1080/proxy/a/b", "web:1080").as_deref(),
            Some(P)
        );
        assert_eq!(prefix("/elsewhere", "web").as_deref(), None);
        assert_eq!(rewrite_location("/login", P), Some(format!("{P}/login")));
        assert_eq!(rewrite_location("https://x/login", P), None);
    }
}
