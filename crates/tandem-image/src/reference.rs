//! Docker-style image references and their normalisation.
//!
//! `busybox` normalises to `docker.io/library/busybox:latest`; `user/app` to
//! `docker.io/user/app:latest`; a first component that contains `.` or `:`, is `localhost`, or
//! has an upper-case letter is a registry host and is kept as written (`localhost/foo:1`,
//! `registry.example.com:5000/team/app:v2`). A reference may end in `@sha256:<hex>`.

use std::fmt;
use std::str::FromStr;

use crate::digest::Digest;
use crate::error::{Error, Result};

/// The registry host assumed when a reference names none.
pub const DEFAULT_DOMAIN: &str = "docker.io";
/// The tag assumed when a reference has neither tag nor digest.
pub const DEFAULT_TAG: &str = "latest";

const MAX_NAME_LEN: usize = 255;
const MAX_TAG_LEN: usize = 128;

/// A parsed, normalised image reference: registry host, repository path, tag and/or digest.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reference {
    domain: String,
    path: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

impl Reference {
    /// Parses and normalises a reference.
    pub fn parse(input: &str) -> Result<Self> {
        let invalid = |reason: &str| Error::InvalidReference {
            reference: input.to_string(),
            reason: reason.to_string(),
        };
        if input.is_empty() {
            return Err(invalid("it is empty"));
        }
        let (name_tag, digest) = match input.split_once('@') {
            Some((name_tag, digest)) => {
                let digest = Digest::parse(digest).map_err(|e| invalid(&e.to_string()))?;
                (name_tag, Some(digest))
            }
            None => (input, None),
        };
        let last_slash = name_tag.rfind('/');
        let (name, tag) = match name_tag.rfind(':') {
            Some(i) if last_slash.is_none_or(|s| i > s) => {
                (&name_tag[..i], Some(&name_tag[i + 1..]))
            }
            _ => (name_tag, None),
        };
        if let Some(tag) = tag {
            if !valid_tag(tag) {
                return Err(invalid(
                    "the tag must be 1-128 characters of letters, digits, '_', '.' and '-', not starting with '.' or '-'",
                ));
            }
        }
        if name.is_empty() {
            return Err(invalid("the repository name is empty"));
        }
        let (domain, path) = match name.split_once('/') {
            Some((first, rest))
                if first.contains(['.', ':'])
                    || first == "localhost"
                    || first.chars().any(|c| c.is_ascii_uppercase()) =>
            {
                (first.to_string(), rest.to_string())
            }
            _ => (DEFAULT_DOMAIN.to_string(), name.to_string()),
        };
        let domain = if domain == "index.docker.io" {
            DEFAULT_DOMAIN.to_string()
        } else {
            domain
        };
        if !valid_domain(&domain) {
            return Err(invalid(
                "the registry host may only contain letters, digits, '.', '-', ':' and brackets",
            ));
        }
        let path = if domain == DEFAULT_DOMAIN && !path.contains('/') {
            format!("library/{path}")
        } else {
            path
        };
        if path.chars().any(|c| c.is_ascii_uppercase()) {
            return Err(invalid("repository names must be lowercase"));
        }
        if !path.split('/').all(valid_path_component) {
            return Err(invalid(
                "each repository path component must be lowercase letters and digits, separated by '.', '_', '__' or dashes",
            ));
        }
        if domain.len() + 1 + path.len() > MAX_NAME_LEN {
            return Err(invalid("the repository name is longer than 255 characters"));
        }
        let tag = match (tag, &digest) {
            (Some(t), _) => Some(t.to_string()),
            (None, None) => Some(DEFAULT_TAG.to_string()),
            (None, Some(_)) => None,
        };
        Ok(Reference {
            domain,
            path,
            tag,
            digest,
        })
    }

    /// The registry host, e.g. `docker.io` or `localhost`.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The repository path, e.g. `library/busybox`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The tag; `latest` when the input had neither tag nor digest.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest, when the input pinned one.
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// `domain/path`, without tag or digest.
    pub fn name(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.domain, self.path)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

impl FromStr for Reference {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Reference::parse(s)
    }
}

fn valid_tag(tag: &str) -> bool {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut chars = tag.chars();
    match chars.next() {
        Some(first) if word(first) => {}
        _ => return false,
    }
    tag.len() <= MAX_TAG_LEN && chars.all(|c| word(c) || c == '.' || c == '-')
}

fn valid_domain(domain: &str) -> bool {
    !domain.is_empty()
        && !domain.starts_with(['.', '-', ':'])
        && domain
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
fn valid_path_component(component: &str) -> bool {
    let bytes = component.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let mut i = 0;
    loop {
        // A run of alphanumerics.
        let start = i;
        while i < bytes.len() && alnum(bytes[i]) {
            i += 1;
        }
        if i == start {
            return false;
        }
        if i == bytes.len() {
            return true;
        }
        // A separator.
        let sep_start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let sep = &component[sep_start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|b| b == b'-');
        if !ok {
            return false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> String {
        Reference::parse(s).expect(s).to_string()
    }

    #[test]
    fn normalises_docker_hub_names() {
        assert_eq!(norm("busybox"), "docker.io/library/busybox:latest");
        assert_eq!(norm("busybox:1.36"), "docker.io/library/busybox:1.36");
        assert_eq!(norm("library/busybox"), "docker.io/library/busybox:latest");
        assert_eq!(
            norm("docker.io/busybox"),
            "docker.io/library/busybox:latest"
        );
        assert_eq!(
            norm("index.docker.io/library/busybox:x"),
            "docker.io/library/busybox:x"
        );
        assert_eq!(norm("user/app"), "docker.io/user/app:latest");
        assert_eq!(norm("a.b-c/e--f_g__h.i"), "a.b-c/e--f_g__h.i:latest");
        assert!(
            Reference::parse("a_b.c/x").is_err(),
            "no underscore in hosts"
        );
    }

    #[test]
    fn keeps_registry_hosts_as_written() {
        assert_eq!(norm("localhost/foo:1"), "localhost/foo:1");
        assert_eq!(norm("localhost:5000/foo"), "localhost:5000/foo:latest");
        assert_eq!(
            norm("registry.example.com/a/b/c:v2"),
            "registry.example.com/a/b/c:v2"
        );
        let r = Reference::parse("quay.io/team/app:v1").expect("valid");
        assert_eq!(r.domain(), "quay.io");
        assert_eq!(r.path(), "team/app");
        assert_eq!(r.tag(), Some("v1"));
        assert_eq!(r.name(), "quay.io/team/app");
        // "localhost" alone is a repository on Docker Hub, not a host.
        assert_eq!(norm("localhost"), "docker.io/library/localhost:latest");
    }

    #[test]
    fn parses_digests() {
        let hex = "a".repeat(64);
        let r = Reference::parse(&format!("busybox@sha256:{hex}")).expect("valid");
        assert_eq!(r.tag(), None);
        assert_eq!(r.digest().map(|d| d.hex().to_string()), Some(hex.clone()));
        assert_eq!(
            r.to_string(),
            format!("docker.io/library/busybox@sha256:{hex}")
        );
        assert_eq!(
            norm(&format!("localhost:5000/x:1@sha256:{hex}")),
            format!("localhost:5000/x:1@sha256:{hex}")
        );
    }

    #[test]
    fn rejects_invalid_references() {
        for bad in [
            "",
            "Busybox",
            "busybox:",
            "busybox:-x",
            "busybox@sha256:abc",
            "a//b",
            "a/-b",
            "a/b_",
            "a/b___c",
            ":tag",
            "localhost/UPPER",
            &format!("busybox:{}", "t".repeat(129)),
        ] {
            let err = Reference::parse(bad).expect_err(bad);
            assert_eq!(err.kind(), crate::ErrorKind::InvalidArgument, "{bad}");
            assert!(err.to_string().contains("invalid image reference"), "{err}");
        }
    }
}
