//! Static tokens, `--token-auth-file`: upstream's CSV, one token a line,
//! `token,user,uid[,"group1,group2"]`, read once at start.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::UserInfo;

/// Why the token file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// It cannot be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A line is not `token,user,uid[,groups]`.
    #[error("{path}:{line}: {message}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// The 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
}

/// The tokens of the file, by token.
#[derive(Debug, Default)]
pub struct TokenFile {
    users: HashMap<String, UserInfo>,
}

impl TokenFile {
    /// Reads and parses `path`.
    pub fn read(path: &Path) -> Result<TokenFile, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
            path: path.to_path_buf(),
            source,
        })?;
        TokenFile::parse(&text).map_err(|(line, message)| Error::Malformed {
            path: path.to_path_buf(),
            line,
            message,
        })
    }

    /// Parses the CSV text; an error carries the line number.
    pub fn parse(text: &str) -> Result<TokenFile, (usize, String)> {
        let mut users = HashMap::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let fields = split_csv(line).map_err(|m| (i + 1, m))?;
            if fields.len() < 3 {
                return Err((
                    i + 1,
                    format!(
                        "expected token,user,uid[,groups], got {} fields",
                        fields.len()
                    ),
                ));
            }
            if fields[0].is_empty() || fields[1].is_empty() {
                return Err((i + 1, "the token and the user must not be empty".into()));
            }
            let groups = fields
                .get(3)
                .map(|g| {
                    g.split(',')
                        .map(str::trim)
                        .filter(|g| !g.is_empty())
                        .map(String::from)
                        .collect()
                })
                .unwrap_or_default();
            let user = UserInfo {
                username: fields[1].clone(),
                uid: fields[2].clone(),
                groups,
                ..Default::default()
            };
            if users.insert(fields[0].clone(), user).is_some() {
                tracing::warn!(
                    line = i + 1,
                    "duplicate token in --token-auth-file; the last wins"
                );
            }
        }
        Ok(TokenFile { users })
    }

    /// The user a token belongs to.
    pub fn lookup(&self, token: &str) -> Option<UserInfo> {
        self.users.get(token).cloned()
    }
}

/// Splits one CSV line: fields by commas, double-quoted fields may hold
/// commas and `""` for a quote.
fn split_csv(line: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (false, '"') if field.is_empty() => quoted = true,
            (false, ',') => fields.push(std::mem::take(&mut field)),
            (_, c) => field.push(c),
        }
    }
    if quoted {
        return Err("unterminated quoted field".into());
    }
    fields.push(field);
    Ok(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_csv_with_quoted_groups() {
        let f = TokenFile::parse(
            "# comment\nt1,jane,u1,\"dev,ops\"\nt2,bob,u2\n\nt3,\"carol, jr\",u3,admins\n",
        )
        .expect("parses");
        let jane = f.lookup("t1").expect("jane");
        assert_eq!(jane.username, "jane");
        assert_eq!(jane.uid, "u1");
        assert_eq!(jane.groups, vec!["dev", "ops"]);
        assert!(f.lookup("t2").expect("bob").groups.is_empty());
        assert_eq!(f.lookup("t3").expect("carol").username, "carol, jr");
        assert!(f.lookup("nope").is_none());
    }

    #[test]
    fn malformed_lines_are_refused_with_their_number() {
        assert_eq!(
            TokenFile::parse("ok,u,1\nshort,u").err().map(|e| e.0),
            Some(2)
        );
        assert!(TokenFile::parse("t,\"u,1").is_err());
        assert!(TokenFile::parse(",u,1").is_err());
    }
}
