//! Name and path rules of the API server (apimachinery `validation`), returning the message to show.

pub(crate) const DNS1123_LABEL_MAX: usize = 63;
pub(crate) const DNS1123_SUBDOMAIN_MAX: usize = 253;

fn is_lower_alnum(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

fn is_label(s: &str) -> bool {
    !s.is_empty()
        && s.chars().all(|c| is_lower_alnum(c) || c == '-')
        && s.starts_with(is_lower_alnum)
        && s.ends_with(is_lower_alnum)
}

/// RFC 1123 label: container, volume, namespace names, `spec.hostname`.
pub fn dns1123_label(s: &str) -> Option<String> {
    if s.len() > DNS1123_LABEL_MAX {
        return Some(format!(
            "must be no more than {DNS1123_LABEL_MAX} characters (got {})",
            s.len()
        ));
    }
    if !is_label(s) {
        return Some(
            "must be a lowercase RFC 1123 label: lowercase letters, digits and '-', starting and \
             ending with a letter or digit (e.g. 'my-name' or '123-abc')"
                .into(),
        );
    }
    None
}

/// RFC 1035 label: Service names (each is a DNS name, so it starts with a letter).
pub(crate) fn dns1035_label(s: &str) -> Option<String> {
    if let Some(msg) = dns1123_label(s) {
        return Some(msg);
    }
    if !s.starts_with(|c: char| c.is_ascii_lowercase()) {
        return Some(
            "must be a lowercase RFC 1035 label: lowercase letters, digits and '-', starting \
             with a letter and ending with a letter or digit (e.g. 'my-name' or 'abc-123')"
                .into(),
        );
    }
    None
}

/// RFC 1123 subdomain: object names.
pub(crate) fn dns1123_subdomain(s: &str) -> Option<String> {
    if s.len() > DNS1123_SUBDOMAIN_MAX {
        return Some(format!(
            "must be no more than {DNS1123_SUBDOMAIN_MAX} characters (got {})",
            s.len()
        ));
    }
    if !s.split('.').all(is_label) {
        return Some(
            "must be a lowercase RFC 1123 subdomain: lowercase letters, digits, '-' and '.', \
             starting and ending with a letter or digit (e.g. 'example.com')"
                .into(),
        );
    }
    None
}

/// IANA_SVC_NAME: port names (at most 15 characters, lowercase letters, digits and '-', at least
/// one letter, no leading, trailing or double '-').
/// A name that is one segment of a URL path, as the API server's `ValidatePathSegmentName`
/// requires of RBAC objects: not `.` or `..`, no `/` or `%`.
pub(crate) fn path_segment(s: &str) -> Option<String> {
    if s == "." || s == ".." {
        return Some(format!("may not be {s:?}"));
    }
    ['/', '%']
        .into_iter()
        .find(|c| s.contains(*c))
        .map(|c| format!("may not contain {c:?}"))
}

pub(crate) fn iana_svc_name(s: &str) -> Option<String> {
    if s.is_empty() || s.len() > 15 {
        return Some("must be no more than 15 characters".into());
    }
    if !s.chars().all(|c| is_lower_alnum(c) || c == '-') {
        return Some("must contain only lowercase letters, digits and '-'".into());
    }
    if !s.chars().any(|c| c.is_ascii_lowercase()) {
        return Some("must contain at least one letter".into());
    }
    if s.contains("--") {
        return Some("must not contain consecutive hyphens".into());
    }
    if s.starts_with('-') || s.ends_with('-') {
        return Some("must not begin or end with a hyphen".into());
    }
    None
}

/// Environment variable names (RelaxedEnvironmentVariableValidation, GA in 1.34): any printable
/// ASCII character except '='.
pub(crate) fn env_var_name(s: &str) -> Option<String> {
    if s.is_empty() {
        return Some("must not be empty".into());
    }
    if !s.chars().all(|c| (' '..='~').contains(&c) && c != '=') {
        return Some("must consist of printable ASCII characters other than '='".into());
    }
    None
}

/// ConfigMap and Secret keys.
pub(crate) fn config_key(s: &str) -> Option<String> {
    if s.is_empty() || s.len() > DNS1123_SUBDOMAIN_MAX {
        return Some(format!("must be 1 to {DNS1123_SUBDOMAIN_MAX} characters"));
    }
    if !s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
    {
        return Some("must consist of alphanumeric characters, '-', '_' or '.'".into());
    }
    if s == "." || s == ".." || s.starts_with("..") {
        return Some("must not be '.' or '..' or start with '..'".into());
    }
    None
}

fn is_qualified_name_part(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
        && s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.ends_with(|c: char| c.is_ascii_alphanumeric())
}

/// Label and annotation keys: `[prefix/]name`.
pub(crate) fn qualified_name(s: &str) -> Option<String> {
    let (prefix, name) = match s.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, s),
    };
    if let Some(p) = prefix {
        if p.is_empty() || dns1123_subdomain(p).is_some() {
            return Some(format!(
                "prefix {p:?} must be a lowercase RFC 1123 subdomain (e.g. 'example.com')"
            ));
        }
    }
    if !is_qualified_name_part(name) {
        return Some(
            "name part must be at most 63 characters of alphanumerics, '-', '_' or '.', starting \
             and ending with an alphanumeric character (e.g. 'MyName' or 'my.name')"
                .into(),
        );
    }
    None
}

/// Label values: empty, or like the name part of a qualified name.
pub(crate) fn label_value(s: &str) -> Option<String> {
    if s.is_empty() || is_qualified_name_part(s) {
        None
    } else {
        Some(
            "must be empty or at most 63 characters of alphanumerics, '-', '_' or '.', starting \
             and ending with an alphanumeric character"
                .into(),
        )
    }
}

/// A relative path that stays inside its volume: not absolute, no `..` element.
pub(crate) fn local_descending_path(s: &str) -> Option<String> {
    if s.starts_with('/') {
        return Some("must be a relative path".into());
    }
    if s.split('/').any(|e| e == "..") {
        return Some("must not contain '..'".into());
    }
    None
}

/// A file path a volume's items may use: [`local_descending_path`], and not starting with
/// `..` (`..data` and its kin are the atomic writer's own; `validateLocalNonReservedPath`).
pub(crate) fn local_non_reserved_path(s: &str) -> Option<String> {
    local_descending_path(s).or_else(|| {
        s.starts_with("..")
            .then(|| "must not start with '..'".into())
    })
}

/// HTTP header field names as the API server takes them (`IsHTTPHeaderName`): letters, digits
/// and `-` only, narrower than RFC 7230's token (no `_`, which proxies drop).
pub(crate) fn http_header_name(s: &str) -> Option<String> {
    let ok = !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if ok {
        None
    } else {
        Some(
            "a valid HTTP header must consist of alphanumeric characters or '-' (e.g. \
             'X-Header-Name')"
                .into(),
        )
    }
}

/// The characters the API server's name generator draws from (no vowels, no look-alikes).
const GENERATED_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// A name for an object that gives only `metadata.generateName`, as the API server makes one
/// (`SimpleNameGenerator`): the base, cut to 58 bytes, and 5 characters of its alphabet, here
/// drawn from `seed` (random where names must differ, stable where a tool only reads).
pub fn generated(base: &str, seed: &str) -> String {
    let cut = (0..=base.len().min(58))
        .rev()
        .find(|i| base.is_char_boundary(*i))
        .unwrap_or(0);
    let mut h = seed.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    let mut name = base[..cut].to_string();
    for _ in 0..5 {
        let n = GENERATED_ALPHABET.len() as u64;
        name.push(char::from(GENERATED_ALPHABET[(h % n) as usize]));
        h /= n;
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_subdomains() {
        assert!(dns1123_label("web-1").is_none());
        assert!(dns1123_label("Web").is_some());
        assert!(dns1123_label("-web").is_some());
        assert!(dns1123_label("web.x").is_some());
        assert!(dns1123_label(&"a".repeat(64)).is_some());
        assert!(dns1123_subdomain("web.example.com").is_none());
        assert!(dns1123_subdomain("web_app").is_some());
        assert!(dns1123_subdomain("web..x").is_some());
        assert!(dns1123_subdomain(&"a".repeat(254)).is_some());
    }

    #[test]
    fn port_names_env_names_keys() {
        assert!(iana_svc_name("http").is_none());
        assert!(iana_svc_name("8080").is_some());
        assert!(iana_svc_name("my--port").is_some());
        assert!(iana_svc_name("averyveryverylongname").is_some());
        assert!(env_var_name("MY_VAR.1-x").is_none());
        assert!(env_var_name("A=B").is_some());
        assert!(env_var_name("").is_some());
        assert!(config_key("app.conf").is_none());
        assert!(config_key("a/b").is_some());
        assert!(config_key("..x").is_some());
        assert!(qualified_name("app.kubernetes.io/name").is_none());
        assert!(qualified_name("Bad Key").is_some());
        assert!(label_value("").is_none());
        assert!(label_value("a b").is_some());
        assert!(local_descending_path("a/b").is_none());
        assert!(local_descending_path("/a").is_some());
        assert!(local_descending_path("a/../b").is_some());
    }
}
