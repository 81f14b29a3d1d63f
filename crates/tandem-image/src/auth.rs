//! Registry credentials in the docker `config.json` format.
//!
//! The same document is used by `~/.docker/config.json`, podman's `auth.json` and the
//! `.dockerconfigjson` key of a Kubernetes `kubernetes.io/dockerconfigjson` Secret:
//!
//! ```json
//! { "auths": { "registry.example.com": { "auth": "base64(user:password)" } } }
//! ```
//!
//! An entry may also give `username` and `password` separately. Keys may be bare hosts
//! (`127.0.0.1:5000`), hosts with a path (`ghcr.io/org`), or URLs
//! (`https://index.docker.io/v1/`, the key `docker login` writes for Docker Hub). Credential
//! helpers (`credsStore`, `credHelpers`) are not run; an entry that only names one is ignored.
//!
//! Lookups go through [`Credentials`], an ordered list of such documents: the first document
//! with an entry for the registry wins (imagePullSecrets before the auth file, as the kubelet
//! does), and within one document the longest matching key wins.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::reference::DEFAULT_DOMAIN;

/// A user name and password for one registry.
#[derive(Clone, PartialEq, Eq)]
pub struct Login {
    pub username: String,
    pub password: String,
}

impl fmt::Debug for Login {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Login")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

#[derive(Debug, Default, Deserialize)]
struct ConfigJson {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
}

#[derive(Debug, Default, Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
}

/// One parsed credentials document: normalised key (`host[/path]`) → login.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuthFile {
    /// Where it came from, for messages (a path, or `imagePullSecret NAME`).
    pub source: String,
    entries: BTreeMap<String, Login>,
}

impl AuthFile {
    /// Parses a docker config.json document. `source` names it in errors.
    pub fn parse(bytes: &[u8], source: &str) -> Result<Self> {
        let invalid = |reason: String| Error::InvalidAuthFile {
            source_name: source.to_string(),
            reason,
        };
        let doc: ConfigJson = serde_json::from_slice(bytes).map_err(|e| invalid(e.to_string()))?;
        let mut entries = BTreeMap::new();
        for (key, entry) in doc.auths {
            let login = match (&entry.auth, &entry.username, &entry.password) {
                (Some(auth), _, _) if !auth.is_empty() => {
                    let decoded = base64::engine::general_purpose::STANDARD
                        .decode(auth.trim())
                        .map_err(|e| invalid(format!("the auth of {key:?} is not base64: {e}")))?;
                    let text = String::from_utf8(decoded).map_err(|_| {
                        invalid(format!("the auth of {key:?} is not UTF-8 user:password"))
                    })?;
                    let Some((user, pass)) = text.split_once(':') else {
                        return Err(invalid(format!(
                            "the auth of {key:?} does not decode to user:password"
                        )));
                    };
                    Login {
                        username: user.to_string(),
                        password: pass.to_string(),
                    }
                }
                (_, Some(user), Some(pass)) => Login {
                    username: user.clone(),
                    password: pass.clone(),
                },
                // Only a credential helper or an identity token: nothing usable here.
                _ => continue,
            };
            entries.insert(normalise_key(&key), login);
        }
        Ok(AuthFile {
            source: source.to_string(),
            entries,
        })
    }

    /// Reads and parses a file; a missing file is an empty document.
    pub fn read(path: &Path) -> Result<Self> {
        match std::fs::read(path) {
            Ok(bytes) => Self::parse(&bytes, &path.display().to_string()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(AuthFile {
                source: path.display().to_string(),
                entries: BTreeMap::new(),
            }),
            Err(e) => Err(Error::io("read the auth file", path, e)),
        }
    }

    /// The login for `host` and repository `path`: the longest key that is the host, or the
    /// host followed by a path prefix of the repository.
    pub fn find(&self, host: &str, path: &str) -> Option<&Login> {
        let host = normalise_host(host);
        let full = format!("{host}/{path}");
        self.entries
            .iter()
            .filter(|(k, _)| {
                *k == &host || (full.starts_with(k.as_str()) && full[k.len()..].starts_with('/'))
            })
            .max_by_key(|(k, _)| k.len())
            .map(|(_, l)| l)
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// `https://index.docker.io/v1/` → `docker.io`; `http://h:5000/x/` → `h:5000/x`.
fn normalise_key(key: &str) -> String {
    let k = key
        .trim()
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let k = k.trim_end_matches('/');
    let (host, path) = match k.split_once('/') {
        Some((h, p)) => (h, p),
        None => (k, ""),
    };
    let host = normalise_host(host);
    // Docker Hub's historical key carries the API version as a path.
    if host == DEFAULT_DOMAIN && (path.is_empty() || path == "v1" || path == "v2") {
        return host;
    }
    if path.is_empty() {
        host
    } else {
        format!("{host}/{path}")
    }
}

fn normalise_host(host: &str) -> String {
    match host {
        "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => {
            DEFAULT_DOMAIN.to_string()
        }
        h => h.to_string(),
    }
}

/// Credential documents in priority order.
#[derive(Clone, Debug, Default)]
pub struct Credentials {
    files: Vec<AuthFile>,
}

impl Credentials {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a document after those already present (it has lower priority).
    pub fn push(&mut self, file: AuthFile) {
        self.files.push(file);
    }

    /// The first login any document has for `host`/`path`.
    pub fn find(&self, host: &str, path: &str) -> Option<&Login> {
        self.files.iter().find_map(|f| f.find(host, path))
    }

    pub fn is_empty(&self) -> bool {
        self.files.iter().all(AuthFile::is_empty)
    }
}

/// The default auth file: `$REGISTRY_AUTH_FILE`, else `$DOCKER_CONFIG/config.json`, else
/// `~/.docker/config.json`.
pub fn default_auth_file() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("REGISTRY_AUTH_FILE").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    if let Some(d) = std::env::var_os("DOCKER_CONFIG").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(d).join("config.json"));
    }
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|h| PathBuf::from(h).join(".docker").join("config.json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    #[test]
    fn parses_auth_and_username_password_and_normalises_keys() {
        let doc = format!(
            r#"{{"auths":{{
                "https://index.docker.io/v1/":{{"auth":"{}"}},
                "127.0.0.1:5000":{{"username":"u","password":"p:w"}},
                "ghcr.io/org":{{"auth":"{}"}},
                "ghcr.io":{{"auth":"{}"}},
                "helper.example.com":{{}}
            }},"credsStore":"desktop"}}"#,
            b64("hub:secret"),
            b64("org:x"),
            b64("any:y")
        );
        let f = AuthFile::parse(doc.as_bytes(), "test").expect("parses");
        let hub = f.find("docker.io", "library/busybox").expect("hub");
        assert_eq!(
            (hub.username.as_str(), hub.password.as_str()),
            ("hub", "secret")
        );
        let local = f.find("127.0.0.1:5000", "x").expect("local");
        assert_eq!(local.password, "p:w");
        assert_eq!(f.find("ghcr.io", "org/app").expect("org").username, "org");
        assert_eq!(f.find("ghcr.io", "orgx/app").expect("host").username, "any");
        assert!(f.find("helper.example.com", "a").is_none());
        assert!(f.find("127.0.0.1:5001", "x").is_none());
        assert!(
            !format!("{local:?}").contains("p:w"),
            "passwords are not printed"
        );
    }

    #[test]
    fn refuses_malformed_documents() {
        for bad in [
            "not json",
            r#"{"auths":{"h":{"auth":"!!!"}}}"#,
            &format!(r#"{{"auths":{{"h":{{"auth":"{}"}}}}}}"#, b64("nocolon")),
        ] {
            let err = AuthFile::parse(bad.as_bytes(), "secret s").expect_err(bad);
            assert_eq!(err.kind(), crate::ErrorKind::InvalidArgument);
            assert!(err.to_string().contains("secret s"), "{err}");
        }
    }

    #[test]
    fn earlier_documents_win() {
        let a = AuthFile::parse(
            format!(r#"{{"auths":{{"r.io":{{"auth":"{}"}}}}}}"#, b64("a:1")).as_bytes(),
            "a",
        )
        .expect("a");
        let b = AuthFile::parse(
            format!(r#"{{"auths":{{"r.io":{{"auth":"{}"}}}}}}"#, b64("b:2")).as_bytes(),
            "b",
        )
        .expect("b");
        let mut c = Credentials::new();
        c.push(a);
        c.push(b);
        assert_eq!(c.find("r.io", "x").expect("login").username, "a");
    }
}
