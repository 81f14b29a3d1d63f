//! tandem's `RuntimeDefault` seccomp profile: an allowlist with a default of `EPERM`. Pure data,
//! built for the container's capability bounding set.
//!
//! # Reasoning
//!
//! A container shares the host kernel, so every system call it may make is attack surface. The
//! profile allows what ordinary programs need (files, memory, processes and threads, signals,
//! time reading, sockets, System V / POSIX IPC — all of it either per-process or namespaced) and
//! answers everything else with `EPERM`, so a program probing for a feature sees "not permitted"
//! rather than being killed. The families left out, and why:
//!
//! * **Kernel code**: `init_module`, `finit_module`, `delete_module`, `kexec_load`,
//!   `kexec_file_load`, `reboot` — they load code into, replace or stop the host kernel. Only a
//!   container holding the matching capability (`SYS_MODULE`, `SYS_BOOT`) gets them.
//! * **Mounts and namespaces**: `mount`, `umount2`, `pivot_root`, the new mount API (`fsopen`,
//!   `fsmount`, `move_mount`, `open_tree`, `fspick`, `fsconfig`, `mount_setattr`), `unshare`,
//!   `setns`, `clone3` and `clone` with any `CLONE_NEW*` flag — allowed only with `SYS_ADMIN`. An
//!   unprivileged user namespace would hand the container a full capability set over new
//!   namespaces, reaching filesystem and netfilter code written for real root. `clone3` passes its
//!   flags in memory a filter cannot read, so without `SYS_ADMIN` it fails with `ENOSYS` and libc
//!   falls back to `clone`, whose flags are checked.
//! * **Kernel keyring**: `keyctl`, `add_key`, `request_key` — keys are not namespaced: they would
//!   expose the host's and other containers' keys.
//! * **Kernel tracing and BPF**: `bpf` (without `BPF`/`SYS_ADMIN`), `perf_event_open` (without
//!   `PERFMON`/`SYS_ADMIN`) — a large verifier and PMU surface, and host-wide observation.
//! * **Other processes' memory**: `process_vm_readv`, `process_vm_writev`, `kcmp`, `pidfd_getfd`
//!   (without `SYS_PTRACE`). `ptrace` itself stays allowed: the kernel's own access check plus
//!   the container's PID namespace keep it to the container's processes.
//! * **Host-global state**: setting the clock (`settimeofday`, `clock_settime`, `clock_adjtime`;
//!   `SYS_TIME`), `swapon`/`swapoff`, `acct`, `quotactl`, `syslog`, `vhangup`, `iopl`/`ioperm`,
//!   `lookup_dcookie`, `nfsservctl`, `_sysctl`, `ustat`, `sysfs`, `uselib`, `personality` other than
//!   the harmless values — none is namespaced.
//! * **Exploit helpers**: `open_by_handle_at` (opens any inode of a filesystem by handle, escaping
//!   a bind mount), `userfaultfd` (stalls the kernel at a chosen page fault, a race-widening
//!   primitive), `io_uring_*` (a second syscall interface with a long history of bugs and no
//!   seccomp filtering of its operations).
//! * NUMA placement of other processes (`mbind`, `set_mempolicy`, `move_pages`, `migrate_pages`)
//!   needs `SYS_NICE`.

use std::collections::HashSet;

use oci_spec::runtime::{
    Capability, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArgBuilder, LinuxSeccompBuilder,
    LinuxSeccompOperator, LinuxSyscall, LinuxSyscallBuilder,
};

const EPERM: u32 = 1;
const ENOSYS: u32 = 38;

/// Allowed for every container.
const ALWAYS: &[&str] = &[
    // File descriptors and file I/O.
    "read",
    "write",
    "readv",
    "writev",
    "pread64",
    "pwrite64",
    "preadv",
    "pwritev",
    "preadv2",
    "pwritev2",
    "lseek",
    "_llseek",
    "open",
    "openat",
    "openat2",
    "creat",
    "close",
    "close_range",
    "dup",
    "dup2",
    "dup3",
    "fcntl",
    "fcntl64",
    "flock",
    "fsync",
    "fdatasync",
    "sync",
    "syncfs",
    "sync_file_range",
    "truncate",
    "ftruncate",
    "truncate64",
    "ftruncate64",
    "fallocate",
    "fadvise64",
    "fadvise64_64",
    "readahead",
    "sendfile",
    "sendfile64",
    "splice",
    "tee",
    "vmsplice",
    "copy_file_range",
    "ioctl",
    "io_setup",
    "io_destroy",
    "io_submit",
    "io_cancel",
    "io_getevents",
    "io_pgetevents",
    "pipe",
    "pipe2",
    "eventfd",
    "eventfd2",
    "signalfd",
    "signalfd4",
    "timerfd_create",
    "timerfd_settime",
    "timerfd_gettime",
    "epoll_create",
    "epoll_create1",
    "epoll_ctl",
    "epoll_ctl_old",
    "epoll_wait",
    "epoll_wait_old",
    "epoll_pwait",
    "epoll_pwait2",
    "poll",
    "ppoll",
    "select",
    "_newselect",
    "pselect6",
    "inotify_init",
    "inotify_init1",
    "inotify_add_watch",
    "inotify_rm_watch",
    "memfd_create",
    // Names, metadata and directories.
    "stat",
    "fstat",
    "lstat",
    "stat64",
    "fstat64",
    "lstat64",
    "newfstatat",
    "fstatat64",
    "statx",
    "statfs",
    "fstatfs",
    "statfs64",
    "fstatfs64",
    "access",
    "faccessat",
    "faccessat2",
    "chmod",
    "fchmod",
    "fchmodat",
    "fchmodat2",
    "chown",
    "fchown",
    "lchown",
    "fchownat",
    "chown32",
    "fchown32",
    "lchown32",
    "utime",
    "utimes",
    "utimensat",
    "futimesat",
    "link",
    "linkat",
    "symlink",
    "symlinkat",
    "unlink",
    "unlinkat",
    "rename",
    "renameat",
    "renameat2",
    "mkdir",
    "mkdirat",
    "rmdir",
    "mknod",
    "mknodat",
    "readlink",
    "readlinkat",
    "getdents",
    "getdents64",
    "getcwd",
    "chdir",
    "fchdir",
    "chroot",
    "umask",
    "getxattr",
    "lgetxattr",
    "fgetxattr",
    "setxattr",
    "lsetxattr",
    "fsetxattr",
    "listxattr",
    "llistxattr",
    "flistxattr",
    "removexattr",
    "lremovexattr",
    "fremovexattr",
    "name_to_handle_at",
    "landlock_create_ruleset",
    "landlock_add_rule",
    "landlock_restrict_self",
    // Memory.
    "brk",
    "mmap",
    "mmap2",
    "munmap",
    "mremap",
    "mprotect",
    "madvise",
    "mlock",
    "mlock2",
    "munlock",
    "mlockall",
    "munlockall",
    "mincore",
    "msync",
    "membarrier",
    "remap_file_pages",
    "pkey_alloc",
    "pkey_free",
    "pkey_mprotect",
    "get_mempolicy",
    "map_shadow_stack",
    "mseal",
    // Processes, threads, credentials, scheduling.
    "fork",
    "vfork",
    "execve",
    "execveat",
    "exit",
    "exit_group",
    "wait4",
    "waitid",
    "waitpid",
    "getpid",
    "getppid",
    "gettid",
    "getpgid",
    "setpgid",
    "getpgrp",
    "getsid",
    "setsid",
    "getuid",
    "geteuid",
    "getgid",
    "getegid",
    "getuid32",
    "geteuid32",
    "getgid32",
    "getegid32",
    "getresuid",
    "getresgid",
    "getresuid32",
    "getresgid32",
    "setuid",
    "setgid",
    "setreuid",
    "setregid",
    "setresuid",
    "setresgid",
    "setfsuid",
    "setfsgid",
    "setuid32",
    "setgid32",
    "setreuid32",
    "setregid32",
    "setresuid32",
    "setresgid32",
    "setfsuid32",
    "setfsgid32",
    "getgroups",
    "getgroups32",
    "setgroups",
    "setgroups32",
    "capget",
    "capset",
    "prctl",
    "arch_prctl",
    "getrlimit",
    "ugetrlimit",
    "setrlimit",
    "prlimit64",
    "getrusage",
    "times",
    "sched_yield",
    "sched_getaffinity",
    "sched_setaffinity",
    "sched_getparam",
    "sched_setparam",
    "sched_getscheduler",
    "sched_setscheduler",
    "sched_get_priority_max",
    "sched_get_priority_min",
    "sched_rr_get_interval",
    "sched_rr_get_interval_time64",
    "sched_getattr",
    "sched_setattr",
    "getpriority",
    "setpriority",
    "ioprio_get",
    "ioprio_set",
    "set_tid_address",
    "set_robust_list",
    "get_robust_list",
    "futex",
    "futex_time64",
    "futex_waitv",
    "futex_wake",
    "futex_wait",
    "futex_requeue",
    "rseq",
    "restart_syscall",
    "seccomp",
    "getcpu",
    "uname",
    "sysinfo",
    "getrandom",
    "ptrace",
    "pidfd_open",
    "pidfd_send_signal",
    "process_mrelease",
    // Signals.
    "kill",
    "tkill",
    "tgkill",
    "rt_sigaction",
    "rt_sigprocmask",
    "rt_sigreturn",
    "rt_sigpending",
    "rt_sigsuspend",
    "rt_sigqueueinfo",
    "rt_tgsigqueueinfo",
    "rt_sigtimedwait",
    "rt_sigtimedwait_time64",
    "sigaltstack",
    "sigreturn",
    "sigaction",
    "signal",
    "sigprocmask",
    "sigpending",
    "sigsuspend",
    "pause",
    // Time (reading it, sleeping, timers).
    "time",
    "gettimeofday",
    "clock_gettime",
    "clock_gettime64",
    "clock_getres",
    "clock_getres_time64",
    "clock_nanosleep",
    "clock_nanosleep_time64",
    "nanosleep",
    "alarm",
    "getitimer",
    "setitimer",
    "timer_create",
    "timer_settime",
    "timer_settime64",
    "timer_gettime",
    "timer_gettime64",
    "timer_getoverrun",
    "timer_delete",
    "adjtimex",
    // IPC (namespaced with the pod).
    "shmget",
    "shmat",
    "shmdt",
    "shmctl",
    "semget",
    "semop",
    "semtimedop",
    "semtimedop_time64",
    "semctl",
    "msgget",
    "msgsnd",
    "msgrcv",
    "msgctl",
    "ipc",
    "mq_open",
    "mq_unlink",
    "mq_timedsend",
    "mq_timedsend_time64",
    "mq_timedreceive",
    "mq_timedreceive_time64",
    "mq_notify",
    "mq_getsetattr",
    // Sockets (the pod's network namespace).
    "socket",
    "socketpair",
    "bind",
    "listen",
    "accept",
    "accept4",
    "connect",
    "getsockname",
    "getpeername",
    "getsockopt",
    "setsockopt",
    "sendto",
    "recvfrom",
    "send",
    "recv",
    "sendmsg",
    "recvmsg",
    "sendmmsg",
    "recvmmsg",
    "recvmmsg_time64",
    "shutdown",
    "socketcall",
];

/// Allowed when the container's bounding set holds one of the capabilities.
const BY_CAPABILITY: &[(&[Capability], &[&str])] = &[
    (
        &[Capability::SysAdmin],
        &[
            "mount",
            "umount",
            "umount2",
            "pivot_root",
            "fsopen",
            "fsconfig",
            "fsmount",
            "fspick",
            "move_mount",
            "open_tree",
            "mount_setattr",
            "unshare",
            "setns",
            "clone3",
            "swapon",
            "swapoff",
            "quotactl",
            "quotactl_fd",
            "lookup_dcookie",
            "fanotify_init",
            "fanotify_mark",
            "sethostname",
            "setdomainname",
        ],
    ),
    (
        &[Capability::SysModule],
        &["init_module", "finit_module", "delete_module"],
    ),
    (
        &[Capability::SysBoot],
        &["reboot", "kexec_load", "kexec_file_load"],
    ),
    (
        &[Capability::SysTime],
        &[
            "settimeofday",
            "stime",
            "clock_settime",
            "clock_settime64",
            "clock_adjtime",
            "clock_adjtime64",
        ],
    ),
    (&[Capability::SysPacct], &["acct"]),
    (&[Capability::SysRawio], &["iopl", "ioperm"]),
    (&[Capability::SysTtyConfig], &["vhangup"]),
    (&[Capability::Syslog], &["syslog"]),
    (
        &[Capability::SysPtrace],
        &[
            "process_vm_readv",
            "process_vm_writev",
            "kcmp",
            "pidfd_getfd",
            "process_madvise",
        ],
    ),
    (
        &[Capability::SysNice],
        &[
            "mbind",
            "set_mempolicy",
            "set_mempolicy_home_node",
            "move_pages",
            "migrate_pages",
        ],
    ),
    (&[Capability::Bpf, Capability::SysAdmin], &["bpf"]),
    (
        &[Capability::Perfmon, Capability::SysAdmin],
        &["perf_event_open"],
    ),
];

/// Every `CLONE_NEW*` flag `clone` accepts (mount, cgroup, UTS, IPC, user, PID, network).
const CLONE_NAMESPACE_FLAGS: u64 =
    0x0002_0000 | 0x0200_0000 | 0x0400_0000 | 0x0800_0000 | 0x1000_0000 | 0x2000_0000 | 0x4000_0000;

/// `personality` values that change nothing security-relevant: PER_LINUX, PER_LINUX32, the
/// UNAME26 variants and the query value.
const SAFE_PERSONALITIES: &[u64] = &[0x0, 0x8, 0x20000, 0x20008, 0xffff_ffff];

fn allow(names: &[&str]) -> Result<LinuxSyscall, oci_spec::OciSpecError> {
    LinuxSyscallBuilder::default()
        .names(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        .action(LinuxSeccompAction::ScmpActAllow)
        .build()
}

/// The RuntimeDefault profile for a container whose capability bounding set is `caps`.
pub fn runtime_default(caps: &HashSet<Capability>) -> Result<LinuxSeccomp, oci_spec::OciSpecError> {
    let mut rules = vec![allow(ALWAYS)?];
    for (needs, names) in BY_CAPABILITY {
        if needs.iter().any(|c| caps.contains(c)) {
            rules.push(allow(names)?);
        }
    }
    for value in SAFE_PERSONALITIES {
        rules.push(
            LinuxSyscallBuilder::default()
                .names(vec!["personality".to_string()])
                .action(LinuxSeccompAction::ScmpActAllow)
                .args(vec![LinuxSeccompArgBuilder::default()
                    .index(0usize)
                    .value(*value)
                    .op(LinuxSeccompOperator::ScmpCmpEq)
                    .build()?])
                .build()?,
        );
    }
    if caps.contains(&Capability::SysAdmin) {
        rules.push(allow(&["clone"])?);
    } else {
        // libcontainer reads a masked comparison as (arg & value_two) == value.
        rules.push(
            LinuxSyscallBuilder::default()
                .names(vec!["clone".to_string()])
                .action(LinuxSeccompAction::ScmpActAllow)
                .args(vec![LinuxSeccompArgBuilder::default()
                    .index(0usize)
                    .value(0u64)
                    .value_two(CLONE_NAMESPACE_FLAGS)
                    .op(LinuxSeccompOperator::ScmpCmpMaskedEq)
                    .build()?])
                .build()?,
        );
        rules.push(
            LinuxSyscallBuilder::default()
                .names(vec!["clone3".to_string()])
                .action(LinuxSeccompAction::ScmpActErrno)
                .errno_ret(ENOSYS)
                .build()?,
        );
    }
    LinuxSeccompBuilder::default()
        .default_action(LinuxSeccompAction::ScmpActErrno)
        .default_errno_ret(EPERM)
        .syscalls(rules)
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(p: &LinuxSeccomp, name: &str) -> bool {
        p.syscalls().iter().flatten().any(|s| {
            s.action() == LinuxSeccompAction::ScmpActAllow
                && s.args().is_none()
                && s.names().iter().any(|n| n == name)
        })
    }

    #[test]
    fn dangerous_families_need_their_capability() {
        let default: HashSet<Capability> = crate::translate::DEFAULT_CAPABILITIES
            .iter()
            .copied()
            .collect();
        let p = runtime_default(&default).expect("profile");
        assert_eq!(p.default_action(), LinuxSeccompAction::ScmpActErrno);
        for name in ["read", "execve", "socket", "chroot", "ptrace"] {
            assert!(allowed(&p, name), "{name}");
        }
        for name in [
            "mount",
            "unshare",
            "setns",
            "init_module",
            "kexec_load",
            "keyctl",
            "add_key",
            "bpf",
            "perf_event_open",
            "open_by_handle_at",
            "userfaultfd",
            "io_uring_setup",
            "clock_settime",
            "process_vm_readv",
            "clone",
            "clone3",
        ] {
            assert!(
                !allowed(&p, name),
                "{name} must not be allowed unconditionally"
            );
        }
        let mut admin = default;
        admin.insert(Capability::SysAdmin);
        let p = runtime_default(&admin).expect("profile");
        for name in ["mount", "unshare", "clone", "clone3", "bpf"] {
            assert!(allowed(&p, name), "{name} with SYS_ADMIN");
        }
        assert!(!allowed(&p, "init_module") && !allowed(&p, "keyctl"));
    }
}
