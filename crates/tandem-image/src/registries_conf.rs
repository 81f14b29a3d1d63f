//! Registry settings in the containers-registries.conf(5) format, the file podman, skopeo and
//! CRI-O read (`/etc/containers/registries.conf`).
//!
//! What tandem uses of it:
//!
//! ```toml
//! [[registry]]
//! prefix = "docker.io"            # optional; defaults to location
//! location = "127.0.0.1:5000"     # where images under the prefix really are
//! insecure = true                 # plain HTTP, or HTTPS without certificate checks
//! blocked = false                 # refuse every pull from it
//! [[registry.mirror]]             # tried in order before location, for pulls only
//! location = "mirror.example.com/hub"
//! insecure = false
//! ```
//!
//! and the version 1 tables `[registries.insecure] registries = [...]` and
//! `[registries.block] registries = [...]`. A `prefix` may start with `*.` to match every
//! subdomain. The entry with the longest prefix matching the image name (at a `/` boundary)
//! applies; its location and mirror locations replace that prefix. Other keys
//! (`unqualified-search-registries`, `short-name-mode`, aliases) are accepted and ignored:
//! tandem normalises short names to Docker Hub as Kubernetes does.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::reference::Reference;

/// Where tandem reads the file when no path is given.
pub const DEFAULT_REGISTRIES_CONF: &str = "/etc/containers/registries.conf";

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct FileV2 {
    #[serde(default)]
    registry: Vec<EntryV2>,
    #[serde(default)]
    registries: Option<V1Tables>,
}

#[derive(Debug, Default, Deserialize)]
struct EntryV2 {
    #[serde(default)]
    prefix: Option<String>,
    #[serde(default)]
    location: Option<String>,
    #[serde(default)]
    insecure: bool,
    #[serde(default)]
    blocked: bool,
    #[serde(default)]
    mirror: Vec<MirrorV2>,
}

#[derive(Debug, Default, Deserialize)]
struct MirrorV2 {
    location: String,
    #[serde(default)]
    insecure: bool,
}

#[derive(Debug, Default, Deserialize)]
struct V1Tables {
    #[serde(default)]
    insecure: Option<V1List>,
    #[serde(default)]
    block: Option<V1List>,
}

#[derive(Debug, Default, Deserialize)]
struct V1List {
    #[serde(default)]
    registries: Vec<String>,
}

/// One `[[registry]]` entry, normalised.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegistryEntry {
    pub prefix: String,
    pub location: String,
    pub insecure: bool,
    pub blocked: bool,
    pub mirrors: Vec<Mirror>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mirror {
    pub location: String,
    pub insecure: bool,
}

/// Where to reach one repository: a registry host and the repository path on it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// `host[:port]`.
    pub host: String,
    /// The repository path on that host.
    pub path: String,
    /// Plain HTTP, or HTTPS without certificate verification, is allowed.
    pub insecure: bool,
    /// A mirror (a failure there falls through to the next endpoint).
    pub mirror: bool,
}

/// The parsed file; empty when there is none.
#[derive(Clone, Debug, Default)]
pub struct RegistriesConf {
    path: Option<PathBuf>,
    entries: Vec<RegistryEntry>,
}

impl RegistriesConf {
    /// Reads `path`, which must exist; with `None`, [`DEFAULT_REGISTRIES_CONF`] when it exists.
    pub fn load(path: Option<&Path>) -> Result<Self> {
        let (path, required) = match path {
            Some(p) => (p.to_path_buf(), true),
            None => (PathBuf::from(DEFAULT_REGISTRIES_CONF), false),
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => Self::parse(&text, &path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => Ok(Self::default()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(Error::InvalidRegistriesConf {
                    path,
                    reason: "the file does not exist".to_string(),
                })
            }
            Err(e) => Err(Error::io("read", path, e)),
        }
    }

    /// Parses the text of a registries.conf; `path` names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        let invalid = |reason: String| Error::InvalidRegistriesConf {
            path: path.to_path_buf(),
            reason,
        };
        let file: FileV2 = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
        let mut entries = Vec::new();
        for e in file.registry {
            let location = e.location.map(|l| trim_location(&l));
            let prefix = e
                .prefix
                .map(|p| trim_location(&p))
                .or_else(|| location.clone())
                .filter(|p| !p.is_empty())
                .ok_or_else(|| {
                    invalid("a [[registry]] entry has neither prefix nor location".into())
                })?;
            let location = match location {
                Some(l) if !l.is_empty() => l,
                _ if prefix.starts_with("*.") => String::new(),
                _ => prefix.clone(),
            };
            let mirrors = e
                .mirror
                .into_iter()
                .map(|m| Mirror {
                    location: trim_location(&m.location),
                    insecure: m.insecure,
                })
                .collect();
            entries.push(RegistryEntry {
                prefix,
                location,
                insecure: e.insecure,
                blocked: e.blocked,
                mirrors,
            });
        }
        if let Some(v1) = file.registries {
            if !entries.is_empty() {
                return Err(invalid(
                    "it mixes version 1 [registries.*] tables with version 2 [[registry]] entries"
                        .into(),
                ));
            }
            let mut add = |host: &str, insecure: bool, blocked: bool| {
                let host = trim_location(host);
                match entries.iter_mut().find(|e| e.prefix == host) {
                    Some(e) => {
                        e.insecure |= insecure;
                        e.blocked |= blocked;
                    }
                    None => entries.push(RegistryEntry {
                        prefix: host.clone(),
                        location: host,
                        insecure,
                        blocked,
                        mirrors: vec![],
                    }),
                }
            };
            for h in v1.insecure.map(|l| l.registries).unwrap_or_default() {
                add(&h, true, false);
            }
            for h in v1.block.map(|l| l.registries).unwrap_or_default() {
                add(&h, false, true);
            }
        }
        Ok(RegistriesConf {
            path: Some(path.to_path_buf()),
            entries,
        })
    }

    /// The entries, as parsed.
    pub fn entries(&self) -> &[RegistryEntry] {
        &self.entries
    }

    /// The entry that applies to `name` (`host/path`), if any.
    fn entry_for(&self, name: &str) -> Option<&RegistryEntry> {
        let host = name.split('/').next().unwrap_or(name);
        self.entries
            .iter()
            .filter(|e| match e.prefix.strip_prefix("*.") {
                Some(suffix) => host.ends_with(&format!(".{suffix}")),
                None => {
                    name == e.prefix
                        || (name.starts_with(&e.prefix) && name[e.prefix.len()..].starts_with('/'))
                }
            })
            .max_by_key(|e| e.prefix.len())
    }

    /// Where to pull `reference` from, in order: mirrors (pulls only), then the location.
    /// `force_insecure` (`--tls-verify=false`) marks every endpoint insecure.
    pub fn endpoints(
        &self,
        reference: &Reference,
        for_push: bool,
        force_insecure: bool,
    ) -> Result<Vec<Endpoint>> {
        let name = reference.name();
        let Some(entry) = self.entry_for(&name) else {
            return Ok(vec![Endpoint {
                host: reference.domain().to_string(),
                path: reference.path().to_string(),
                insecure: force_insecure,
                mirror: false,
            }]);
        };
        if entry.blocked {
            return Err(Error::RegistryBlocked {
                registry: reference.domain().to_string(),
                path: self.path.clone().unwrap_or_default(),
            });
        }
        let rewrite = |location: &str| -> (String, String) {
            let new = if entry.prefix.starts_with("*.") || location.is_empty() {
                name.clone()
            } else {
                format!("{location}{}", &name[entry.prefix.len()..])
            };
            match new.split_once('/') {
                Some((h, p)) => (h.to_string(), p.to_string()),
                None => (new.clone(), String::new()),
            }
        };
        let mut out = Vec::new();
        if !for_push {
            for m in &entry.mirrors {
                let (host, path) = rewrite(&m.location);
                out.push(Endpoint {
                    host,
                    path,
                    insecure: m.insecure || force_insecure,
                    mirror: true,
                });
            }
        }
        let (host, path) = rewrite(&entry.location);
        out.push(Endpoint {
            host,
            path,
            insecure: entry.insecure || force_insecure,
            mirror: false,
        });
        Ok(out)
    }
}

fn trim_location(s: &str) -> String {
    s.trim()
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf(text: &str) -> RegistriesConf {
        RegistriesConf::parse(text, Path::new("test.conf")).expect("parses")
    }

    fn r(s: &str) -> Reference {
        Reference::parse(s).expect("reference")
    }

    #[test]
    fn unconfigured_registries_are_verified_and_direct() {
        let c = conf("unqualified-search-registries = [\"docker.io\"]\n");
        let eps = c.endpoints(&r("busybox"), false, false).expect("ok");
        assert_eq!(
            eps,
            vec![Endpoint {
                host: "docker.io".into(),
                path: "library/busybox".into(),
                insecure: false,
                mirror: false
            }]
        );
        let eps = c.endpoints(&r("busybox"), false, true).expect("ok");
        assert!(eps[0].insecure, "--tls-verify=false");
    }

    #[test]
    fn insecure_location_prefix_rewrite_and_mirrors() {
        let c = conf(
            r#"
[[registry]]
location = "127.0.0.1:5000"
insecure = true

[[registry]]
prefix = "docker.io"
location = "docker.io"
[[registry.mirror]]
location = "mirror.local:5000/hub"
insecure = true

[[registry]]
prefix = "example.com/team"
location = "internal.example.com/mirrored"

[[registry]]
prefix = "*.blocked.io"
blocked = true
"#,
        );
        let eps = c
            .endpoints(&r("127.0.0.1:5000/a/b:1"), false, false)
            .expect("ok");
        assert_eq!(eps.len(), 1);
        assert!(eps[0].insecure);
        assert_eq!(
            (eps[0].host.as_str(), eps[0].path.as_str()),
            ("127.0.0.1:5000", "a/b")
        );

        let eps = c.endpoints(&r("busybox"), false, false).expect("ok");
        assert_eq!(eps.len(), 2);
        assert_eq!(eps[0].host, "mirror.local:5000");
        assert_eq!(eps[0].path, "hub/library/busybox");
        assert!(eps[0].mirror && eps[0].insecure);
        assert_eq!(eps[1].host, "docker.io");
        assert!(!eps[1].insecure);
        let push = c.endpoints(&r("busybox"), true, false).expect("ok");
        assert_eq!(push.len(), 1, "mirrors are for pulls only");

        let eps = c
            .endpoints(&r("example.com/team/app:v1"), false, false)
            .expect("ok");
        assert_eq!(eps[0].host, "internal.example.com");
        assert_eq!(eps[0].path, "mirrored/app");
        // A prefix matches at a path boundary only.
        let eps = c
            .endpoints(&r("example.com/teamx/app"), false, false)
            .expect("ok");
        assert_eq!(eps[0].host, "example.com");

        let err = c
            .endpoints(&r("x.blocked.io/a"), false, false)
            .expect_err("blocked");
        assert!(err.to_string().contains("blocked"), "{err}");
    }

    #[test]
    fn version_1_tables() {
        let c = conf("[registries.insecure]\nregistries = ['localhost:5000']\n[registries.block]\nregistries = ['bad.io']\n");
        assert!(
            c.endpoints(&r("localhost:5000/x"), false, false)
                .expect("ok")[0]
                .insecure
        );
        assert!(c.endpoints(&r("bad.io/x"), false, false).is_err());
    }

    #[test]
    fn bad_files_are_explicit_errors() {
        for bad in [
            "[[registry]]\ninsecure = true\n",
            "[[registry]\n",
            "[[registry]]\nlocation = 5\n",
        ] {
            let err = RegistriesConf::parse(bad, Path::new("x.conf")).expect_err(bad);
            assert_eq!(err.kind(), crate::ErrorKind::InvalidArgument);
            assert!(err.to_string().contains("x.conf"), "{err}");
        }
        let err =
            RegistriesConf::load(Some(Path::new("/nonexistent/r.conf"))).expect_err("missing");
        assert!(err.to_string().contains("does not exist"), "{err}");
    }
}
