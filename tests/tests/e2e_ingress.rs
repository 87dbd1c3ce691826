//! Ingress end to end on a real lab: the lab's default IngressClass
//! (`minik8s`, controller `minik8s.io/ingress`) is served by the ingress
//! proxy inside every kubelet (`kubelet/src/ingress/`) on the node's
//! address, ports 80 and 443. With the real kubectl the test applies two
//! Deployments behind two Services and an Ingress naming no class, and
//! from a fake host outside the cluster (its own network namespace on
//! the lab's switch) checks on every node's address: each hostname
//! reaches its app, a path of one host reaches the other app, a TLS host
//! answers with the certificate of the Secret that `spec.tls` names (curl
//! verifies it against that certificate, by SNI), the app sees
//! `X-Forwarded-*` from the proxy, an unknown host gets 404 and a Service
//! without ready endpoints 503. A malformed Ingress gets upstream's
//! messages. The controller-manager's ingress-status
//! controller gives the Ingress both nodes' addresses.

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

use tests::lab::{wait_until, ExternalHost, Lab};

/// A Deployment of two busybox httpd pods labelled `app: <name>`, serving
/// `/www` on port 8080 (`http`) once `setup` (shell) has filled it.
fn app(name: &str, setup: &str) -> String {
    let setup: String = setup.lines().map(|l| format!("          {l}\n")).collect();
    format!(
        r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
spec:
  replicas: 2
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      containers:
      - name: web
        image: busybox:1.36
        command:
        - sh
        - -c
        - |
{setup}          exec httpd -f -p 8080 -h /www
        ports:
        - {{containerPort: 8080, name: http}}
        readinessProbe:
          httpGet: {{path: /, port: http}}
          periodSeconds: 1
"#
    )
}

/// `alpha` serves its name at `/` and `/alpha/`, and the request headers
/// it got at `/cgi-bin/headers`.
const ALPHA_SETUP: &str = r#"mkdir -p /www/cgi-bin /www/alpha
echo alpha > /www/index.html
echo alpha > /www/alpha/index.html
printf '#!/bin/sh\nprintf "Content-Type: text/plain\\r\\n\\r\\n"\nenv | grep ^HTTP_\n' > /www/cgi-bin/headers
chmod +x /www/cgi-bin/headers"#;

/// `beta` serves its name at `/`.
const BETA_SETUP: &str = "mkdir -p /www && echo beta > /www/index.html";

/// The apps' Services (`alpha` on port 80, `beta` with the port named
/// `http`) and the Ingress routing to them.
const ROUTES: &str = r#"
apiVersion: v1
kind: Service
metadata:
  name: alpha
spec:
  selector: {app: alpha}
  ports:
  - {port: 80, targetPort: http}
---
apiVersion: v1
kind: Service
metadata:
  name: beta
spec:
  selector: {app: beta}
  ports:
  - {name: http, port: 8000, targetPort: http}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: routes
spec:
  tls:
  - hosts: [secure.example]
    secretName: secure-tls
  rules:
  - host: alpha.example
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: alpha, port: {number: 80}}}}
  - host: beta.example
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: beta, port: {name: http}}}}
      - {path: /alpha, pathType: Prefix, backend: {service: {name: alpha, port: {number: 80}}}}
  - host: secure.example
    http:
      paths:
      - {path: /, pathType: Exact, backend: {service: {name: beta, port: {name: http}}}}
"#;

/// An Ingress upstream refuses three times over.
const BAD: &str = r#"
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: bad
spec:
  rules:
  - host: 10.0.0.1
    http:
      paths:
      - {path: /, backend: {service: {name: alpha, port: {number: 80}}}}
      - {path: /a/../b, pathType: Prefix, backend: {service: {name: alpha, port: {number: 80}}}}
"#;

/// `curl` from the outside host; (HTTP status, body), or `None` when it
/// could not connect.
fn curl(host: &ExternalHost, args: &[&str]) -> Option<(u16, String)> {
    let mut cmd = vec!["curl", "-s", "-m", "5", "-w", "\n%{http_code}"];
    cmd.extend_from_slice(args);
    let out = host.run(&cmd);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n')?;
    let code: u16 = code.trim().parse().ok()?;
    (out.status.success() && code != 0).then(|| (code, body.trim().to_string()))
}

/// A plain HTTP request to `ip` for `host` and `path`.
fn get(ext: &ExternalHost, ip: &str, host: &str, path: &str) -> Option<(u16, String)> {
    curl(
        ext,
        &[
            "-H",
            &format!("Host: {host}"),
            &format!("http://{ip}{path}"),
        ],
    )
}

#[test]
fn an_ingress_routes_hosts_and_paths_on_every_node() {
    let Some(lab) = Lab::up("e2e-ingress", 2) else {
        return;
    };
    // The lab's class, default, ours.
    let classes = lab.kubectl_ok(&["get", "ingressclass"]);
    assert!(
        classes.contains("minik8s (default)") && classes.contains("minik8s.io/ingress"),
        "{classes}"
    );

    // The TLS Secret, from a self-signed certificate for secure.example.
    let pki = tempfile::tempdir().expect("temp dir");
    let (crt, key) = (pki.path().join("tls.crt"), pki.path().join("tls.key"));
    let made = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args(["-subj", "/CN=secure.example"])
        .args(["-addext", "subjectAltName=DNS:secure.example"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&crt)
        .output()
        .expect("openssl runs");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let (crt_s, key_s) = (crt.display().to_string(), key.display().to_string());
    lab.kubectl_ok(&[
        "create",
        "secret",
        "tls",
        "secure-tls",
        "--cert",
        &crt_s,
        "--key",
        &key_s,
    ]);

    // A malformed Ingress: 422 with upstream's messages.
    let mut apply = lab.kubectl_cmd(&["apply", "-f", "-"]);
    apply
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = apply.spawn().expect("kubectl runs");
    if let Some(mut stdin) = child.stdin.take() {
        use std::io::Write as _;
        stdin
            .write_all(BAD.as_bytes())
            .expect("kubectl reads the manifest");
    }
    let out = child.wait_with_output().expect("kubectl ends");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a malformed Ingress is refused");
    for want in [
        "The Ingress \"bad\" is invalid",
        "spec.rules[0].host: Invalid value: \"10.0.0.1\": must be a DNS name, not an IP address",
        "spec.rules[0].http.paths[0].pathType: Required value: pathType must be specified",
        "spec.rules[0].http.paths[1].path: Invalid value: \"/a/../b\": must not contain '/../'",
    ] {
        assert!(stderr.contains(want), "{want} in {stderr}");
    }

    lab.apply(&app("alpha", ALPHA_SETUP));
    lab.apply(&app("beta", BETA_SETUP));
    lab.apply(ROUTES);
    for d in ["alpha", "beta"] {
        lab.kubectl_ok(&[
            "rollout",
            "status",
            &format!("deployment/{d}"),
            "--timeout=180s",
        ]);
    }
    // DefaultIngressClass admission named the class.
    let ing = lab.get_json(&["ingress", "routes"]);
    assert_eq!(ing["spec"]["ingressClassName"], "minik8s", "{ing}");

    // The status: both nodes' addresses, as the real kubectl shows them.
    let node_ips: BTreeSet<String> = lab.get_json(&["nodes"])["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|n| {
            n["status"]["addresses"]
                .as_array()?
                .iter()
                .find(|a| a["type"] == "InternalIP")?["address"]
                .as_str()
                .map(String::from)
        })
        .collect();
    assert_eq!(node_ips.len(), 2);
    let listed = wait_until(Duration::from_secs(60), || {
        let ing = lab.get_json(&["ingress", "routes"]);
        let ips: BTreeSet<String> = ing["status"]["loadBalancer"]["ingress"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|i| i["ip"].as_str().map(String::from))
            .collect();
        (ips == node_ips).then_some(())
    });
    assert!(listed.is_some(), "the Ingress gets both nodes' addresses");
    let table = lab.kubectl_ok(&["get", "ingress", "routes"]);
    let joined: Vec<&str> = node_ips.iter().map(String::as_str).collect();
    assert!(table.contains(&joined.join(",")), "{table}");
    assert!(table.contains("80, 443"), "{table}");

    let ext = ExternalHost::start(&lab);
    for ip in &node_ips {
        // Each hostname reaches its app (the first request may race the
        // proxy's first sync of the new Ingress).
        let alpha = wait_until(Duration::from_secs(30), || {
            get(&ext, ip, "alpha.example", "/").filter(|(c, _)| *c == 200)
        });
        assert_eq!(
            alpha.map(|(_, b)| b).as_deref(),
            Some("alpha"),
            "alpha.example on {ip}"
        );
        assert_eq!(
            get(&ext, ip, "beta.example", "/"),
            Some((200, "beta".into())),
            "beta.example on {ip}"
        );
        // A path of beta.example goes to alpha (the longer prefix wins),
        // and the Host header's case and port do not matter.
        assert_eq!(
            get(&ext, ip, "Beta.Example:80", "/alpha/"),
            Some((200, "alpha".into())),
            "beta.example/alpha/ on {ip}"
        );
        // Nothing matches: 404.
        let missing = get(&ext, ip, "nothing.example", "/").map(|(c, _)| c);
        assert_eq!(missing, Some(404), "an unknown host on {ip}");
        // The app sees who asked, through which scheme and for which host.
        let (code, headers) = get(&ext, ip, "alpha.example", "/cgi-bin/headers").expect("headers");
        assert_eq!(code, 200);
        for want in [
            format!("HTTP_X_FORWARDED_FOR={}", ext.ip),
            "HTTP_X_FORWARDED_PROTO=http".to_string(),
            "HTTP_X_FORWARDED_HOST=alpha.example".to_string(),
            "HTTP_HOST=alpha.example".to_string(),
        ] {
            assert!(headers.lines().any(|l| l == want), "{want} in {headers}");
        }
        // TLS: curl checks the certificate against the Secret's, by SNI.
        let resolve = format!("secure.example:443:{ip}");
        let secure = wait_until(Duration::from_secs(30), || {
            curl(
                &ext,
                &[
                    "--cacert",
                    &crt_s,
                    "--resolve",
                    &resolve,
                    "https://secure.example/",
                ],
            )
        });
        assert_eq!(
            secure,
            Some((200, "beta".into())),
            "https://secure.example/ on {ip}"
        );
    }

    // Nodes read the TLS Secret our Ingress names, and no other Secret:
    // the Node authorizer's grant, not an RBAC grant on Secrets.
    lab.kubectl_ok(&[
        "create",
        "secret",
        "generic",
        "unrelated",
        "--from-literal=k=v",
    ]);
    for (what, want) in [
        ("get secret/secure-tls", "yes"),
        ("get secret/unrelated", "no"),
        ("list secrets", "no"),
        ("watch secrets", "no"),
    ] {
        let mut args = vec!["auth", "can-i"];
        args.extend(what.split(' '));
        args.extend(["--as=system:node:node-2", "--as-group=system:nodes"]);
        let (_, out, err) = lab.kubectl(&args);
        // "no" may carry the authorizer's reason after it.
        let answer = out.split_whitespace().next().unwrap_or("");
        assert_eq!(answer, want, "a node may {what}? {out}{err}");
    }

    // A Service without ready endpoints: 503 on every node.
    lab.kubectl_ok(&["scale", "deployment", "beta", "--replicas=0"]);
    for ip in &node_ips {
        let unavailable = wait_until(Duration::from_secs(60), || {
            get(&ext, ip, "beta.example", "/").filter(|(c, _)| *c == 503)
        });
        assert!(
            unavailable.is_some(),
            "beta.example without endpoints on {ip}"
        );
        assert_eq!(
            get(&ext, ip, "alpha.example", "/").map(|(c, _)| c),
            Some(200),
            "alpha.example still on {ip}"
        );
    }
}
