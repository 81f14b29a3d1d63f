//! Pod sysctls (`spec.securityContext.sysctls`): how a name is written, which kernel namespace
//! holds it, the set the kubelet allows without `--allowed-unsafe-sysctls`, and the patterns
//! that flag takes.
//!
//! The API server checks only the name and the host namespaces the pod shares; the kubelet
//! refuses the rest at admission (`SysctlForbidden`), which tandem does in `tandem-kubelet`.

/// The kubelet's safe sysctls (`pkg/kubelet/sysctl/safe_sysctls.go`): namespaced per pod and
/// isolated from other pods. All are in the kernels this runs on (the newest needs Linux 4.6).
pub const SAFE: &[&str] = &[
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
];

/// The most characters a sysctl name may have (`SysctlMaxLength`).
const MAX_LEN: usize = 253;

/// The kernel namespace a sysctl belongs to, where it is known to be namespaced at all
/// (component-helpers' `node/util/sysctl` `GetNamespace`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Namespace {
    Net,
    Ipc,
}

impl Namespace {
    /// As the kubelet's messages name it (`not allowed with host net enabled`).
    pub fn word(self) -> &'static str {
        match self {
            Namespace::Net => "net",
            Namespace::Ipc => "ipc",
        }
    }
}

/// The name with dots between its parts: a name whose first separator is `/` has its `.` and
/// `/` swapped (`net/ipv4/conf/eth0.100/forwarding` is `net.ipv4.conf.eth0/100.forwarding`), as
/// `ConvertSysctlVariableToDotsSeparator` reads it.
pub fn dotted(name: &str) -> String {
    match name.find(['.', '/']) {
        Some(i) if name.as_bytes()[i] == b'/' => name
            .chars()
            .map(|c| match c {
                '.' => '/',
                '/' => '.',
                c => c,
            })
            .collect(),
        _ => name.to_string(),
    }
}

/// Which namespace holds the sysctl `name` (dotted or not); `None` when it is not known to be
/// namespaced.
pub fn namespace_of(name: &str) -> Option<Namespace> {
    const IPC: &[&str] = &[
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
    ];
    let name = dotted(name);
    if name.starts_with("net.") {
        Some(Namespace::Net)
    } else if IPC.contains(&name.as_str()) || name.starts_with("fs.mqueue.") {
        Some(Namespace::Ipc)
    } else {
        None
    }
}

/// Why `pattern` cannot be one of the kubelet's `--allowed-unsafe-sysctls` (`NewAllowlist`): a
/// sysctl name, or a prefix ending in `*`, known to be namespaced (a sysctl of the host's own
/// namespaces would change the host for every pod).
pub fn pattern_problem(pattern: &str) -> Option<String> {
    let (name, prefixed) = match pattern.strip_suffix('*') {
        Some(prefix) => (prefix.trim_end_matches(['.', '/']), true),
        None => (pattern, false),
    };
    if let Some(problem) = name_problem(name) {
        return Some(format!("sysctl {pattern:?} {problem}"));
    }
    let namespaced = match prefixed {
        true => {
            let prefix = dotted(pattern.trim_end_matches('*'));
            ["net.", "kernel.shm", "kernel.msg", "fs.mqueue."]
                .iter()
                .any(|p| prefix.starts_with(p))
        }
        false => namespace_of(name).is_some(),
    };
    (!namespaced).then(|| format!("the sysctls {pattern:?} are not known to be namespaced"))
}

/// Whether `name` (dotted or not) is one of `patterns` or starts with a prefix of one ending in
/// `*` (the kubelet's `patternAllowlist`).
pub fn allowed_by(patterns: &[String], name: &str) -> bool {
    let name = dotted(name);
    patterns.iter().any(|p| match p.strip_suffix('*') {
        Some(prefix) => name.starts_with(&dotted(prefix)),
        None => dotted(p) == name,
    })
}

/// Why `name` is not a sysctl name the API server accepts (`IsValidSysctlName`): parts of
/// lower-case letters, digits, `-` and `_`, each beginning and ending with a letter or digit,
/// separated by `.` or `/`; at most 253 characters.
pub fn name_problem(name: &str) -> Option<String> {
    if name.len() > MAX_LEN {
        return Some(format!("must have at most {MAX_LEN} characters"));
    }
    let part_ok = |p: &str| {
        let edge =
            |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        edge(p.chars().next())
            && edge(p.chars().last())
            && p.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
    };
    match name.split(['.', '/']).all(part_ok) {
        true => None,
        false => Some(
            "must be parts of lower-case letters, digits, '-' and '_' separated by '.' or '/', each beginning and ending with a letter or digit (e.g. net.ipv4.tcp_syncookies)".into(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_read_with_either_separator() {
        assert_eq!(
            dotted("net/ipv4/conf/eth0.100/forwarding"),
            "net.ipv4.conf.eth0/100.forwarding"
        );
        assert_eq!(
            dotted("net.ipv4.conf.eth0/100.forwarding"),
            "net.ipv4.conf.eth0/100.forwarding"
        );
        assert_eq!(namespace_of("kernel/msgmax"), Some(Namespace::Ipc));
        assert_eq!(namespace_of("fs.mqueue.msg_max"), Some(Namespace::Ipc));
        assert_eq!(namespace_of("vm.max_map_count"), None);
        for ok in ["a", "a.b.c.d", "a-b", "a_b", "a/b.c", "abc.def"] {
            assert_eq!(name_problem(ok), None, "{ok}");
        }
        for bad in [
            "", "*", "a_", "_a", "a.", ".a", "a..b", "Abc", "/a", "a.b.*", "ä",
        ] {
            assert!(name_problem(bad).is_some(), "{bad}");
        }
        assert!(name_problem(&"a".repeat(254)).is_some());
    }

    /// `--allowed-unsafe-sysctls` as the kubelet reads it: names and prefixes of namespaced
    /// sysctls only, matched by name or prefix.
    #[test]
    fn unsafe_sysctls_are_allowed_by_namespaced_names_and_prefixes() {
        for ok in [
            "net.core.somaxconn",
            "net.*",
            "kernel.msg*",
            "kernel.shm*",
            "fs.mqueue.*",
            "kernel.sem",
            "net/ipv4/*",
        ] {
            assert_eq!(pattern_problem(ok), None, "{ok}");
        }
        assert_eq!(
            pattern_problem("vm.max_map_count"),
            Some("the sysctls \"vm.max_map_count\" are not known to be namespaced".into())
        );
        assert!(pattern_problem("kernel.*").is_some());
        assert!(pattern_problem("*").is_some());
        assert!(pattern_problem("Net.core").is_some());
        let allowed = ["net.core.*".to_string(), "kernel.msgmax".to_string()];
        assert!(allowed_by(&allowed, "net.core.somaxconn"));
        assert!(allowed_by(&allowed, "net/core/somaxconn"));
        assert!(allowed_by(&allowed, "kernel.msgmax"));
        assert!(!allowed_by(&allowed, "kernel.msgmnb"));
        assert!(!allowed_by(&allowed, "net.ipv4.tcp_rmem"));
    }
}
