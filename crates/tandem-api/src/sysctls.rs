//! Pod sysctls (`spec.securityContext.sysctls`): how a name is written, which kernel namespace
//! holds it, and the set the kubelet allows without `--allowed-unsafe-sysctls`.
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
}
