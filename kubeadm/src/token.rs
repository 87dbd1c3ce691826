//! `kubeadm token create|list|delete` on a control-plane node, with the
//! admin's kubeconfig (`--kubeconfig`, default `/etc/kubernetes/admin.conf`).
//! `create --print-join-command` prints the whole join line: the endpoint
//! and CA come from that kubeconfig.

use std::path::Path;

use crate::bootstraptoken::{self, Token};
use crate::{apiclient, discovery, init, kubeconfig, Error};

/// `token create`: creates `token` (or a new one) and returns what to
/// print: the token, or the join command.
pub async fn create(
    admin: &Path,
    token: Option<Token>,
    opts: &bootstraptoken::Options,
    print_join_command: bool,
) -> Result<String, Error> {
    let client = apiclient::from_file(admin).await?;
    let token = token.unwrap_or_else(Token::generate);
    bootstraptoken::create(&client, &token, opts).await?;
    if !print_join_command {
        return Ok(token.to_string());
    }
    let parsed = kubeconfig::read(admin)?;
    let endpoint = parsed
        .server
        .trim_start_matches("https://")
        .trim_end_matches('/')
        .to_string();
    let hash = discovery::ca_cert_hash(&parsed.ca_pem).ok_or_else(|| {
        Error::Preflight(format!(
            "{}: the cluster CA is not readable",
            admin.display()
        ))
    })?;
    Ok(init::join_command(&endpoint, &token, &hash, false))
}

/// `token list`.
pub async fn list(admin: &Path) -> Result<String, Error> {
    let client = apiclient::from_file(admin).await?;
    let tokens = bootstraptoken::list(&client).await?;
    Ok(bootstraptoken::table(&tokens, chrono::Utc::now()))
}

/// `token delete`: each deleted token's line, as upstream prints it.
pub async fn delete(admin: &Path, tokens: &[String]) -> Result<Vec<String>, Error> {
    let client = apiclient::from_file(admin).await?;
    let mut said = Vec::new();
    for t in tokens {
        let id = bootstraptoken::delete(&client, t).await?;
        said.push(format!("bootstrap token {id:?} deleted"));
    }
    Ok(said)
}
